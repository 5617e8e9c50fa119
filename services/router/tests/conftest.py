"""Router fixtures: a router on the test NATS with its gRPC API on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2_grpc
from omnihub.common import identity, subjects
from omnihub.common.bus import Bus, new_id, now_timestamp
from omnihub.common.config import ServiceSettings
from omnihub.common.identity import Actor, Credentials
from omnihub.common.service import ServiceContext
from omnihub.common.tombstones import Tombstones
from omnihub.router.app import Router, start_grpc
from omnihub.router.config import parse_routing_config
from omnihub.router.core import RouterCore
from omnihub.router.store import StateStore
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import barrier, read_events

CONFIG = """
version: 1
defaults:
  reservation_timeout_seconds: {webchat: 2, sms: 2, voice: 2, email: 2, telegram: 2}
  missed_offers_before_away: 2
queues:
  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 0}
  - {name: sales, skills: [{name: sales, min_level: 1}], wrap_up_seconds: 0}
agents:
  - {id: alice, skills: {support: 8, sales: 5}, queues: [support, sales]}
  - {id: bob, skills: {support: 5}, queues: [support]}
"""


CREDENTIALS = Credentials.generate()
OPERATOR = Actor("ops", "admin")  # tests not about roles act as an admin, who may act for any agent


def router_channel(port: int, actor: Actor | None = OPERATOR) -> grpc.aio.Channel:
    """A channel to a test router carrying the test credentials and `actor`."""
    return identity.channel(f"127.0.0.1:{port}", CREDENTIALS, identity.ROUTER_AUDIENCE, actor)


@dataclass
class RouterHarness:
    router: Router
    stub: routing_pb2_grpc.RouterAsyncStub
    bus: Bus
    port: int

    @property
    def core(self) -> RouterCore:
        return self.router.core


def inbound(source: str, text: str = "hi", channel: contact_pb2.Channel.ValueType = contact_pb2.CHANNEL_WEBCHAT,
            queue: str = "support", thread: str = "") -> messaging_pb2.InboundMessage:
    return messaging_pb2.InboundMessage(
        id=new_id("msg"), channel=channel, identity=contact_pb2.Identity(channel=channel, source_id=source),
        thread_key=thread or source, receive_time=now_timestamp(), provider_message_id=new_id("p"),
        routing_hints=messaging_pb2.RoutingHints(queue=queue), text=messaging_pb2.TextPayload(text=text))


async def publish(bus: Bus, msg: messaging_pb2.InboundMessage) -> None:
    await bus.publish(subjects.inbound(msg.channel), msg, msg_id=f"test:{msg.provider_message_id}")


async def events(bus: Bus, kind: str, count: int, timeout: float = 10.0,
                 until: Callable[[list[event_pb2.Event]], object] | None = None) -> list[event_pb2.Event]:
    """The first `count` events of one kind in the EVENTS stream, once that many are stored (and `until`
    holds, when given); fails after `timeout` seconds naming what it read."""
    return (await read_events(bus, kind, count=count, until=until, timeout=timeout))[:count]


async def processed(bus: Bus) -> None:
    """Wait until the router has processed every inbound message published so far (its consumer acked them)."""
    await barrier(bus, subjects.DURABLE_ROUTER, stream=subjects.STREAM_CONTACTS_IN)


async def make_router(bus: Bus, config: str = CONFIG) -> tuple[Router, grpc.aio.Server, int]:
    loaded = parse_routing_config(config)
    store = StateStore(bus)
    await store.open()
    router = Router(RouterCore(loaded, bus, store), bus, tick_seconds=0.1, erased=Tombstones(b"k" * 32))
    await router.activate()
    port = free_port()
    svc = ServiceContext("router", ServiceSettings(), contextlib.AsyncExitStack())
    server = await start_grpc(svc, router, port, CREDENTIALS)
    return router, server, port


@pytest.fixture
async def core(bus: Bus, request: pytest.FixtureRequest) -> AsyncIterator[RouterCore]:
    """A router (and its gRPC server) on the test module's CORE_CONFIG, for driving its core directly."""
    router, server, _ = await make_router(bus, request.module.CORE_CONFIG)
    yield router.core
    await server.stop(0)
    await router.deactivate()


def fake_clock(core: RouterCore, start: float = 1_000.0) -> list[float]:
    """Drive the core's clock by hand: advance `now[0]`, then `await core.tick()`."""
    now = [start]
    core.clock = lambda: now[0]
    return now


@pytest.fixture
async def harness(bus: Bus) -> AsyncIterator[RouterHarness]:
    router, server, port = await make_router(bus)
    channel = router_channel(port)
    yield RouterHarness(router, routing_pb2_grpc.RouterStub(channel), bus, port)
    await channel.close(None)
    await server.stop(0)
    await router.deactivate()
