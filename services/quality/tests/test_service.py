"""The quality service over real NATS and SecantusDB: ingest, replay, surveys and the KPI API."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
from aiohttp import web
from google.protobuf import duration_pb2, timestamp_pb2

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.quality.app import build_app
from omnihub.quality.ingest import Ingestor, consume_events
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import barrier, eventually, read_messages

SMS = contact_pb2.CHANNEL_SMS
T0 = time.time() - 3600


CREDENTIALS = Credentials.generate()


def as_user(sub: str, role: str) -> dict[str, str]:
    """Headers of a call the inbox makes for `sub`."""
    return CREDENTIALS.headers(QUALITY_AUDIENCE, Actor(sub, role))


def ts(offset: float) -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    t.FromNanoseconds(int((T0 + offset) * 1e9))
    return t


def dur(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def ev(eid: str, at: float, conv: str = "", **kind: Any) -> event_pb2.Event:
    e = event_pb2.Event(id=eid, time=ts(at), conversation_id=conv, customer_id=f"cus_{conv}", channel=SMS,
                        queue="support", identity=contact_pb2.Identity(channel=SMS, source_id=f"+1555{conv[-3:]}"),
                        source="test")
    for name, value in kind.items():
        getattr(e, name).CopyFrom(value)
    return e


def stream() -> list[event_pb2.Event]:
    out = []
    waits = {"c001": 10, "c002": 30}  # answered within / after 20 s
    for conv, wait in waits.items():
        out += [
            ev(f"{conv}-q", 0, conv, conversation_queued=event_pb2.ConversationQueued(queue="support")),
            ev(f"{conv}-a", wait, conv, conversation_assigned=event_pb2.ConversationAssigned(
                agent_id="alice", queue="support", wait_duration=dur(wait), first_answer=True)),
            ev(f"{conv}-r", wait + 100, conv, conversation_resolved=event_pb2.ConversationResolved(
                agent_id="alice", resolved=True)),
            ev(f"{conv}-w", wait + 120, conv, conversation_wrapped_up=event_pb2.ConversationWrappedUp(
                agent_id="alice", resolved=True, talk_duration=dur(100), wrap_up_duration=dur(20))),
        ]
    out += [ev("c003-q", 0, "c003", conversation_queued=event_pb2.ConversationQueued(queue="support")),
            ev("c003-x", 40, "c003", conversation_abandoned=event_pb2.ConversationAbandoned(queue="support", wait_duration=dur(40))),
            ev("c004-q", 0, "c004", conversation_queued=event_pb2.ConversationQueued(queue="support")),
            ev("c004-x", 2, "c004", conversation_abandoned=event_pb2.ConversationAbandoned(queue="support", wait_duration=dur(2)))]
    av, busy = routing_pb2.AGENT_STATE_AVAILABLE, routing_pb2.AGENT_STATE_BUSY
    out += [ev("s1", 0, agent_state_changed=event_pb2.AgentStateChanged(agent_id="alice", from_state=routing_pb2.AGENT_STATE_OFFLINE, to_state=av)),
            ev("s2", 10, agent_state_changed=event_pb2.AgentStateChanged(agent_id="alice", from_state=av, to_state=busy)),
            ev("s3", 160, agent_state_changed=event_pb2.AgentStateChanged(agent_id="alice", from_state=busy, to_state=av))]
    return out


async def run_ingest(bus: Bus, ingestor: Ingestor, durable: str) -> None:
    """The service's own consumer over the whole events stream, until it has stored all of it."""
    consumer = await consume_events(bus, ingestor, durable)
    try:
        await barrier(bus, durable, stream=subjects.STREAM_EVENTS, timeout=30)
    finally:
        await consumer.stop()


async def timelines(store: QualityStore) -> dict[str, list[str]]:
    """conversation id -> the event ids in its timeline, sorted."""
    return {d["_id"]: sorted(e["id"] for e in d["timeline"]) async for d in store.conversations.find({}, {"timeline.id": 1})}


async def test_ingest_replay_surveys_and_kpi_api(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    ingestor = Ingestor(store, bus, hold_seconds=0.3)
    events = stream()
    async with bus.batch() as batch:
        for e in events:
            await batch.publish_event(e)
    await run_ingest(bus, ingestor, "q1")
    query = KpiQuery(store, {"support": (0.8, 20.0)})
    _, first = await query.rows(T0 - 10, T0 + 3000)
    assert (first.offered, first.answered, first.abandoned, first.short_abandoned) == (3, 2, 1, 1)
    assert first.service_level_b == 0.5 and first.asa == 20.0 and first.aht == 120.0
    assert abs(first.abandonment_rate - 1 / 3) < 1e-9
    assert first.fcr == 1.0 and first.fcr_eligible == 2

    # replaying the whole stream (a new durable reads it all again) changes nothing
    stored = await timelines(store)
    await run_ingest(bus, ingestor, "q2")
    _, again = await query.rows(T0 - 10, T0 + 3000)
    assert again == first
    assert await timelines(store) == stored
    # every conversation event once in its conversation's timeline, + the 2 survey_sent events quality sent
    assert sum(len(ids) for ids in stored.values()) == len([e for e in events if e.conversation_id]) + 2
    assert await store.events.count_documents({}) == 3  # the agent state changes, which have no conversation

    # one CSAT survey per resolved conversation, even after the replay
    surveys = [messaging_pb2.OutboundMessage.FromString(m.data) for m in await read_messages(bus, subjects.outbound(SMS))]
    assert sorted(s.conversation_id for s in surveys) == ["c001", "c002"]
    assert all(s.kind == messaging_pb2.OUTBOUND_KIND_SURVEY for s in surveys)
    answer = ev("ans1", 400, "c001", survey_answered=event_pb2.SurveyAnswered(
        survey_id=surveys[0].survey_id, question="csat", score=5))
    direct = Ingestor(store, bus)  # no holding: stored and applied within the call
    assert await direct.handle([answer]) == [] and await direct.handle([answer]) == []
    _, with_csat = await query.rows(T0 - 10, time.time() + 10)
    assert with_csat.csat == 1.0 and with_csat.csat_responses == 1
    assert 0 < with_csat.occupancy < 1

    port = free_port()
    runner = web.AppRunner(build_app(query, CREDENTIALS))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with aiohttp.ClientSession(headers=as_user("sam", "supervisor")) as http:
        resp = await http.get(f"http://127.0.0.1:{port}/api/kpis", params={"from": str(T0 - 10), "group_by": "agent"})
        body = await resp.json()
        alice = next(r for r in body["rows"] if r["key"] == "alice")
        assert resp.status == 200 and alice["handled"] == 2 and alice["occupancy"] > 0
        bad = await http.get(f"http://127.0.0.1:{port}/api/kpis", params={"group_by": "colour"})
        assert bad.status == 400
        staff = await (await http.get(f"http://127.0.0.1:{port}/api/staffing",
                                      params={"arrivals": "100", "aht": "180", "target": "0.8/20", "shrinkage": "0.3"})).json()
        assert staff["agents"] == 14 and staff["scheduled_agents"] == 20
        plan = await (await http.get(f"http://127.0.0.1:{port}/api/staffing/plan",
                                     params={"queue": "support", "day": str(T0), "interval": "1h", "shrinkage": "0.3"})).json()
        assert sum(i.get("arrivals", 0) for i in plan["intervals"]) == 3  # short abandons are not offered
        assert all(i["recommendation"]["agents"] >= 1 for i in plan["intervals"] if i.get("arrivals"))
        page = await http.get(f"http://127.0.0.1:{port}/kpis")
        assert "<svg" in await page.text()
    await runner.cleanup()
    await store.close()


async def test_open_conversations_are_held_then_stored_whole_and_never_lost(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    consumer = await consume_events(bus, Ingestor(store, bus, surveys=False, hold_seconds=60), "hold")
    queued = event_pb2.ConversationQueued(queue="support")
    assigned = event_pb2.ConversationAssigned(agent_id="alice", queue="support", wait_duration=dur(5), first_answer=True)
    async with bus.batch() as batch:
        for e in (ev("h1-q", 0, "h001", conversation_queued=queued), ev("h1-a", 5, "h001", conversation_assigned=assigned),
                  ev("h2-q", 0, "h002", conversation_queued=queued),
                  ev("h2-x", 9, "h002", conversation_abandoned=event_pb2.ConversationAbandoned(queue="support", wait_duration=dur(9)))):
            await batch.publish_event(e)
    async def h002_stored_and_acked() -> bool:  # ended: stored (with its rollups) and acked at once
        info = await bus.js.consumer_info(subjects.STREAM_EVENTS, "hold")
        return await store.conversation("h002") is not None and info.num_ack_pending == 2

    await eventually(h002_stored_and_acked, timeout=10)
    assert await store.conversation("h001") is None  # open: held, not acked

    await bus.publish_event(ev("h1-w", 60, "h001", conversation_wrapped_up=event_pb2.ConversationWrappedUp(
        agent_id="alice", resolved=True, talk_duration=dur(55))))
    await barrier(bus, "hold", stream=subjects.STREAM_EVENTS, timeout=30)
    h001 = await store.conversation("h001")
    assert h001 is not None and sorted(e["id"] for e in h001["timeline"]) == ["h1-a", "h1-q", "h1-w"]
    assert h001["talk"] == 55 and h001["wait"] == 5

    await bus.publish_event(ev("h3-q", 0, "h003", conversation_queued=queued))
    async def one_held() -> bool:
        return bool((await bus.js.consumer_info(subjects.STREAM_EVENTS, "hold")).num_ack_pending == 1)

    await eventually(one_held)
    await consumer.stop()  # held, never stored: handed back to JetStream, not lost
    assert await store.conversation("h003") is None
    consumer = await consume_events(bus, Ingestor(store, bus, surveys=False, hold_seconds=0.2), "hold")
    await barrier(bus, "hold", stream=subjects.STREAM_EVENTS, timeout=30)
    await consumer.stop()
    h003 = await store.conversation("h003")
    assert h003 is not None and h003["queued"] and [e["id"] for e in h003["timeline"]] == ["h3-q"]
    await store.close()


async def test_batching_never_changes_the_stored_conversation(mongo_url: str, mongo_db: str) -> None:
    """A whole conversation in one batch is inserted; one event per batch is updated: the documents match."""
    whole, single = QualityStore(mongo_url, mongo_db), QualityStore(mongo_url, mongo_db + "_1")
    for store in (whole, single):
        await store.setup()
    events = [e for e in stream() if e.conversation_id]
    await Ingestor(whole, None, surveys=False).handle(events)  # type: ignore[arg-type]
    one_by_one = Ingestor(single, None, surveys=False)  # type: ignore[arg-type]
    for e in reversed(events):  # and out of order
        await one_by_one.handle([e])
    await one_by_one.handle(events[:3])  # a replay

    def normal(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "timeline": sorted(doc["timeline"], key=lambda e: e["id"])}

    got = [normal(d) async for d in whole.conversations.find().sort("_id")]
    assert got and got == [normal(d) async for d in single.conversations.find().sort("_id")]
    assert {len(d["timeline"]) for d in got} == {4, 2}
    await single.client.drop_database(mongo_db + "_1")
    for store in (whole, single):
        await store.close()


async def test_opted_out_customer_gets_no_survey(bus: Bus, mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    ingestor = Ingestor(store, bus)
    stop = ev("o1", 0, "c009", customer_opt_out=event_pb2.CustomerOptOut(
        identity=contact_pb2.Identity(channel=SMS, source_id="+1555009"), opted_out=True, keyword="STOP"))
    resolved = ev("r1", 5, "c009", conversation_resolved=event_pb2.ConversationResolved(agent_id="a", resolved=True))
    await ingestor.handle([stop])
    await ingestor.handle([resolved])
    assert await store.surveys.count_documents({}) == 0
    await store.close()


async def test_evaluation_workflow_and_calibration_over_http(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    query = KpiQuery(store, {})
    port = free_port()
    runner = web.AppRunner(build_app(query, CREDENTIALS))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    qa1, alice, bob, sam = (as_user("qa1", "supervisor"), as_user("alice", "agent"), as_user("bob", "agent"),
                            as_user("sam", "supervisor"))
    perfect = {"greeting": 5, "tone": 5, "no_rudeness": 1, "correct": 5, "policy": 1, "verified": 5, "recorded": 5, "efficient": 5}
    async with aiohttp.ClientSession() as http:
        anonymous = await http.post(f"{base}/api/evaluations", json={
            "conversation_id": "c1", "agent_id": "alice", "evaluator_id": "qa1", "answers": perfect})
        assert anonymous.status == 401  # the finding: 201 without any session
        by_agent = await http.post(f"{base}/api/evaluations", headers=bob, json={
            "conversation_id": "c1", "agent_id": "alice", "answers": perfect})
        assert by_agent.status == 403
        created = await http.post(f"{base}/api/evaluations", headers=qa1, json={
            "conversation_id": "c1", "agent_id": "alice", "evaluator_id": "someone-else", "answers": perfect | {"tone": 3}})
        assert created.status == 201
        ev1 = await created.json()
        assert 0 < ev1["score"] < 100 and ev1["status"] == "submitted" and ev1["evaluator_id"] == "qa1"
        critical = await (await http.post(f"{base}/api/evaluations", headers=qa1, json={
            "conversation_id": "c2", "agent_id": "alice", "answers": perfect | {"policy": 0}})).json()
        assert critical["score"] == 0
        posing = await http.post(f"{base}/api/evaluations/{ev1['_id']}/acknowledge", json={"actor": "alice"})
        assert posing.status == 401  # the finding: "as bob" by a body field, 200
        wrong_actor = await http.post(f"{base}/api/evaluations/{ev1['_id']}/acknowledge", headers=bob,
                                      json={"actor": "alice"})
        assert wrong_actor.status == 403
        no_reason = await http.post(f"{base}/api/evaluations/{ev1['_id']}/dispute", headers=alice, json={})
        assert no_reason.status == 400
        disputed = await http.post(f"{base}/api/evaluations/{ev1['_id']}/dispute", headers=alice,
                                   json={"note": "I was polite"})
        assert (await disputed.json())["status"] == "disputed"
        again = await http.post(f"{base}/api/evaluations/{ev1['_id']}/acknowledge", headers=alice, json={})
        assert again.status == 409
        self_resolve = await http.post(f"{base}/api/evaluations/{ev1['_id']}/resolve", headers=alice,
                                       json={"note": "fine by me", "new_score": 100})
        assert self_resolve.status == 403
        resolved = await (await http.post(f"{base}/api/evaluations/{ev1['_id']}/resolve", headers=sam,
                                          json={"note": "agreed", "new_score": 95})).json()
        assert resolved["status"] == "resolved" and resolved["score"] == 95
        mine = await (await http.get(f"{base}/api/evaluations", headers=alice)).json()
        assert len(mine) == 2
        assert (await http.get(f"{base}/api/evaluations", params={"agent": "alice"}, headers=bob)).status == 403
        assert (await http.get(f"{base}/api/evaluations", params={"agent": "alice"})).status == 401
        assert len(await (await http.get(f"{base}/api/evaluations", headers=bob)).json()) == 0
        for evaluator, tone in (("qa1", 5), ("qa2", 4), ("qa3", 5)):
            for conv, correct in (("k1", 5), ("k2", 2)):
                await http.post(f"{base}/api/evaluations", headers=as_user(evaluator, "supervisor"), json={
                    "conversation_id": conv, "agent_id": "bob", "calibration": True,
                    "answers": perfect | {"tone": tone, "correct": correct}})
        alpha = await (await http.post(f"{base}/api/qa/calibration", headers=sam,
                                       json={"conversation_ids": ["k1", "k2"]})).json()
        assert alpha["evaluators"] == 3 and alpha["conversations"] == 2 and 0.8 < alpha["krippendorff_alpha"] <= 1
    await runner.cleanup()
    await store.close()
