"""The inbox's HTTP surface over real NATS and SecantusDB: bodies parsed into models, OpenAPI, security headers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from aiohttp import web
from argon2 import PasswordHasher

from omnihub.api.routing.v1 import routing_pb2_grpc
from omnihub.common.bus import Bus
from omnihub.common.openapi import undocumented
from omnihub.inbox.api import Inbox
from omnihub.inbox.app import build_app
from omnihub.inbox.auth import SessionCodec
from omnihub.inbox.config import User
from omnihub.inbox.models import openapi
from omnihub.inbox.store import InboxStore
from omnihub.testkit.ports import free_port

_hash = PasswordHasher().hash
USERS = {u.id: u for u in (User("alice", "Alice", "agent", _hash("alice-pw")),
                           User("sam", "Sam", "supervisor", _hash("sam-pw")))}
NESTED = b'{"username":' + b"[" * 2000 + b"]" * 2000 + b"}"


@pytest.fixture
async def base(bus: Bus, mongo_url: str, mongo_db: str) -> AsyncIterator[str]:
    """An inbox on a free port; its router address answers nothing (calls that reach it get 503)."""
    store = InboxStore(mongo_url, mongo_db)
    await store.setup()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    inbox = Inbox(USERS, SessionCodec(b"k" * 32), store, bus, routing_pb2_grpc.RouterStub(channel),  # type: ignore[arg-type]
                  "http://127.0.0.1:1")
    runner = web.AppRunner(build_app(inbox))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
    await channel.close(None)
    await store.close()


async def login(http: aiohttp.ClientSession, base: str, user: str) -> dict[str, str]:
    resp = await http.post(f"{base}/api/login", json={"username": user, "password": f"{user}-pw"})
    assert resp.status == 200, await resp.text()
    return {"X-CSRF-Token": (await resp.json())["csrf"], "Content-Type": "application/json"}


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
    Inbox(USERS, SessionCodec(b"k" * 32), None, None, None, "").routes(app)  # type: ignore[arg-type]
    assert undocumented(app, doc) == []
