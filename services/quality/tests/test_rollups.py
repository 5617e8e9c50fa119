"""Rollups equal a full recomputation from the stored events, whatever the batching, order and replays."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.quality import rollups
from omnihub.quality import store as store_module
from omnihub.quality.ingest import Ingestor, conversation_batch
from omnihub.quality.queries import KpiQuery, ScanQuery
from omnihub.quality.rollup_writer import RollupWriter
from omnihub.quality.rollups import RollupConfig
from omnihub.quality.store import QualityStore, changed_document, created_document
from tests.kpis.events import event, survey_doc

T0 = 1_764_547_200.0  # 2025-12-01T00:00:00Z
CONFIG = RollupConfig(thresholds={"support": 20.0, "sales": 30.0}, short_abandon=5.0, timezone="Europe/Berlin")


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Conversations of every shape (answered, transferred, reopened, abandoned short and long), agent state
    changes, survey answers and a customer merge, over two days."""
    specs: list[dict[str, Any]] = []
    n = draw(st.integers(1, 8))
    for i in range(n):
        conv, customer = f"c{i}", f"u{draw(st.integers(0, 3))}"
        at = T0 + draw(st.integers(0, 2 * 86400))
        queue = draw(st.sampled_from(["support", "sales"]))
        channel = draw(st.sampled_from(["sms", "email", "voice"]))
        base = {"conv": conv, "customer": customer, "channel": channel, "queue": queue}
        specs.append({**base, "kind": "queued", "at": at})
        shape = draw(st.sampled_from(["answered", "transfer", "reopen", "abandon", "open"]))
        wait = draw(st.integers(0, 60))
        if shape == "abandon":
            specs.append({**base, "kind": "abandoned", "at": at + wait, "wait": wait})
            continue
        if shape == "open":
            continue
        agent = draw(st.sampled_from(["alice", "bob"]))
        specs.append({**base, "kind": "assigned", "at": at + wait, "agent": agent, "wait": wait})
        end = at + wait + draw(st.integers(1, 2000))
        if shape == "transfer":
            specs.append({**base, "kind": "transferred", "at": end, "from": agent, "to": "carol"})
            specs.append({**base, "kind": "assigned", "at": end + 5, "agent": "carol", "first": False})
            agent, end = "carol", end + 300
        specs.append({**base, "kind": "wrapped_up", "at": end + 30, "agent": agent, "talk": end - at - wait,
                      "wrap": 30, "resolved": draw(st.booleans())})
        specs.append({**base, "kind": "resolved", "at": end, "agent": agent, "resolved": True})
        if shape == "reopen":
            specs.append({**base, "kind": "reopened", "at": end + 600})
        if draw(st.booleans()):
            specs.append({**base, "kind": "survey", "at": end + 60, "agent": agent, "question": "csat",
                          "score": draw(st.integers(1, 5))})
    for agent in ("alice", "bob"):
        for _ in range(draw(st.integers(0, 4))):
            specs.append({"kind": "state", "agent": agent, "at": T0 + draw(st.integers(0, 2 * 86400)),
                          "to": draw(st.sampled_from(["AVAILABLE", "BUSY", "WRAP_UP", "AWAY", "OFFLINE"]))})
    if draw(st.booleans()):
        specs.append({"kind": "merged", "at": T0 + draw(st.integers(0, 2 * 86400)), "into": "u0", "merged": "u1"})
    return specs


async def buckets(store: QualityStore) -> dict[str, dict[str, int]]:
    """Every bucket's non-zero counters."""
    out = {}
    for bid, c in (await store.bucket_counters()).items():
        counters = {k: v for k, v in c.items() if v}
        if counters:
            out[bid] = counters
    return out


async def ingest(store: QualityStore, specs: list[dict[str, Any]], batches: list[list[int]]) -> None:
    await store.setup()
    for s in specs:
        if s["kind"] == "survey":
            await store.claim_survey(survey_doc(s))
    ingestor = Ingestor(store, None, surveys=False, rollup=CONFIG)  # type: ignore[arg-type]
    events = [event(s, i) for i, s in enumerate(specs)]
    for batch in batches:
        await ingestor.handle([events[i] for i in batch])


async def check(url: str, specs: list[dict[str, Any]], seed: int) -> None:
    rng = random.Random(seed)
    ordered = QualityStore(url, f"r_sorted_{seed}")
    shuffled = QualityStore(url, f"r_shuffled_{seed}")
    try:
        by_time = sorted(range(len(specs)), key=lambda i: specs[i]["at"])
        await ingest(ordered, specs, [by_time])
        order = list(range(len(specs))) + rng.sample(range(len(specs)), k=len(specs) // 2)  # with replays
        rng.shuffle(order)
        cuts = sorted(rng.sample(range(1, len(order)), k=min(3, len(order) - 1))) if len(order) > 1 else []
        batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
        await ingest(shuffled, specs, batches)
        got = await buckets(shuffled)
        assert got == await buckets(ordered)
        await RollupWriter(shuffled, CONFIG).rebuild("test")  # the full recomputation from what was stored
        assert await buckets(shuffled) == got
    finally:
        for store in (ordered, shuffled):
            await store.client.drop_database(store.db.name)
            await store.close()


@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=streams(), seed=st.integers(0, 2**16))
def test_rollups_equal_full_recomputation_in_any_order_and_after_replays(mongo_url: str, specs: list[dict[str, Any]],
                                                                         seed: int) -> None:
    asyncio.run(check(mongo_url, specs, seed))


async def test_a_service_on_data_from_before_rollups_builds_them_once_with_progress(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    legacy = [  # conversations as quality stored them before rollups: flat fields, no per-event maps
        {"_id": "old1", "created": T0 + 60, "channel": "sms", "queue": "support", "first_queue": "support",
         "customer_id": "u1", "queued": True, "agent": "alice", "answered": T0 + 70, "wait": 10.0, "handled": True,
         "talk": 100.0, "hold": 20.0, "wrap": 30.0, "resolved": True, "closed": T0 + 200},
        {"_id": "old2", "created": T0 + 120, "channel": "sms", "queue": "support", "customer_id": "u2", "queued": True,
         "abandoned": T0 + 160, "abandon_wait": 40.0},
        {"_id": "old3", "created": T0 + 180, "channel": "voice", "queue": "support", "customer_id": "u3",
         "queued": True, "abandoned": T0 + 182, "abandon_wait": 2.0},
    ]
    await store.conversations.insert_many(legacy)
    await store.insert_events([{"_id": f"s{i}", "kind": "agent_state_changed", "time": T0 + t, "agent": "alice",
                                "from_state": before, "to_state": state}
                                for i, (t, before, state) in enumerate([(0, "OFFLINE", "AVAILABLE"), (70, "AVAILABLE", "BUSY"),
                                                                        (250, "BUSY", "AVAILABLE"), (900, "AVAILABLE", "AWAY")])])
    writer = RollupWriter(store, CONFIG)
    with capture_logs() as logs:
        assert await writer.ensure() is True
    events = [e["event"] for e in logs]
    assert events[0] == "quality.rollups.rebuild_started" and "quality.rollups.rebuild_progress" in events
    assert events[-1] == "quality.rollups.rebuild_finished"
    assert await writer.ensure() is False  # once
    query = KpiQuery(store, {"support": (0.8, 20.0), "sales": (0.8, 30.0)}, 5.0, "Europe/Berlin")
    query.clock = lambda: T0 + 3600
    _, rolled = await query.rows(T0, T0 + 3600)
    _, scanned = await ScanQuery(store, {"support": (0.8, 20.0), "sales": (0.8, 30.0)}, 5.0).rows(T0, T0 + 3600)
    for figure in ("offered", "answered", "abandoned", "short_abandoned", "service_level_a", "service_level_b", "asa",
                   "aht", "abandonment_rate", "fcr", "fcr_eligible", "occupancy", "availability"):
        assert getattr(rolled, figure) == pytest.approx(getattr(scanned, figure)), figure
    assert (rolled.offered, rolled.answered, rolled.aht, rolled.service_level_a) == (2, 1, 150.0, 0.5)
    assert rolled.occupancy == pytest.approx(180 / (70 + 180 + 650))
    await store.close()


async def test_rollups_of_the_older_layout_are_rebuilt_once_in_the_packed_one(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    writer = RollupWriter(store, CONFIG)
    doc = {"_id": "c1", "created": T0 + 60, "channel": "sms", "queue": "support", "customer_id": "u1",
           "queued": True, "offers": {"e1": [T0 + 60, "support"]}}
    await store.conversations.insert_one(doc)
    # as layout v4 stored them: nested {queue|channel: {counter: n}} per interval, built under its fingerprint
    await store.rollups.insert_one({"_id": f"s|q|{int(T0)}", "l": "s", "k": "q", "t": int(T0),
                                    "q": {"support|sms": {"conversations": 1, "offered": 1}}})
    await store.set_meta("rollups", fingerprint=f"{CONFIG.fingerprint()} interval documents v4 (agent x queue)")
    with capture_logs() as logs:
        assert await writer.ensure() is True
    assert [e["event"] for e in logs][-1] == "quality.rollups.rebuild_finished"
    assert await writer.ensure() is False  # once
    assert all("q" not in d and d["p"] for d in await store.rollups.find({}).to_list(None))
    assert (await store.bucket_counters())[f"s|q|{int(T0)}|sms|support"] == {"conversations": 1, "offered": 1}
    await store.close()


async def test_open_spans_are_read_for_agents_whose_state_counts_also_as_stored_before(mongo_url: str,
                                                                                       mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.agents.insert_many([{"_id": "alice", "t": T0, "state": "AVAILABLE"},  # as kept before "open"
                                    {"_id": "bob", "t": T0, "state": "OFFLINE"}])
    await store.setup()
    await store.note_last_state("carol", T0 + 10, "BUSY")
    await store.note_last_state("dan", T0 + 10, "OFFLINE")
    assert sorted(d["_id"] for d in await store.last_states(T0 + 60)) == ["alice", "carol"]
    assert [d["_id"] for d in await store.last_states(T0 + 60, "carol")] == ["carol"]
    assert await store.last_states(T0 + 5) == [{"_id": "alice", "t": T0, "state": "AVAILABLE", "open": True}]
    await store.close()


def test_a_stored_contribution_reads_back_the_same_in_either_stored_form() -> None:
    doc = {"_id": "c1", "created": 1_772_445_600.0, "channel": "sms", "customer_id": "cus1",
           "offers": {"e1": [1_772_445_600.0, "support"]},
           "assigns": {"e2": [1_772_445_612.0, "alice", True, 12.0, False]},
           "wraps": {"e3": [1_772_445_700.0, "alice", 80.0, 5.0, 3.0]}, "closed": 1_772_445_700.0,
           "outcomes": {"e3": [1_772_445_700.0, True]}}
    contribution = rollups.conversation(doc, RollupConfig(timezone="Asia/Shanghai"))
    compact = rollups.stored(contribution)
    assert rollups.loaded(compact) == contribution
    assert len(compact) == 3  # a slot and its day share their counters: one group per kind (q, a, x)
    legacy = [[bid, counters] for bid, counters in sorted(contribution.items())]
    assert rollups.loaded(legacy) == contribution


async def test_a_change_applied_here_leaves_a_conversation_as_the_server_does(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    stored = {"_id": "c1", "created": 100.0, "answered": None, "abandoned": None, "closed": 150.0, "queue": "support",
              "offers": {"e1": [100.0, "support"]}, "timeline": [{"id": "e1"}], "kpi": 0}
    change = {"$min": {"created": 90.0, "answered": 120.0, "first": 5.0},
              "$max": {"closed": 140.0, "reopened": 160.0, "abandoned": 130.0},
              "$set": {"queue": "sales", "offers.e2": [95.0, "sales"], "wraps.e3": [170.0, "alice", 1.0, 0.0, 2.0]},
              "$addToSet": {"timeline": {"$each": [{"id": "e2"}]}}}
    await store.conversations.insert_one(dict(stored))
    await store.conversations.update_one({"_id": "c1"}, change)
    (kpi_doc,) = await store.kpi_documents(["c1"])
    assert store_changed(kpi_doc) == store_changed(changed_document({k: v for k, v in stored.items() if k != "timeline"},
                                                                    change))
    assert stored["offers"] == {"e1": [100.0, "support"]}  # the stored form it was given is left as it was
    await store.client.drop_database(mongo_db)
    await store.close()


def store_changed(doc: dict[str, Any]) -> dict[str, Any]:
    """A document with its sub-documents' keys in one order (the server keeps its own)."""
    return {k: (dict(sorted(v.items())) if isinstance(v, dict) else v) for k, v in sorted(doc.items())}


async def test_a_conversation_stored_with_its_contribution_in_the_older_form_changes_the_buckets_once(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    base = {"conv": "c1", "customer": "u1", "channel": "sms", "queue": "support"}
    specs = [{**base, "kind": "queued", "at": T0 + 60}, {**base, "kind": "assigned", "at": T0 + 70, "agent": "alice",
                                                        "wait": 10},
             {**base, "kind": "resolved", "at": T0 + 400, "agent": "alice", "resolved": True},
             {**base, "kind": "wrapped_up", "at": T0 + 430, "agent": "alice", "talk": 330, "wrap": 30},
             {"conv": "c2", "customer": "u1", "channel": "voice", "queue": "support", "kind": "queued",
              "at": T0 + 3600}]
    ingestor = Ingestor(store, None, surveys=False, rollup=CONFIG)  # type: ignore[arg-type]
    events = [event(s, i) for i, s in enumerate(specs)]
    await ingestor.handle(events[:2])
    (doc,) = await store.kpi_documents(["c1"])
    assert doc["kpi"] == 0  # the FCR flag its applied contribution was computed with, not the contribution
    older = rollups.stored(rollups.applied(doc, CONFIG))  # as the release before stored it
    await store.conversations.update_one({"_id": "c1"}, {"$set": {"kpi": older}})
    await ingestor.handle(events[2:])
    got = await buckets(store)
    (doc,) = await store.kpi_documents(["c1"])
    assert doc["kpi"] == 1  # the customer came back within 7 days: a repeat
    await RollupWriter(store, CONFIG).rebuild("test")
    assert await buckets(store) == got
    await store.client.drop_database(mongo_db)
    await store.close()


async def test_reads_of_many_ids_find_every_one(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    ids = [f"c{i}" for i in range(2 * store_module.IN_CHUNK + 7)]  # read in chunks (SecantusDB's $in is quadratic)
    await store.conversations.insert_many([{"_id": i, "customer_id": i} for i in ids])
    await store.customers.insert_many([{"_id": i} for i in ids])
    assert {d["_id"] for d in await store.kpi_documents(ids)} == set(ids)
    assert set(await store.customer_docs(ids)) == set(ids)
    assert await store.stored_ids([*ids, "missing"]) == set(ids)
    await store.client.drop_database(mongo_db)
    await store.close()


async def test_a_new_conversations_document_is_what_the_servers_upsert_of_its_change_creates(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    base = {"conv": "c1", "customer": "u1", "channel": "sms", "queue": "support"}
    specs = [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 9, "agent": "alice", "wait": 9},
             {**base, "kind": "transferred", "at": T0 + 90, "from": "alice", "to": "bob", "to_queue": "sales"},
             {**base, "kind": "assigned", "at": T0 + 95, "agent": "bob", "first": False, "queue": "sales"},
             {**base, "kind": "resolved", "at": T0 + 300, "agent": "bob"},
             {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "bob", "talk": 200, "wrap": 30},
             {**base, "kind": "reopened", "at": T0 + 900},
             {"conv": "c2", "customer": "u2", "channel": "voice", "queue": "sales", "kind": "queued", "at": T0 + 5},
             {"conv": "c2", "customer": "u2", "channel": "voice", "queue": "sales", "kind": "abandoned", "at": T0 + 50,
              "wait": 45}]
    events = [event(s, i) for i, s in enumerate(specs)]
    message = event_pb2.Event(id="evt_msg", conversation_id="c1", customer_id="u1", channel=contact_pb2.CHANNEL_SMS)
    message.time.FromNanoseconds(int((T0 + 20) * 1e9))
    message.message_created.message.id = "m1"
    recording = event_pb2.Event(id="evt.rec$1", conversation_id="c2", channel=contact_pb2.CHANNEL_VOICE)
    recording.time.FromNanoseconds(int((T0 + 60) * 1e9))
    recording.recording_available.recording_uri = "https://example.test/r.wav"
    batch = conversation_batch([*events, message, recording, events[1]])  # an event twice: a redelivery
    for cid, change in batch.items():
        await store.conversations.update_one({"_id": cid}, change.update(), upsert=True)
        (stored,) = await store.conversations.find({"_id": cid}).to_list(None)
        assert store_changed(change.document(cid)) == store_changed(stored)
        assert change.document(cid) == created_document(cid, change.update())
    await store.client.drop_database(mongo_db)
    await store.close()


async def test_a_conversations_later_events_write_its_customers_document_only_when_its_contact_or_close_changes(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    await store.db.command("profile", 2)  # the server's record of every operation (an update that changes nothing too)
    base = {"conv": "c1.x", "customer": "u1", "channel": "sms", "queue": "support"}
    specs = [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 10, "agent": "alice"},
             {**base, "kind": "resolved", "at": T0 + 300, "agent": "alice"},
             {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "alice", "talk": 290, "wrap": 30}]
    events = [event(s, i) for i, s in enumerate(specs)]
    ingestor = Ingestor(store, None, surveys=False, rollup=CONFIG)  # type: ignore[arg-type]

    async def customer_writes() -> int:
        return await store.db["system.profile"].count_documents(
            {"ns": f"{mongo_db}.customers", "op": {"$in": ["insert", "update"]}})

    await ingestor.handle(events[:1])
    assert await customer_writes() == 1  # the new customer's contact
    await ingestor.handle(events[1:2])
    await ingestor.handle(events[:2])  # a replay
    assert await customer_writes() == 1  # neither changes the contact: no write
    await ingestor.handle(events[2:])
    assert await customer_writes() == 2  # the close
    assert await store.customer("u1") == {"_id": "u1", "contacts": {"c1_x": T0}, "closes": {"c1_x": T0 + 300},
                                          "ids": {"c1_x": "c1.x"}}
    await store.db.command("profile", 0)
    await store.client.drop_database(mongo_db)
    await store.close()


async def test_a_customers_document_is_read_once_per_batch_also_for_the_earlier_conversations_a_contact_affects(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    base = {"conv": "c1", "customer": "u1", "channel": "sms", "queue": "support"}
    specs = [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 10, "agent": "alice"},
             {**base, "kind": "resolved", "at": T0 + 300, "agent": "alice"},
             {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "alice", "talk": 290, "wrap": 30},
             {**base, "conv": "c2", "kind": "queued", "at": T0 + 86400}]
    events = [event(s, i) for i, s in enumerate(specs)]
    ingestor = Ingestor(store, None, surveys=False, rollup=CONFIG)  # type: ignore[arg-type]
    await ingestor.handle(events[:4])
    await store.db.command("profile", 2)
    await ingestor.handle(events[4:])  # c2 makes c1 a repeat: c1 is recomputed with the same customer
    reads = await store.db["system.profile"].count_documents({"ns": f"{mongo_db}.customers", "op": "query"})
    assert reads == 1
    (c1,) = await store.kpi_documents(["c1"])
    assert c1["kpi"] == 1
    slots = [c for bid, c in (await buckets(store)).items() if bid.startswith("s|q|")]
    assert sum(c.get("fcr_eligible", 0) for c in slots) == 1
    assert sum(c.get("fcr_ok", 0) for c in slots) == 0
    await store.db.command("profile", 0)
    await store.client.drop_database(mongo_db)
    await store.close()


async def test_an_earlier_conversation_a_new_contact_makes_a_repeat_keeps_its_flag_without_being_rewritten(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    base = {"conv": "c1", "customer": "u1", "channel": "sms", "queue": "support"}
    specs = [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 10, "agent": "alice"},
             {**base, "kind": "resolved", "at": T0 + 300, "agent": "alice"},
             {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "alice", "talk": 290, "wrap": 30},
             {**base, "conv": "c2", "kind": "queued", "at": T0 + 86400},
             {**base, "kind": "resolved", "at": T0 + 2 * 86400, "agent": "alice"}]  # closed after c2 came
    events = [event(s, i) for i, s in enumerate(specs)]
    ingestor = Ingestor(store, None, surveys=False, rollup=CONFIG)  # type: ignore[arg-type]
    await ingestor.handle(events[:4])
    await store.db.command("profile", 2)
    await ingestor.handle(events[4:5])  # c2 makes c1 a repeat
    rewrites = await store.db["system.profile"].count_documents({"ns": f"{mongo_db}.conversations", "op": "update"})
    await store.db.command("profile", 0)
    assert rewrites == 0  # c1's flag went to fcr_flags, not into its document with the timeline
    (c1,) = await store.kpi_documents(["c1"])
    assert c1["kpi"] == 1
    await ingestor.handle(events[5:])  # c1 closes again after c2's contact: no repeat any more
    (c1,) = await store.kpi_documents(["c1"])
    assert c1["kpi"] == 0  # its flag is kept where it is read from
    await ingestor.handle(events)  # a replay changes nothing
    got = await buckets(store)
    await RollupWriter(store, CONFIG).rebuild("test")
    assert await buckets(store) == got
    assert await store.flags.count_documents({}) == 0  # a rebuild applies each conversation afresh: into its kpi
    await store.client.drop_database(mongo_db)
    await store.close()


def test_a_change_of_the_repeat_flag_alone_is_the_difference_of_the_two_contributions() -> None:
    base = {"conv": "c1", "customer": "u1", "channel": "sms", "queue": "support"}
    shapes = {
        "resolved": [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 9, "agent": "alice"},
                     {**base, "kind": "resolved", "at": T0 + 300, "agent": "alice"},
                     {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "alice", "talk": 290, "wrap": 30}],
        "unresolved": [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 9, "agent": "bob"},
                       {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "bob", "resolved": False},
                       {**base, "kind": "resolved", "at": T0 + 300, "agent": "bob", "resolved": False}],
        "transferred": [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 9, "agent": "alice"},
                        {**base, "kind": "transferred", "at": T0 + 60, "from": "alice", "to": "carol"},
                        {**base, "kind": "assigned", "at": T0 + 65, "agent": "carol", "first": False},
                        {**base, "kind": "resolved", "at": T0 + 400, "agent": "carol"},
                        {**base, "kind": "wrapped_up", "at": T0 + 430, "agent": "carol", "talk": 300, "wrap": 30}],
        "reopened": [{**base, "kind": "queued", "at": T0}, {**base, "kind": "assigned", "at": T0 + 9, "agent": "alice"},
                     {**base, "kind": "resolved", "at": T0 + 300, "agent": "alice"},
                     {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "alice", "talk": 290, "wrap": 30},
                     {**base, "kind": "reopened", "at": T0 + 900}],
        "no agent": [{**base, "kind": "queued", "at": T0}, {**base, "kind": "resolved", "at": T0 + 300},
                     {**base, "kind": "wrapped_up", "at": T0 + 330, "agent": "", "talk": 290}],
        "abandoned": [{**base, "kind": "queued", "at": T0}, {**base, "kind": "abandoned", "at": T0 + 40, "wait": 40}],
    }
    for name, specs in shapes.items():
        (change,) = conversation_batch([event(s, i) for i, s in enumerate(specs)]).values()
        doc = change.document("c1")
        for was in (False, True):
            for now in (False, True):
                expected = rollups.diff(rollups.contribution(doc, CONFIG, now), rollups.contribution(doc, CONFIG, was))
                assert rollups.repeat_change(doc, CONFIG, was, now) == expected, (name, was, now)
        if name in ("resolved", "transferred"):  # a first-contact resolution: the queue's and the agent's buckets
            assert len(rollups.repeat_change(doc, CONFIG, False, True)) == 4
