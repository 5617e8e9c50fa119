"""Webhook delivery edges over SecantusDB and a local receiver: only public addresses (a name that resolves to
loopback at delivery time is refused: DNS rebinding), and a failing receiver is retried on the policy's schedule
until a day has passed, then marked failed (time driven by an injected clock, no sleeps)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import new_event
from omnihub.common.clientaddr import parse_networks
from omnihub.common.consumer import Delivery
from omnihub.inbox.integration_models import WebhookBody
from omnihub.inbox.store import InboxStore
from omnihub.inbox.urlguard import BlockedAddress, UrlGuard
from omnihub.inbox.webhooks import GIVE_UP, Webhooks
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import eventually

LOOPBACK = parse_networks("127.0.0.0/8")


@dataclass
class Receiver:
    url: str
    got: list[dict[str, str]] = field(default_factory=list)
    status: int = 500


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A local webhook receiver that answers `status` and records each request's headers."""
    port = free_port()
    rec = Receiver(f"http://127.0.0.1:{port}/in")

    async def receive(request: web.Request) -> web.Response:
        rec.got.append(dict(request.headers))
        return web.Response(status=rec.status)

    app = web.Application()
    app.router.add_post("/in", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield rec
    await runner.cleanup()


@pytest.fixture
async def store(mongo_url: str, mongo_db: str) -> AsyncIterator[InboxStore]:
    s = InboxStore(mongo_url, mongo_db)
    await s.setup()
    yield s
    await s.close()


class ChangingDns(AbstractResolver):
    """A DNS server whose answer changes: each lookup takes the next answer (the last one stays)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked = 0

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> list[ResolveResult]:
        address = self.answers[min(self.asked, len(self.answers) - 1)]
        self.asked += 1
        return [ResolveResult(hostname=host, host=address, port=port, family=socket.AF_INET, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        pass


def message_created(text: str) -> Delivery[event_pb2.Event]:
    """One message.created event as the EVENTS consumer hands it over."""
    evt = new_event("inbox", conversation_id="cnv_1", customer_id="cus_1", message_created=event_pb2.MessageCreated(
        message=messaging_pb2.Message(id=f"msg_{text}", conversation_id="cnv_1", text=text)))
    return Delivery(evt, subjects.event("message", "created"), {}, 1, evt.id, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(("address", "why"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.8", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd00:ec2::254", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1%eth0", "link-local"), ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "reserved"), ("224.0.0.1", "multicast"),
])
def test_internal_addresses_are_refused(address: str, why: str) -> None:
    with pytest.raises(BlockedAddress, match=why):
        UrlGuard().check_address(address)


def test_public_and_allowed_addresses_pass() -> None:
    UrlGuard().check_address("93.184.216.34")
    UrlGuard().check_address("2606:2800:220:1:248:1893:25c8:1946")
    allowed = UrlGuard(LOOPBACK)
    allowed.check_address("127.0.0.1")
    with pytest.raises(BlockedAddress, match="private"):
        allowed.check_address("10.0.0.1")  # the allow-list lets in its networks only


async def test_a_name_is_checked_when_subscribing_and_again_when_delivering(store: InboxStore,
                                                                           receiver: Receiver) -> None:
    with pytest.raises(BlockedAddress, match="loopback"):
        await UrlGuard().check_url("http://localhost:9/in")  # a name is judged by what it resolves to
    with pytest.raises(BlockedAddress, match="http or https"):
        await UrlGuard().check_url("file:///etc/passwd")
    # The name is public when the admin subscribes, then its DNS answers loopback when the delivery goes out.
    port = receiver.url.split(":")[2].split("/")[0]
    url = f"http://hooks.example.test:{port}/in"
    guard = UrlGuard(dns=ChangingDns("93.184.216.34", "127.0.0.1"))
    await guard.check_url(url)
    hooks = Webhooks(store, guard=guard)
    await hooks.setup()
    sub = await hooks.subscribe(WebhookBody(url=url, events=["message.created"]), "ada")  # type: ignore[arg-type]
    try:
        await hooks.on_event(message_created("rebind"))
        log = await eventually(lambda: _attempted(hooks, sub.id))
        assert "resolves to 127.0.0.1 is a loopback address" in log[0].attempts[0].error
        assert receiver.got == []  # nothing reached the internal address
        guard.allow = LOOPBACK  # the receiver is reachable: it was the guard that refused
        receiver.status = 204
        assert await hooks.replay(sub.id, log[0].id)
        await eventually(lambda: len(receiver.got) == 1)
    finally:
        await hooks.stop()


async def _attempted(hooks: Webhooks, sub_id: str) -> list[Any] | None:
    log = await hooks.deliveries(sub_id)
    return log if log and log[0].attempts else None


async def test_a_failing_receiver_is_retried_for_a_day_then_the_delivery_is_failed(store: InboxStore,
                                                                                   receiver: Receiver) -> None:
    now = [1_800_000_000.0]
    hooks = Webhooks(store, guard=UrlGuard(LOOPBACK), clock=lambda: now[0])
    await hooks.setup()
    sub = await hooks.subscribe(WebhookBody(url=receiver.url, events=["message.created"]), "ada")  # type: ignore[arg-type]
    start = now[0]
    try:
        await hooks.on_event(message_created("never"))
        deliveries = hooks.store.db["webhook_deliveries"]  # type: ignore[union-attr]
        for tries in range(1, 100):
            doc = await eventually(partial(deliveries.find_one, {"sub": sub.id, "attempts": {"$size": tries}}))
            if doc["state"] == "failed":
                break
            assert doc["state"] == "pending"
            now[0] = doc["next_at"]  # the clock jumps to the next attempt; the worker is woken to see it
            hooks._wake(sub.id)
    finally:
        await hooks.stop()
    times = [a["time"] - start for a in doc["attempts"]]
    # 10 s doubling to the hourly cap, while the next attempt still falls within the day
    expected = [0.0]
    while expected[-1] + min(10.0 * 2 ** (len(expected) - 1), 3600.0) <= GIVE_UP:
        expected.append(expected[-1] + min(10.0 * 2 ** (len(expected) - 1), 3600.0))
    assert times == expected
    assert times[:4] == [0, 10, 30, 70] and times[-1] - times[-2] == 3600 and len(times) == 32
    assert times[-1] <= GIVE_UP < times[-1] + 3600  # the last try within the day; the next would be past it
    assert all(a["status"] == 500 and a["error"] == "HTTP 500" for a in doc["attempts"])
    assert len(receiver.got) == len(times) and {h["webhook-id"] for h in receiver.got} == {doc["_id"]}
    assert [d.state for d in await hooks.deliveries(sub.id)] == ["failed"]
