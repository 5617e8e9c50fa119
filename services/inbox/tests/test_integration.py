"""The integration API's tokens and the outbound webhooks over a real inbox, NATS and SecantusDB: forged, expired,
revoked and out-of-scope tokens, 429 with Retry-After, signed deliveries, a slow receiver that never holds up a fast
one, retries after a 5xx with a delivery log, replay, and the signature verifier refusing tampering."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common.bus import Bus, new_event
from omnihub.common.clientaddr import parse_networks
from omnihub.common.retry import RetryPolicy
from omnihub.inbox import signing
from omnihub.inbox.api import Inbox
from omnihub.inbox.store import InboxStore
from omnihub.inbox.urlguard import UrlGuard
from omnihub.inbox.webhooks import Webhooks
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import eventually

from .conftest import login, running_inbox, users

USERS = users(("sam", "supervisor"), ("ada", "admin"))
SLOW_TIMEOUT = 30.0  # the slow receiver never answers; the fast one must be served long before this


@dataclass
class Receivers:
    """A local HTTP server with a fast, a slow (never answers) and a flaky (first a 500) endpoint."""

    base: str = ""
    got: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=lambda: {"fast": [], "slow": [],
                                                                                          "flaky": []})


@dataclass
class Served:
    base: str
    store: InboxStore
    receivers: Receivers


@pytest.fixture
async def served(bus: Bus, mongo_url: str, mongo_db: str) -> AsyncIterator[Served]:
    """An inbox (no router: its calls get 503) whose webhooks consume the bus, and the receivers."""
    receivers = Receivers()

    async def receive(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        receivers.got[name].append((dict(request.headers), await request.read()))
        if name == "slow":
            await asyncio.sleep(SLOW_TIMEOUT * 2)
        if name == "flaky" and len(receivers.got["flaky"]) == 1:
            return web.Response(status=500, text="down for a moment")
        return web.Response(text="ok")

    hooks_app = web.Application()
    hooks_app.router.add_post("/{name}", receive)
    hooks_runner = web.AppRunner(hooks_app, shutdown_timeout=0.1)
    await hooks_runner.setup()
    hooks_port = free_port()
    await web.TCPSite(hooks_runner, "127.0.0.1", hooks_port).start()
    receivers.base = f"http://127.0.0.1:{hooks_port}"


    async def with_webhooks(inbox: Inbox) -> None:
        inbox.webhooks = inbox.integration.webhooks = Webhooks(inbox.store, policy=RetryPolicy(first=0.2, cap=1.0),
                                                               give_up=3600, timeout=SLOW_TIMEOUT,
                                                               guard=UrlGuard(parse_networks("127.0.0.0/8")))
        await inbox.audit.setup()
        await inbox.webhooks.setup()
        await inbox.webhooks.start(bus)

    async with running_inbox(mongo_url, mongo_db, USERS, bus, prepare=with_webhooks) as running:
        yield Served(running.base, running.store, receivers)
        await running.inbox.webhooks.stop()
    await hooks_runner.cleanup()


async def admin(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    return await login(http, base, "ada")


async def new_token(http: aiohttp.ClientSession, base: str, csrf: dict[str, str], **body: Any) -> dict[str, Any]:
    async with http.post(f"{base}/api/admin/tokens", headers=csrf, json={"name": "crm", **body}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def status(http: aiohttp.ClientSession, url: str, token: str) -> tuple[int, str, dict[str, str]]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


async def test_tokens_are_shown_once_stored_hashed_and_refused_when_forged_expired_revoked_or_out_of_scope(
        served: Served) -> None:
    base = served.base
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await admin(http, base)
        made = await new_token(http, base, csrf, scopes=["agents:read"])
        token, token_id = made["token"], made["id"]
        stored = await served.store.db["api_tokens"].find_one({"_id": token_id})
        assert stored is not None and token.split(".", 1)[1] not in json.dumps(stored, default=str)  # only its hash
        async with http.get(f"{base}/api/admin/tokens") as listed:
            assert "token" not in (await listed.json())["tokens"][0] and token not in await listed.text()

        agents = f"{base}/api/v1/agents"
        assert (await status(http, agents, token))[0] == 503  # allowed through; this test's router is not there
        forged = token_id + ".x" + token.split(".", 1)[1][1:]
        code, text, headers = await status(http, agents, forged)
        assert code == 401 and "missing, unknown, revoked or expired" in text and "Bearer" in headers["WWW-Authenticate"]
        assert (await status(http, agents, "tok_nothing.abc"))[0] == 401
        async with http.get(agents) as cookie_only:
            assert cookie_only.status == 401  # the admin's session cookie does not open /api/v1
        code, text, _ = await status(http, f"{base}/api/v1/queues", token)
        assert code == 403 and "queues:read" in text

        expiring = await new_token(http, base, csrf, scopes=["agents:read"], expires_in_days=1)
        assert (await status(http, agents, expiring["token"]))[0] == 503
        await served.store.db["api_tokens"].update_one({"_id": expiring["id"]}, {"$set": {"expires": time.time() - 1}})
        assert (await status(http, agents, expiring["token"]))[0] == 401  # a day later

        async with http.post(f"{base}/api/admin/tokens/{token_id}/revoke", headers=csrf) as revoked:
            assert revoked.status == 200
        assert (await status(http, agents, token))[0] == 401
        async with http.post(f"{base}/api/admin/tokens", headers=csrf, json={"name": "x", "scopes": ["root"]}) as bad:
            assert bad.status == 400 and "scopes" in await bad.text()
        async with http.get(f"{base}/api/admin/audit?action=config.change") as trail:
            records = (await trail.json())["records"]
        assert len(records) == 3 and token not in json.dumps(records)  # created twice, revoked once; never the secret


async def test_a_token_over_its_rate_gets_429_with_retry_after(served: Served) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await admin(http, served.base)
        token = (await new_token(http, served.base, csrf, scopes=["agents:read"], rate="2/minute"))["token"]
        other = (await new_token(http, served.base, csrf, scopes=["agents:read"], rate="2/minute"))["token"]
        url = f"{served.base}/api/v1/agents"
        assert [(await status(http, url, token))[0] for _ in range(2)] == [503, 503]
        code, text, headers = await status(http, url, token)
        assert code == 429 and "2/minute" in text and 1 <= int(headers["Retry-After"]) <= 61
        assert (await status(http, url, other))[0] == 503  # per token: the other still has its own window


async def test_the_v1_document_is_openapi_3_and_public(served: Served) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{served.base}/api/v1/openapi.json") as resp:
        doc = await resp.json()
    assert resp.status == 200 and doc["openapi"].startswith("3.")
    assert {"/api/v1/conversations", "/api/v1/conversations/{id}/messages", "/api/v1/customers/{id}",
            "/api/v1/agents", "/api/v1/queues", "/api/v1/kpis"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer"


def message_event(text: str) -> event_pb2.Event:
    return new_event("inbox", conversation_id="cnv_1", customer_id="cus_1", message_created=event_pb2.MessageCreated(
        message=messaging_pb2.Message(id=f"msg_{text}", conversation_id="cnv_1", text=text)))


async def test_webhooks_are_signed_a_slow_receiver_never_blocks_a_fast_one_and_5xx_is_retried_and_logged(
        served: Served, bus: Bus) -> None:
    base, got = served.base, served.receivers.got
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await admin(http, base)
        # sso (#25): the receivers here are allowed (127.0.0.0/8); metadata, private and other loopback are not
        for url, why in (("http://169.254.169.254/latest/meta-data/", "link-local"),
                         ("http://10.1.2.3/hook", "private"), ("http://[::1]:9/hook", "loopback"),
                         ("http://[::ffff:192.168.1.1]/hook", "private")):
            async with http.post(f"{base}/api/admin/webhooks", headers=csrf,
                                 json={"url": url, "events": ["message.created"]}) as resp:
                assert resp.status == 400 and why in await resp.text(), (url, await resp.text())
        subs = {}
        for name in ("slow", "fast", "flaky"):
            async with http.post(f"{base}/api/admin/webhooks", headers=csrf, json={
                    "url": f"{served.receivers.base}/{name}", "events": ["message.created"]}) as resp:
                assert resp.status == 201, await resp.text()
                subs[name] = await resp.json()
        assert all(s["secret"].startswith("whsec_") for s in subs.values())
        started = time.monotonic()
        for text in ("one", "two", "three"):
            await bus.publish_event(message_event(text))
        await eventually(lambda: len(got["fast"]) == 3, timeout=SLOW_TIMEOUT / 2)
        assert time.monotonic() - started < SLOW_TIMEOUT  # served while the slow one still hangs on its first
        assert len(got["slow"]) == 1
        bodies = [json.loads(body) for _, body in got["fast"]]
        assert [b["data"]["message_created"]["message"]["text"] for b in bodies] == ["one", "two", "three"]
        assert {b["type"] for b in bodies} == {"message.created"}
        for headers, body in got["fast"]:
            signing.verify(subs["fast"]["secret"], headers, body)  # raises if wrong
        with pytest.raises(signing.InvalidSignature, match="no signature matches"):
            signing.verify(subs["slow"]["secret"], got["fast"][0][0], got["fast"][0][1])  # another's secret

        await eventually(lambda: len(got["flaky"]) == 4, timeout=15)  # a 500, then its retry, then two more
        await eventually(lambda: _all_delivered(http, base, subs["flaky"]["id"]), timeout=10)
        async with http.get(f"{base}/api/admin/webhooks/{subs['flaky']['id']}/deliveries") as resp:
            log = (await resp.json())["deliveries"]
        first = next(d for d in log if len(d["attempts"]) == 2)
        assert [a["status"] for a in first["attempts"]] == [500, 200] and first["attempts"][0]["error"] == "HTTP 500"
        sent = [h["webhook-id"] for h, _ in got["flaky"]]
        assert sent[0] == first["id"] and sent.count(first["id"]) == 2  # the same webhook-id on every attempt

        replayed = log[0]["id"]
        async with http.post(f"{base}/api/admin/webhooks/{subs['flaky']['id']}/deliveries/{replayed}/replay",
                             headers=csrf) as resp:
            assert resp.status == 200
        await eventually(lambda: len(got["flaky"]) == 5, timeout=10)
        assert got["flaky"][4][0]["webhook-id"] == replayed
        async with http.post(f"{base}/api/admin/webhooks/{subs['flaky']['id']}/deliveries/nope/replay",
                             headers=csrf) as resp:
            assert resp.status == 404


async def _all_delivered(http: aiohttp.ClientSession, base: str, sub_id: str) -> bool:
    async with http.get(f"{base}/api/admin/webhooks/{sub_id}/deliveries") as resp:
        log = (await resp.json())["deliveries"]
    return len(log) == 3 and all(d["state"] == "delivered" for d in log)


def test_the_verifier_refuses_tampering_old_timestamps_and_missing_headers() -> None:
    secret = signing.new_secret()
    body = b'{"type":"message.created"}'
    headers = signing.headers(secret, "msg_1", body)
    signing.verify(secret, headers, body)
    with pytest.raises(signing.InvalidSignature, match="no signature matches"):
        signing.verify(secret, headers, body.replace(b"created", b"deleted"))
    with pytest.raises(signing.InvalidSignature, match="no signature matches"):
        signing.verify(secret, headers | {"webhook-id": "msg_2"}, body)
    with pytest.raises(signing.InvalidSignature, match="too old"):
        signing.verify(secret, signing.headers(secret, "msg_1", body, timestamp=int(time.time()) - 3600), body)
    with pytest.raises(signing.InvalidSignature, match="missing"):
        signing.verify(secret, {"webhook-id": "msg_1"}, body)
    rotated = headers | {"webhook-signature": "v1,AAAA " + headers["webhook-signature"]}
    signing.verify(secret, rotated, body)  # any of several signatures may match
    # the Standard Webhooks reference vector (github.com/standard-webhooks/standard-webhooks, libraries' tests)
    vector = signing.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                          b'{"test": 2432232314}')
    assert vector == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
