"""Router service wiring: NATS intake, timers, gRPC API, queue-stats replies and HTTP health."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web

from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import privacy, subjects, tombstones
from omnihub.common.bus import Bus, Delivery
from omnihub.common.config import bind_address, load_settings
from omnihub.common.grpcserver import new_server
from omnihub.common.health import add_grpc_health, install_health
from omnihub.common.identity import ROUTER_AUDIENCE, Credentials, GrpcIdentity
from omnihub.common.leader import LeaderLease
from omnihub.common.service import ServiceContext, service_context
from omnihub.common.service import run as run_main
from omnihub.common.tombstones import Tombstones
from omnihub.router.config import RouterSettings, load_routing_config
from omnihub.router.core import RouterCore, log
from omnihub.router.servicer import RouterServicer
from omnihub.router.store import StateStore


class Router:
    """The running router: `activate()` to route (on election), `deactivate()` to stand by."""

    def __init__(self, core: RouterCore, bus: Bus, tick_seconds: float,
                 make_core: Callable[[], RouterCore] | None = None, erased: Tombstones | None = None) -> None:
        self.core = core
        self.erased = erased  # applied before erasing: nothing of the customer is routed again
        self.make_core = make_core
        self.bus = bus
        self.tick_seconds = tick_seconds
        self.is_active = False
        self._consumer: object | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._stats_sub: object | None = None
        self._privacy_sub: object | None = None  # only the leader answers erasures: standbys' state is stale

    async def activate(self) -> None:
        """Load state and start consuming, ticking and answering queue-stats requests."""
        if self.make_core is not None:
            self.core = self.make_core()  # fresh state from KV on every election
        await self.core.restore()
        self.is_active = True

        async def handle(batch: list[Delivery[messaging_pb2.InboundMessage]]) -> None:
            await self.core.intake([d.message for d in batch])

        self._consumer = await self.bus.consume(
            stream=subjects.STREAM_CONTACTS_IN, durable=subjects.DURABLE_ROUTER,
            subjects=[subjects.INBOUND_ALL], message_type=messaging_pb2.InboundMessage,
            batch_handler=handle, max_deliver=10, ack_wait=10.0, batch=64, prefetch=True,
            fast_fetch=True, pipeline=8)  # later batches are routed while earlier ones are written

        async def answer(msg: object) -> None:
            req = routing_pb2.GetQueueStatsRequest.FromString(msg.data)  # type: ignore[attr-defined]
            await msg.respond(self.core.queue_stats(req).SerializeToString())  # type: ignore[attr-defined]

        self._stats_sub = await self.bus.nc.subscribe(
            subjects.QUEUE_STATS_REQUEST, queue="router", cb=answer)
        self._ticker = asyncio.get_running_loop().create_task(self._tick_loop())

        async def erase(body: dict[str, Any]) -> dict[str, Any]:
            customer_id = str(body["customer_id"])
            tomb = body.get("tombstone") if isinstance(body.get("tombstone"), dict) else None
            if self.erased is not None and tomb is not None:
                self.erased.add(tomb)
                await privacy.settle(self.bus)  # inbound messages already in a batch are routed first
            merged = self.core.customers.merged_with(customer_id)
            conversations = self.core.customers.conversations_of(merged)
            removed = await self.core.erase_customer(customer_id)
            if self.erased is not None and tomb is not None and (merged - {customer_id} or conversations):
                # The router alone knows every conversation and merged-away id: the tombstone gains them.
                await tombstones.put(self.bus, self.erased, {
                    **tomb, "aliases": sorted(merged - {customer_id}),
                    "conversations": sorted(set(tomb.get("conversations", [])) | conversations)})
            return {"removed": removed}

        self._privacy_sub = await self.bus.nc.subscribe(privacy.ERASE, queue="router",
                                                        cb=privacy.responder("router", privacy.ERASE, erase))

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.core.tick()
            except Exception as exc:  # a bad tick must not stop routing
                log.error("router.tick_failed", error=repr(exc))

    async def deactivate(self) -> None:
        """Stop routing (shutdown or lost leadership)."""
        self.is_active = False
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._consumer is not None:
            await self._consumer.stop()  # type: ignore[attr-defined]
            self._consumer = None
        for sub in (self._stats_sub, self._privacy_sub):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()  # type: ignore[attr-defined]
        self._stats_sub = self._privacy_sub = None


async def start_grpc(svc: ServiceContext, router: Router, port: int, credentials: Credentials) -> grpc.aio.Server:
    """Serve the Router API (service token and signed actor on every call) and grpc.health.v1 on `port`."""
    identity = GrpcIdentity(credentials, ROUTER_AUDIENCE)
    server = new_server([identity.interceptor])
    routing_pb2_grpc.add_RouterServicer_to_server(
        RouterServicer(lambda: router.core, identity, lambda: router.is_active), server)
    add_grpc_health(server, svc.readiness, ["omnihub.api.routing.v1.Router"])
    server.add_insecure_port(bind_address(svc.settings.grpc_host, port))
    await server.start()
    svc.stack.push_async_callback(server.stop, 2.0)
    svc.log.info("grpc.listening", host=svc.settings.grpc_host, port=port)
    return server


async def main() -> None:
    """Run the router until SIGTERM."""
    settings = load_settings(RouterSettings)
    loaded = load_routing_config(settings)
    credentials = Credentials.from_env()
    async with service_context("router", settings) as svc:
        bus = await svc.connect_bus()
        erased = tombstones.from_env()
        await tombstones.watch(bus, erased, svc.stack)  # before intake: an erased customer's old messages are dropped
        store = StateStore(bus)
        await store.open()

        def make_core() -> RouterCore:
            return RouterCore(loaded, bus, store, timezone=settings.center_timezone,
                              short_abandon=settings.quality_short_abandon_seconds)

        router = Router(make_core(), bus, settings.router_tick_seconds, make_core, erased)
        svc.readiness.add("leader", lambda: router.is_active)  # standbys are not ready: no traffic
        lease = LeaderLease(bus, subjects.KV_ROUTER_LEADER, "router", f"{socket.gethostname()}-{os.getpid()}",
                            ttl=settings.router_lease_seconds, renew=settings.router_lease_seconds / 4)
        stop_campaign = asyncio.Event()
        campaign = asyncio.get_running_loop().create_task(lease.run(router.activate, router.deactivate, stop_campaign))

        async def stop() -> None:
            stop_campaign.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(campaign, timeout=5)

        svc.stack.push_async_callback(stop)
        await start_grpc(svc, router, settings.router_grpc_port, credentials)
        app = web.Application()
        install_health(app, svc.readiness, "router")
        await svc.start_http(app, settings.http_host, settings.router_http_port)
        svc.log.info("router.ready", config=loaded.path, version=loaded.version,
                     queues=len(loaded.config.queues), agents=len(loaded.config.agents))
        await svc.wait()


def run() -> None:
    """Console entry point."""
    run_main(main)
