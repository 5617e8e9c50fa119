"""The inbox's HTTP surface over real NATS and SecantusDB: bodies parsed into models, OpenAPI, security headers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common.bus import Bus
from omnihub.common.openapi import undocumented
from omnihub.inbox import integration
from omnihub.inbox.api import Inbox
from omnihub.inbox.auth import COOKIE
from omnihub.inbox.live import consume_events
from omnihub.inbox.models import openapi

from .conftest import login as log_in
from .conftest import running_inbox, users

USERS = users(("alice", "agent"), ("sam", "supervisor"), ("root", "admin"))
NESTED = b'{"username":' + b"[" * 2000 + b"]" * 2000 + b"}"


@dataclass
class Served:
    base: str
    inbox: Inbox


@pytest.fixture
async def base(served: Served) -> str:
    return served.base


@pytest.fixture
async def served(bus: Bus, mongo_url: str, mongo_db: str) -> AsyncIterator[Served]:
    """An inbox on a free port with its event consumer; its router address answers nothing (calls to it get 503)."""
    async with running_inbox(mongo_url, mongo_db, USERS, bus) as running:
        consumer = await consume_events(bus, running.inbox.hub.on_events)
        yield Served(running.base, running.inbox)
        await consumer.stop()


async def login(http: aiohttp.ClientSession, base: str, user: str) -> dict[str, str]:
    return await log_in(http, base, user) | {"Content-Type": "application/json"}


async def test_hostile_bodies_get_400_naming_the_problem(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        nested = await http.post(f"{base}/api/login", data=NESTED, headers={"Content-Type": "application/json"})
        assert nested.status == 400 and "nested deeper" in await nested.text()
        surrogate = await http.post(f"{base}/api/login", data=b'{"username":"\\udc00","password":"x"}')
        assert surrogate.status == 400 and "surrogate" in await surrogate.text()
        not_json = await http.post(f"{base}/api/login", data=b"username=alice")
        assert not_json.status == 400
        missing = await http.post(f"{base}/api/login", json={"username": "alice"})
        assert missing.status == 400 and "password" in await missing.text()
        headers = await login(http, base, "sam")
        nested_state = await http.post(f"{base}/api/state", data=NESTED, headers=headers)
        assert nested_state.status == 400
        wrong_type = await http.post(f"{base}/api/supervisor/kb", json={"title": ["x"], "body": "y"}, headers=headers)
        assert wrong_type.status == 400 and "title" in await wrong_type.text()
        lone = await http.post(f"{base}/api/supervisor/kb", data=b'{"title":"\\udc00","body":"y"}', headers=headers)
        assert lone.status == 400
        bad_state = await http.post(f"{base}/api/state", json={"state": "ASLEEP"}, headers=headers)
        assert bad_state.status == 400 and "state" in await bad_state.text()
        big = await http.post(f"{base}/api/supervisor/kb", json={"title": "t", "body": "x" * 70_000}, headers=headers)
        assert big.status == 413
        saved = await http.post(f"{base}/api/supervisor/kb", json={"title": " Refunds ", "body": "We refund.",
                                                                    "unknown": 1}, headers=headers)
        assert saved.status == 200 and (await saved.json())["title"] == "Refunds"
        score = await http.post(f"{base}/api/evaluations/e1/resolve", json={"new_score": 1e999}, headers=headers)
        assert score.status == 400 and "new_score" in await score.text()


async def test_security_headers_on_every_response(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        for path, status in (("/", 200), ("/nope", 404), ("/api/me", 401), ("/static/nope.js", 404)):
            resp = await http.get(base + path)
            assert resp.status == status, path
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"], path
            assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        forbidden = await http.post(f"{base}/api/state", json={})
        assert forbidden.status == 401 and "Content-Security-Policy" in forbidden.headers


async def test_openapi_documents_every_route_from_the_models(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        resp = await http.get(f"{base}/api/openapi.json")
        assert resp.status == 200
        doc = await resp.json()
    assert doc == openapi()
    assert doc["openapi"].startswith("3.1")
    login_body = doc["paths"]["/api/login"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert login_body == {"$ref": "#/components/schemas/LoginBody"}
    assert doc["components"]["schemas"]["LoginBody"]["properties"]["username"]["maxLength"] == 100
    app = web.Application()
    Inbox(USERS, None, None, None, None, "").routes(app)  # type: ignore[arg-type]
    v1 = integration.openapi_document()  # /api/v1 (API tokens) has its own document
    assert undocumented(app, {"paths": doc["paths"] | v1["paths"]}) == []
    assert not set(doc["paths"]) & set(v1["paths"])


async def test_logout_and_forced_logout_end_sessions(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        headers = await login(http, base, "sam")
        old = http.cookie_jar.filter_cookies(URL(base))[COOKIE].value
        assert (await http.post(f"{base}/api/logout", headers=headers)).status == 200
        replayed = await http.get(f"{base}/api/me", cookies={COOKIE: old})
        assert replayed.status == 401  # the old cookie no longer works anywhere
    async with (aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice,
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice2,
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as root):
        alice_headers = await login(alice, base, "alice")
        await login(alice2, base, "alice")
        assert (await alice.get(f"{base}/api/me")).status == 200
        socket = await alice.ws_connect(f"{base}/ws/agent")
        assert (await socket.receive_json(timeout=10))["type"] == "hello"
        refused = await alice.post(f"{base}/api/admin/users/sam/logout", headers=alice_headers)
        assert refused.status == 403  # admins only
        root_headers = await login(root, base, "root")
        ended = await root.post(f"{base}/api/admin/users/alice/logout", headers=root_headers)
        assert ended.status == 200 and await ended.json() == {"ended": 2}
        assert (await alice.get(f"{base}/api/me")).status == 401
        assert (await alice2.get(f"{base}/api/me")).status == 401
        closed = await socket.receive(timeout=10)
        assert closed.type == aiohttp.WSMsgType.CLOSE and closed.data == 4401  # her open socket is closed too
        refused = await alice.get(f"{base}/ws/agent", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                              "Sec-WebSocket-Version": "13",
                                                              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert refused.status == 401
        unknown = await root.post(f"{base}/api/admin/users/nobody/logout", headers=root_headers)
        assert unknown.status == 404


async def test_concurrent_wrong_passwords_are_not_all_checked(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        async def guess() -> tuple[int, str | None]:
            resp = await http.post(f"{base}/api/login", json={"username": "root", "password": "guess"})
            return resp.status, resp.headers.get("Retry-After")

        answers = await asyncio.gather(*[guess() for _ in range(60)])
        assert sorted(status for status, _ in answers) == [401] * 5 + [429] * 55
        assert all(int(wait or 0) > 0 for status, wait in answers if status == 429)
        right = await http.post(f"{base}/api/login", json={"username": "root", "password": "root-pw"})
        assert right.status == 429  # still locked: the right password does not bypass the limit
        sam = await http.post(f"{base}/api/login", json={"username": "sam", "password": "sam-pw"})
        assert sam.status == 200  # the same address is not locked out for everyone


def event(eid: str, **kind: object) -> event_pb2.Event:
    e = event_pb2.Event(id=eid, conversation_id="conv1", customer_id="cus1", channel=contact_pb2.CHANNEL_SMS,
                        queue="support", source="test")
    for name, value in kind.items():
        getattr(e, name).CopyFrom(value)
    return e


async def test_events_are_stored_in_batches_and_pushed_in_stream_order(served: Served, bus: Bus) -> None:
    out = messaging_pb2.Message(id="m1", text="hi", direction=messaging_pb2.DIRECTION_OUTGOING, agent_id="alice")
    inbound = messaging_pb2.Message(id="m2", text="thanks", direction=messaging_pb2.DIRECTION_INCOMING)
    stream = [
        event("e1", message_created=event_pb2.MessageCreated(message=out)),
        event("e2", message_delivered=event_pb2.MessageDelivered(message_id="m1")),  # callbacks out of order
        event("e3", message_sent=event_pb2.MessageSent(message_id="m1")),
        event("e4", message_created=event_pb2.MessageCreated(message=out)),  # the same message again
        event("e5", message_created=event_pb2.MessageCreated(message=inbound)),
        event("e6", conversation_resolved=event_pb2.ConversationResolved(agent_id="alice", resolved=True)),
    ]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, served.base, "sam")
        async with http.ws_connect(f"{served.base}/ws/agent") as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "hello"
            async with bus.batch() as batch:
                for e in stream:
                    await batch.publish_event(e)
            pushed = [await ws.receive_json(timeout=20) for _ in range(6)]
    assert [(p["type"], p["data"].get("_id") or p["data"].get("id") or p["data"]["kind"]) for p in pushed] == [
        ("message", "m1"), ("status", "m1"), ("status", "m1"), ("message", "m2"),
        ("message", "act_e6"), ("event", "conversation_resolved")]  # the ending is a line of the timeline too
    assert pushed[4]["data"]["activity"] == {"kind": "ended", "agent": "alice", "disposition": "", "resolved": True}
    assert [p["data"]["status"] for p in pushed[1:3]] == ["delivered", "sent"]
    history = await served.inbox.store.customer_history("cus1")
    assert [(m["_id"], m["status"]) for m in history] == [("m1", "delivered"), ("m2", "received"), ("act_e6", "")]
