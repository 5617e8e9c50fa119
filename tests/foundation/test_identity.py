"""Identity on every call: service token and signed actor over gRPC and HTTP; unguessable ids."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from joserfc import jwt
from joserfc.jwk import OctKey

from omnihub.common import identity
from omnihub.common.bus import new_id
from omnihub.common.grpcserver import new_server
from omnihub.common.identity import Actor, Credentials, IdentityError
from omnihub.testkit.ports import free_port

AUD = identity.ROUTER_AUDIENCE


def test_new_ids_carry_128_random_bits_and_keep_their_prefix() -> None:
    ids = [new_id("cnv") for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"cnv_[0-9a-f]{12}[0-9a-f]{32}", i) for i in ids)
    # Two ids made back to back share nothing after the millisecond: neither tells the other.
    a, b = new_id("cus")[16:], new_id("cus")[16:]
    assert sum(x == y for x, y in zip(a, b, strict=True)) < 16
    tails = [int(i[16:], 16) for i in ids[:2000]]
    assert len({t >> 96 for t in tails}) > 1_500  # the top bits vary too (no per-process constant)
    assert len({t & 0xFFFFFF for t in tails}) > 1_900  # and the low bits are no counter


def test_assertions_are_signed_scoped_and_short_lived() -> None:
    creds = Credentials.generate()
    alice = Actor("alice", "agent")
    assert creds.verify(creds.sign(alice, AUD), AUD) == alice
    with pytest.raises(IdentityError, match="another service"):
        creds.verify(creds.sign(alice, AUD), identity.QUALITY_AUDIENCE)
    with pytest.raises(IdentityError):
        Credentials.generate().verify(creds.sign(alice, AUD), AUD)  # another deployment's key
    key = OctKey.import_key(creds.env()["OMNIHUB_ACTOR_KEY"].encode())
    old = jwt.encode({"alg": "HS256"}, {"sub": "alice", "role": "agent", "aud": AUD, "exp": int(time.time()) - 5}, key)
    with pytest.raises(IdentityError, match="expired"):
        creds.verify(old, AUD)
    god = jwt.encode({"alg": "HS256"}, {"sub": "x", "role": "god", "aud": AUD, "exp": int(time.time()) + 60}, key)
    with pytest.raises(IdentityError):
        creds.verify(god, AUD)
    unsigned = old.rsplit(".", 1)[0].replace(old.split(".")[0], "eyJhbGciOiJub25lIn0") + "."
    with pytest.raises(IdentityError):
        creds.verify(unsigned, AUD)
    with pytest.raises(IdentityError):
        creds.verify("", AUD)
    assert creds.token_ok(creds.bearer) and not creds.token_ok("Bearer nope") and not creds.token_ok(None)
    with pytest.raises(ValueError):
        Credentials("short", "k" * 40)


def test_missing_credentials_stop_a_service_naming_the_variable(monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("OMNIHUB_SERVICE_TOKEN", raising=False)
    monkeypatch.setenv("OMNIHUB_ACTOR_KEY", "k" * 40)
    with pytest.raises(SystemExit) as exc:
        Credentials.from_env()
    assert exc.value.code == 2 and "OMNIHUB_SERVICE_TOKEN" in capsys.readouterr().err


async def test_grpc_calls_need_the_token_and_carry_the_verified_actor() -> None:
    creds = Credentials.generate()
    ident = identity.GrpcIdentity(creds, AUD)

    async def whoami(request: bytes, context: Any) -> bytes:
        actor = await ident.actor(context)
        return f"{actor.sub}/{actor.role}".encode()

    server = new_server([ident.interceptor])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "test.Who", {"Am": grpc.unary_unary_rpc_method_handler(whoami)})])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)  # type: ignore[attr-defined]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    try:
        async with grpc.aio.insecure_channel(target) as bare:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await bare.unary_unary("/test.Who/Am", None, None)(b"")
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            # Probes carry nothing and still get an answer.
            assert (await health_pb2_grpc.HealthStub(bare).Check(health_pb2.HealthCheckRequest())).status == 1
        async with identity.channel(target, Credentials.generate(), AUD, Actor("alice", "agent")) as wrong:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await wrong.unary_unary("/test.Who/Am", None, None)(b"")
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        async with identity.channel(target, creds, AUD) as ch:
            call = ch.unary_unary("/test.Who/Am", None, None)
            with pytest.raises(grpc.aio.AioRpcError) as err:  # the token alone names nobody
                await call(b"")
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with identity.acting_as(Actor("sam", "supervisor")):
                assert await call(b"") == b"sam/supervisor"
            forged = (("x-omnihub-actor", Credentials.generate().sign(Actor("sam", "admin"), AUD)),)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(b"", metadata=forged)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        async with identity.channel(target, creds, AUD, Actor("alice", "agent")) as ch:
            assert await ch.unary_unary("/test.Who/Am", None, None)(b"") == b"alice/agent"
    finally:
        await server.stop(None)


async def test_http_middleware_refuses_without_token_or_actor() -> None:
    creds = Credentials.generate()

    async def who(request: web.Request) -> web.Response:
        return web.Response(text=identity.request_actor(request).sub)

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[identity.http_middleware(creds, identity.QUALITY_AUDIENCE)])
    app.router.add_get("/api/who", who)
    app.router.add_get("/healthz", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            assert (await http.get(f"{url}/healthz")).status == 200
            resp = await http.get(f"{url}/api/who")
            assert resp.status == 401 and "service token" in await resp.text()
            resp = await http.get(f"{url}/api/who", headers={"Authorization": creds.bearer})
            assert resp.status == 401 and "actor" in await resp.text()
            hdrs = creds.headers(identity.ROUTER_AUDIENCE, Actor("bob", "agent"))
            assert (await http.get(f"{url}/api/who", headers=hdrs)).status == 401  # minted for the router
            hdrs = creds.headers(identity.QUALITY_AUDIENCE, Actor("bob", "agent"))
            resp = await http.get(f"{url}/api/who", headers=hdrs)
            assert resp.status == 200 and await resp.text() == "bob"
    finally:
        await runner.cleanup()
