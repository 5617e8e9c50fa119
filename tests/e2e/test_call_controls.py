"""Call controls from the desk end to end: inbox -> NATS -> voice -> the Twilio double's conference, with the roles."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import identity
from omnihub.common.identity import Actor
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.hub import twilio_env
from omnihub.testkit.waiting import eventually
from tests.e2e.hub import PASSWORDS, new_hub

pytestmark = pytest.mark.slow
CUSTOMER, OURS = "+8613800138123", "+15550001111"
CALL = "CA" + "7" * 32
API_KEY, API_SECRET, APP = "SK" + "1" * 32, "s" * 32, "AP" + "2" * 32


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    fake = FakeTwilio()
    await fake.start()
    h = new_hub(tmp_path, nats_url, mongo_url, fake)
    h.extra["voice"] = twilio_env(fake)
    h.extra["inbox"] |= {"OMNIHUB_TWILIO_ACCOUNT_SID": fake.account_sid, "OMNIHUB_TWILIO_API_KEY": API_KEY,
                         "OMNIHUB_TWILIO_API_SECRET": API_SECRET, "OMNIHUB_TWILIO_TWIML_APP_SID": APP}
    try:
        h.start("router", "voice", "inbox")
        yield h, fake
    finally:
        h.stop()
        await fake.stop()


async def call_taken_by(hub: Hub, fake: FakeTwilio, agent: str) -> routing_pb2.Conversation:
    """A customer calls, picks the menu, and `agent` (the only one available) accepts the offer."""
    async with identity.channel(f"127.0.0.1:{hub.ports['router_grpc']}", hub.credentials, identity.ROUTER_AUDIENCE,
                                Actor(agent, "agent")) as ch:
        stub = routing_pb2_grpc.RouterStub(ch)  # type: ignore[no-untyped-call]
        await stub.Login(routing_pb2.LoginRequest(agent_id=agent))
        await stub.SetState(routing_pb2.SetStateRequest(agent_id=agent, state=routing_pb2.AGENT_STATE_AVAILABLE))
        stream = stub.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=agent))
        for path, extra in (("", {}), ("/gather", {"Digits": "2"})):
            resp = await fake.post_webhook(f"{hub.url('voice')}/twilio/voice{path}",
                                           {"CallSid": CALL, "From": CUSTOMER, "To": OURS, **extra})
            assert resp.status == 200
        async for notice in stream:
            if notice.WhichOneof("kind") == "offer":
                conv = await stub.Accept(routing_pb2.AcceptRequest(agent_id=agent,
                                                                   reservation_id=notice.offer.reservation_id))
                stream.cancel()
                return conv  # type: ignore[no-any-return]
    raise AssertionError(f"no offer reached {agent}")


async def log_in(hub: Hub, user: str) -> tuple[aiohttp.ClientSession, dict[str, str]]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await http.post(f"{hub.url('inbox')}/api/login", json={"username": user, "password": PASSWORDS[user]})
    assert resp.status == 200, await resp.text()
    return http, {"X-CSRF-Token": (await resp.json())["csrf"]}


def forms(fake: FakeTwilio, suffix: str) -> list[dict[str, str]]:
    return [f for _, p, f in fake.requests if p.endswith(suffix)]


async def test_the_desk_controls_its_call_and_a_supervisor_coaches(hub: tuple[Hub, FakeTwilio]) -> None:
    h, fake = hub
    conv = await call_taken_by(h, fake, "alice")
    found = await eventually(lambda: fake.conferences.by_name(conv.id), timeout=15)
    assert found is not None
    conf: dict[str, Any] = found
    await eventually(lambda: len(fake.conferences.participants[conf["sid"]]) == 2 or None, timeout=15)  # customer + agent
    base = h.url("inbox")
    (alice, a_csrf), (bob, b_csrf), (sam, s_csrf) = [await log_in(h, u) for u in ("alice", "bob", "sam")]
    try:
        ws = await alice.ws_connect(f"{base.replace('http', 'ws')}/ws/agent")
        first = await alice.get(f"{base}/api/calls/{conv.id}")
        assert first.status == 200 and (await first.json())["state"] == "connected"

        resp = await alice.post(f"{base}/api/calls/{conv.id}/hold", json={}, headers=a_csrf)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["state"] == "on_hold"
        assert forms(fake, f"/Participants/{CALL}.json")[-1]["Hold"] == "true"
        assert fake.conferences.participants[conf["sid"]][CALL]["hold"] is True

        assert (await bob.post(f"{base}/api/calls/{conv.id}/resume", json={}, headers=b_csrf)).status == 403
        assert (await alice.post(f"{base}/api/calls/{conv.id}/resume", json={}, headers=a_csrf)).status == 200
        assert (await alice.post(f"{base}/api/calls/{conv.id}/recording-pause", json={}, headers=a_csrf)).status == 200
        assert forms(fake, "/Recordings/Twilio.CURRENT.json")[-1] == {"Status": "paused", "PauseBehavior": "skip"}
        bad = await alice.post(f"{base}/api/calls/{conv.id}/transfer", json={"to_number": "12<x>"}, headers=a_csrf)
        assert bad.status == 400
        assert (await alice.post(f"{base}/api/calls/{conv.id}/explode", json={}, headers=a_csrf)).status == 404

        # the agent may not use the supervisor's interventions; the supervisor coaches the agent's leg
        denied = await alice.post(f"{base}/api/supervisor/calls/{conv.id}/coach", json={}, headers=a_csrf)
        assert denied.status == 403
        coach = await sam.post(f"{base}/api/supervisor/calls/{conv.id}/coach", json={}, headers=s_csrf)
        assert coach.status == 200, await coach.text()
        agent_leg = next(c for c, p in fake.conferences.participants[conf["sid"]].items() if p["label"] == "agent")
        created = forms(fake, f"/Conferences/{conf['sid']}/Participants.json")[-1]
        assert created["Coaching"] == "true" and created["CallSidToCoach"] == agent_leg and created["To"] == "client:sam"
        seen = await alice.get(f"{base}/api/calls/{conv.id}")
        assert (await seen.json())["supervisor_mode"] == "coach"

        async def coached() -> dict[str, Any] | None:  # the agent's panel hears it on the socket
            msg = await ws.receive(timeout=10)
            data = json.loads(msg.data)
            return data if data["type"] == "call" and data["data"]["action"] == "coach" else None

        notice = await eventually(coached, timeout=20)
        assert notice["data"]["call"]["supervisor_mode"] == "coach" and notice["data"]["actor_id"] == "sam"
        await ws.close()

        token = await alice.get(f"{base}/api/voice/token")
        assert token.status == 200
        body = await token.json()
        claims = jwt.decode(body["token"], OctKey.import_key(API_SECRET), algorithms=["HS256"]).claims
        assert claims["iss"] == API_KEY and claims["sub"] == fake.account_sid
        assert claims["grants"]["identity"] == "alice" == body["identity"]
        assert claims["grants"]["voice"] == {"incoming": {"allow": True},
                                             "outgoing": {"application_sid": APP}}
        assert 3500 <= claims["exp"] - time.time() <= 3600 and body["ttl"] == 3600
        assert (await alice.post(f"{base}/api/calls/{conv.id}/hangup", json={}, headers=a_csrf)).status == 200
        assert fake.conferences.conferences[conf["sid"]]["status"] == "completed"
    finally:
        for http in (alice, bob, sam):
            await http.close()
