"""Voice through the real router over NATS: callbacks are placed when an agent takes them; hang-ups abandon."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.router import engine as eng
from omnihub.router.app import Router
from omnihub.router.config import parse_routing_config
from omnihub.router.core import RouterCore
from omnihub.router.store import StateStore
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import barrier, eventually, read_events
from omnihub.voice.app import build_app
from omnihub.voice.config import Menu, VoiceConfig
from omnihub.voice.handlers import VoiceChannel

OURS, CALLER = "+15550003333", "+8613700137000"
ROUTING = """
version: 1
queues:
  - {name: support, skills: [], wrap_up_seconds: 0}
agents:
  - {id: alice, skills: {}, queues: [support], voice_destination: "client:alice"}
"""


@pytest.fixture
async def stack(bus: Bus) -> AsyncIterator[tuple[FakeTwilio, str, RouterCore]]:
    fake = FakeTwilio()
    await fake.start()
    store = StateStore(bus)
    await store.open()
    router = Router(RouterCore(parse_routing_config(ROUTING), bus, store), bus, tick_seconds=0.2)
    await router.activate()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    channel = VoiceChannel(bus, VoiceConfig(menus={"default": Menu(default_queue="support")}), fake.account_sid,
                           fake.auth_token, url, OURS, await bus.kv(subjects.KV_VOICE_CALLS), fake.base_url)
    consumer = await bus.consume(stream=subjects.STREAM_EVENTS, durable=subjects.DURABLE_VOICE_ASSIGNED,
                                 subjects=[subjects.event("conversation", "assigned")], message_type=event_pb2.Event,
                                 handler=channel.on_assigned)
    runner = web.AppRunner(build_app(channel))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield fake, url, router.core
    await consumer.stop()
    await runner.cleanup()
    await channel.close()
    await router.deactivate()
    await fake.stop()


def sid(prefix: str, n: int) -> str:
    """A Twilio SID of the real shape: two letters and 32 hex digits."""
    return f"{prefix}{n:032d}"


async def call_and_queue(fake: FakeTwilio, url: str, sid: str) -> None:
    for path, extra in (("", {}), ("/gather", {"Digits": "2"})):
        resp = await fake.post_webhook(f"{url}/twilio/voice{path}", {"CallSid": sid, "From": CALLER, "To": OURS, **extra})
        assert resp.status == 200


async def test_callback_is_placed_when_an_agent_takes_it(bus: Bus, stack: tuple[FakeTwilio, str, RouterCore]) -> None:
    fake, url, core = stack
    await call_and_queue(fake, url, sid("CA", 900))
    await barrier(bus, subjects.DURABLE_ROUTER, stream=subjects.STREAM_CONTACTS_IN)  # the call is queued
    resp = await fake.post_webhook(f"{url}/twilio/voice/callback", {"CallSid": sid("CA", 900), "Digits": "1"})
    assert "Leave" in await resp.text()
    await fake.post_webhook(f"{url}/twilio/voice/queue-result", {"CallSid": sid("CA", 900), "QueueResult": "leave", "QueueTime": "20"})
    await barrier(bus, subjects.DURABLE_ROUTER, stream=subjects.STREAM_CONTACTS_IN)  # the callback request is routed
    assert not await read_events(bus, "conversation_abandoned")
    conv = next(iter(core.records.values())).conv
    assert conv.callback and conv.routing_state == 1  # still QUEUED, as a callback
    await core.set_presence("alice", eng.AVAILABLE)
    res = next(iter(core.reservations.values()))
    await core.accept("alice", res.id)
    placed = await eventually(lambda: [r for r in fake.requests if r[1].endswith("/Calls.json")], timeout=5)
    assert placed and placed[0][2]["To"] == CALLER and placed[0][2]["From"] == OURS
    assert f">{conv.id}</Conference>" in placed[0][2]["Twiml"]  # the customer is called into the call's conference
    agent = await eventually(lambda: [r for r in fake.requests if r[1].endswith("/Participants.json")], timeout=5)
    assert agent[0][2]["To"] == "client:alice"  # and the agent joins it


async def test_hang_up_while_queued_abandons_with_the_measured_wait(bus: Bus, stack: tuple[FakeTwilio, str, RouterCore]) -> None:
    fake, url, _ = stack
    await call_and_queue(fake, url, sid("CA", 901))
    started = time.monotonic()
    await asyncio.sleep(1.2)  # the caller waits this long (a span to measure, not a wait for a fact)
    await fake.post_webhook(f"{url}/twilio/voice/queue-result", {"CallSid": sid("CA", 901), "QueueResult": "hangup", "QueueTime": "1"})
    abandoned = await read_events(bus, "conversation_abandoned", count=1)
    wait = abandoned[0].conversation_abandoned.wait_duration.ToNanoseconds() / 1e9
    assert 1.0 <= wait <= time.monotonic() - started + 0.5
    assert abandoned[0].conversation_abandoned.reason == "hangup"
