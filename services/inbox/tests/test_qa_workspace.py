"""The QA workspace over a real inbox, a real quality service, SecantusDB and the Twilio double: the evaluator is the
logged-in user, the recording proxy, sampling with seeds, calibration alpha and disputes."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.inbox.api import Inbox
from omnihub.inbox.qa import TwilioRecordings
from omnihub.inbox.store import InboxStore
from omnihub.quality.app import build_app as build_quality
from omnihub.quality.qa import QaService
from omnihub.quality.qastore import QaStore
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.ports import free_port

from .conftest import login, running_inbox, users

USERS = users(("alice", "agent"), ("sam", "supervisor"), ("ada", "admin"))
PERFECT = {"greeting": 5, "tone": 5, "no_rudeness": 1, "correct": 5, "policy": 1, "verified": 5, "recorded": 5,
           "efficient": 5}
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units example with
# missing values: interval alpha = 0.849 (the published value).
K2011 = {"A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None], "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
         "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None], "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]}


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * 8000)
    return out.getvalue()


@dataclass
class Served:
    inbox: str
    quality: str
    store: QualityStore
    messages: InboxStore
    fake: FakeTwilio
    credentials: Credentials

    def as_user(self, user: str, role: str = "supervisor") -> dict[str, str]:
        return self.credentials.headers(QUALITY_AUDIENCE, Actor(user, role))


@pytest.fixture
async def served(mongo_url: str, mongo_db: str) -> AsyncIterator[Served]:
    credentials = Credentials.generate()
    quality_store = QualityStore(mongo_url, mongo_db + "_q")
    await quality_store.setup()
    await QaStore(quality_store).setup()
    quality = web.AppRunner(build_quality(KpiQuery(quality_store, {}), credentials, QaService(quality_store, None)))
    await quality.setup()
    qport = free_port()
    await web.TCPSite(quality, "127.0.0.1", qport).start()
    fake = FakeTwilio()
    await fake.start()

    async def with_recordings(inbox: Inbox) -> None:
        inbox.recordings = TwilioRecordings(fake.account_sid, fake.auth_token, fake.base_url)

    async with running_inbox(mongo_url, mongo_db, USERS, quality_url=f"http://127.0.0.1:{qport}",
                             credentials=credentials, prepare=with_recordings) as running:
        yield Served(running.base, f"http://127.0.0.1:{qport}", quality_store, running.store, fake, credentials)
    await quality.cleanup()
    await fake.stop()
    await quality_store.close()


async def handled(s: Served, cid: str, agent: str = "alice", channel: str = "sms", recording: str = "",
                  customer: str = "cus_1") -> None:
    """A conversation as quality stores it once handled (the ingest path has its own tests)."""
    await s.store.conversations.insert_one({"_id": cid, "agent": agent, "channel": channel, "queue": "support",
                                            "customer_id": customer, "created": time.time() - 600, "handled": True,
                                            "recording_uri": recording})




async def test_an_evaluation_carries_the_logged_in_evaluator_whatever_the_body_says(served: Served) -> None:
    await handled(served, "cnv_e1")
    await served.messages.add_messages([{"_id": "m1", "conversation_id": "cnv_e1", "customer_id": "cus_1",
                                         "time": 1.0, "text": "my parcel is late", "direction": "incoming"},
                                        {"_id": "m2", "conversation_id": "cnv_other", "customer_id": "cus_1",
                                         "time": 2.0, "text": "another conversation", "direction": "incoming"}])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, served.inbox, "sam")
        record = await (await http.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_e1")).json()
        assert [m["text"] for m in record["messages"]] == ["my parcel is late"]  # this conversation's transcript
        assert record["agent"] == "alice" and "recording_uri" not in record
        resp = await http.post(f"{served.inbox}/api/supervisor/qa/evaluations", headers=csrf, json={
            "conversation_id": "cnv_e1", "answers": PERFECT, "evaluator_id": "mallory", "agent_id": "bob"})
        assert resp.status == 201, await resp.text()
        doc = await resp.json()
        assert doc["evaluator_id"] == "sam" and doc["agent_id"] == "alice" and doc["score"] == 100
        stored = await served.store.evaluations.find_one({"_id": doc["_id"]})
        assert stored is not None and stored["evaluator_id"] == "sam"
        bad = await http.post(f"{served.inbox}/api/supervisor/qa/evaluations", headers=csrf,
                              json={"conversation_id": "cnv_e1", "answers": {"greeting": 9}})
        assert bad.status == 400
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, served.inbox, "alice")
        refused = await http.post(f"{served.inbox}/api/supervisor/qa/evaluations", headers=csrf,
                                  json={"conversation_id": "cnv_e1", "answers": PERFECT})
        assert refused.status == 403


async def test_the_recording_streams_through_the_inbox_with_twilio_auth(served: Served) -> None:
    audio = wav_bytes()
    await handled(served, "cnv_r1", channel="voice", recording=served.fake.add_recording(audio))
    await handled(served, "cnv_r2", channel="voice", recording="http://127.0.0.1:1/2010-04-01/elsewhere")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anon:
        assert (await anon.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_r1/recording")).status == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, served.inbox, "alice")
        assert (await http.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_r1/recording")).status == 403
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, served.inbox, "sam")
        resp = await http.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_r1/recording")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("audio/")
        body = await resp.read()
        assert body == audio
        assert served.fake.account_sid not in str(resp.headers) and served.fake.auth_token not in str(resp.headers)
        assert ("GET", f"Recordings/{served.fake.account_sid}", {}) not in served.fake.requests
        assert sum(1 for r in served.fake.requests if r[1].startswith("Recordings/")) == 1  # the double checked auth
        foreign = await http.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_r2/recording")
        assert foreign.status == 404  # never fetched: not the account's recording
        assert sum(1 for r in served.fake.requests if r[1].startswith("Recordings/")) == 1
        none = await http.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_e9/recording")
        assert none.status == 404
    served.fake.auth_token = "changed"  # Twilio refuses the inbox's credentials: a clear 502, no audio
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, served.inbox, "sam")
        assert (await http.get(f"{served.inbox}/api/supervisor/qa/conversations/cnv_r1/recording")).status == 502


async def test_the_queue_comes_from_a_sample_drawn_again_by_its_seed(served: Served) -> None:
    for i in range(8):
        await handled(served, f"cnv_s{i}", agent="alice" if i % 2 else "bob")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, served.inbox, "sam")
        first = await (await http.post(f"{served.inbox}/api/supervisor/qa/samples", headers=csrf,
                                       json={"policy": "weekly", "seed": 42})).json()
        again = await (await http.post(f"{served.inbox}/api/supervisor/qa/samples", headers=csrf,
                                       json={"policy": "weekly", "seed": 42})).json()
        assert first["seed"] == 42 and len(first["items"]) == 6  # at least 3 per agent
        assert first["items"] == again["items"]
        queue = await (await http.get(f"{served.inbox}/api/supervisor/qa/queue")).json()
        assert {q["conversation_id"] for q in queue} == {i["conversation_id"] for i in first["items"]}
        assert all(q["seed"] == 42 and q["policy"] == "weekly" for q in queue)
        done = queue[0]["conversation_id"]
        resp = await http.post(f"{served.inbox}/api/supervisor/qa/evaluations", headers=csrf,
                               json={"conversation_id": done, "answers": PERFECT})
        assert resp.status == 201
        after = await (await http.get(f"{served.inbox}/api/supervisor/qa/queue")).json()
        assert done not in {q["conversation_id"] for q in after} and len(after) == len(queue) - 1
        unknown = await http.post(f"{served.inbox}/api/supervisor/qa/samples", headers=csrf, json={"policy": "x"})
        assert unknown.status == 400


async def test_calibration_alpha_matches_the_published_reference(served: Served) -> None:
    units = [f"cnv_k{i}" for i in range(12)]
    for cid in units:
        await handled(served, cid, agent="bob")
    async with aiohttp.ClientSession() as http:
        opened = await http.post(f"{served.quality}/api/qa/calibrations", headers=served.as_user("sam"),
                                 json={"name": "Krippendorff 2011", "conversation_ids": units})
        assert opened.status == 201
        session = (await opened.json())["_id"]
        assert (await opened.json())["reading"] == "insufficient"
        for evaluator, values in K2011.items():
            for cid, value in zip(units, values, strict=True):
                if value is None:
                    continue
                # the total score is linear in the greeting's mark, and alpha (interval) ignores linear scaling
                resp = await http.post(f"{served.quality}/api/evaluations", headers=served.as_user(evaluator), json={
                    "conversation_id": cid, "calibration_id": session, "answers": PERFECT | {"greeting": value}})
                assert resp.status == 201, await resp.text()
        result = await (await http.get(f"{served.quality}/api/qa/calibrations/{session}",
                                       headers=served.as_user("sam"))).json()
        assert round(result["krippendorff_alpha"], 3) == 0.849 and result["reading"] == "reliable"
        assert result["evaluators"] == ["A", "B", "C", "D"]
        outside = await http.post(f"{served.quality}/api/evaluations", headers=served.as_user("A"), json={
            "conversation_id": "cnv_elsewhere", "agent_id": "bob", "calibration_id": session, "answers": PERFECT})
        assert outside.status == 400
        # two evaluators who disagree completely: not reliable
        pair = units[:3]
        split = await (await http.post(f"{served.quality}/api/qa/calibrations", headers=served.as_user("sam"),
                                       json={"conversation_ids": pair})).json()
        for evaluator, marks in (("E", [1, 5, 3]), ("F", [5, 1, 3])):
            for cid, mark in zip(pair, marks, strict=True):
                await http.post(f"{served.quality}/api/evaluations", headers=served.as_user(evaluator), json={
                    "conversation_id": cid, "calibration_id": split["_id"], "answers": PERFECT | {"greeting": mark}})
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, served.inbox, "sam")
        listed = await (await http.get(f"{served.inbox}/api/supervisor/qa/calibrations")).json()
        readings = {c["_id"]: (c["reading"], c["krippendorff_alpha"]) for c in listed}
        assert readings[session][0] == "reliable" and readings[split["_id"]][0] == "unreliable"
        assert readings[split["_id"]][1] < 0.667


async def test_a_dispute_is_listed_and_resolved_by_a_supervisor(served: Served) -> None:
    await handled(served, "cnv_d1")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as sam, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice:
        sam_csrf = await login(sam, served.inbox, "sam")
        alice_csrf = await login(alice, served.inbox, "alice")
        doc = await (await sam.post(f"{served.inbox}/api/supervisor/qa/evaluations", headers=sam_csrf, json={
            "conversation_id": "cnv_d1", "answers": PERFECT | {"tone": 2}})).json()
        disputed = await alice.post(f"{served.inbox}/api/evaluations/{doc['_id']}/dispute", headers=alice_csrf,
                                    json={"note": "The customer was shouting; I stayed calm"})
        assert disputed.status == 200, await disputed.text()
        disputes = await (await sam.get(f"{served.inbox}/api/supervisor/qa/evaluations?status=disputed")).json()
        assert [d["_id"] for d in disputes] == [doc["_id"]]
        assert disputes[0]["dispute_reason"] == "The customer was shouting; I stayed calm"
        resolved = await sam.post(f"{served.inbox}/api/evaluations/{doc['_id']}/resolve", headers=sam_csrf,
                                  json={"note": "Agreed, tone re-scored", "new_score": 90})
        assert resolved.status == 200
        body = await resolved.json()
        assert body["status"] == "resolved" and body["resolve_by"] == "sam" and body["score"] == 90
        assert await (await sam.get(f"{served.inbox}/api/supervisor/qa/evaluations?status=disputed")).json() == []
        assert (await alice.get(f"{served.inbox}/api/supervisor/qa/evaluations?status=disputed")).status == 403
