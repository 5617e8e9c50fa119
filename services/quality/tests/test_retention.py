"""Quality's retention sweep: raw events, timelines, recordings and evaluation content go; KPI data stays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from omnihub.common.retention import DAY
from omnihub.quality import retention
from omnihub.quality.store import KPI_FIELDS

NOW = 1_800_000_000.0


@pytest.fixture
async def db(mongo_url: str, mongo_db: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    yield client[mongo_db]
    await client.drop_database(mongo_db)
    await client.close()


def conversation(cid: str, created: float) -> dict[str, Any]:
    return {"_id": cid, "created": created, "channel": "sms", "queue": "support", "customer_id": "cus_1",
            "agent": "alice", "answered": created + 5, "wait": 5.0, "handled": True, "resolved": True, "talk": 60.0,
            "recording_uri": "https://api.twilio.com/rec", "timeline": [{"id": "evt_1", "event": b"+15550001"}],
            "messages": [{"id": "msg_1"}]}


async def test_old_raw_data_goes_and_kpi_data_stays(db: AsyncDatabase[dict[str, Any]]) -> None:
    old, new = NOW - 40 * DAY, NOW - 2 * DAY
    await db["conversations"].insert_many([conversation("cnv_old", old), conversation("cnv_new", new)])
    await db["events"].insert_many([{"_id": "evt_old", "time": old, "kind": "conversation_created"},
                                    {"_id": "evt_new", "time": new, "kind": "conversation_created"}])
    await db["evaluations"].insert_many([
        {"_id": f"qa_{n}", "created": t, "agent_id": "alice", "score": 80.0, "status": "acknowledged",
         "answers": {"greeting": 1}, "comments": "said the customer's name", "conversation_id": f"cnv_{n}",
         "recording_uri": "r"} for n, t in (("old", old), ("new", new))])
    rollup = {"_id": "d|q|1", "l": "d", "k": "q", "t": 1, "q": {"support|sms": {"offered": 2, "handled": 2}}}
    await db["rollups"].insert_one(rollup)
    days = {"events": 30, "recordings": 30, "evaluations": 30, "messages": 0}
    removed = await retention.sweep(db, days, NOW)
    assert {k: r.count for k, r in removed.items()} == {"events": 2, "recordings": 1, "evaluations": 1}
    assert removed["events"].oldest == old and removed["events"].before == NOW - 30 * DAY
    assert [d["_id"] async for d in db["events"].find()] == ["evt_new"]
    stripped = await db["conversations"].find_one({"_id": "cnv_old"})
    assert stripped is not None and not {"timeline", "messages", "recording_uri"} & stripped.keys()
    assert {k: stripped[k] for k in KPI_FIELDS if k in stripped} == {
        k: v for k, v in conversation("cnv_old", old).items() if k in KPI_FIELDS}  # what KPIs read stays
    assert (await db["conversations"].find_one({"_id": "cnv_new"}) or {}).get("timeline")
    evaluation = await db["evaluations"].find_one({"_id": "qa_old"}, {"_id": 0})
    assert evaluation == {"created": old, "agent_id": "alice", "score": 80.0, "status": "acknowledged"}
    assert (await db["evaluations"].find_one({"_id": "qa_new"}) or {}).get("comments")
    assert await db["rollups"].find_one({"_id": "d|q|1"}) == rollup  # counters untouched
    again = await retention.sweep(db, days, NOW)
    assert {k: r.count for k, r in again.items()} == {"events": 0, "recordings": 0, "evaluations": 0}


async def test_erasure_removes_the_customer_and_keeps_what_kpis_count(db: AsyncDatabase[dict[str, Any]]) -> None:
    from omnihub.quality import privacy

    await db["conversations"].insert_many([conversation("cnv_a", NOW), {**conversation("cnv_b", NOW),
                                                                          "customer_id": "cus_old"},
                                           {**conversation("cnv_other", NOW), "customer_id": "cus_2"}])
    await db["customers"].insert_many([{"_id": "cus_1", "contacts": {"x": 1}}, {"_id": "cus_old", "into": "cus_1"},
                                       {"_id": "cus_2"}])
    await db["events"].insert_many([{"_id": "e1", "customer_id": "cus_1", "conversation_id": ""},
                                    {"_id": "e2", "customer_id": "", "conversation_id": "cnv_b"},
                                    {"_id": "e3", "customer_id": "cus_2", "conversation_id": "cnv_other"}])
    await db["surveys"].insert_one({"_id": "srv_cnv_a", "conversation_id": "cnv_a", "identity": "sms:+15550001",
                                    "answers": {"csat": 5}})
    await db["evaluations"].insert_one({"_id": "qa_a", "conversation_id": "cnv_a", "agent_id": "alice", "score": 90.0,
                                        "created": NOW, "comments": "customer said hi", "answers": {"q": 1}})
    await db["optouts"].insert_one({"_id": "sms:+15550001", "opted_out": True})
    rollup = {"_id": "d|q|1", "l": "d", "k": "q", "t": 1, "q": {"support|sms": {"offered": 3}}}
    await db["rollups"].insert_one(rollup)
    exported = (await privacy.export(db, {"customer_id": "cus_1"}))["data"]
    assert {c["_id"] for c in exported["conversations"]} == {"cnv_a", "cnv_b"}  # the merged customer's too
    out = await privacy.erase(db, {"customer_id": "cus_1", "identities": ["sms:+15550001"]})
    assert out["removed"] == {"events": 2, "conversations": 2, "surveys": 1, "evaluations": 1, "customers": 2,
                              "optouts": 1}
    for cid in ("cnv_a", "cnv_b"):
        doc = await db["conversations"].find_one({"_id": cid}) or {}
        assert not {"customer_id", "timeline", "messages", "recording_uri"} & doc.keys()
        assert doc["handled"] is True and doc["wait"] == 5.0 and doc["agent"] == "alice"  # KPI fields stay
    assert (await db["conversations"].find_one({"_id": "cnv_other"}) or {})["customer_id"] == "cus_2"
    assert await db["surveys"].find_one({"_id": "srv_cnv_a"}, {"_id": 0}) == {"conversation_id": "cnv_a",
                                                                                "answers": {"csat": 5}}
    assert await db["evaluations"].find_one({"_id": "qa_a"}, {"_id": 0}) == {"agent_id": "alice", "score": 90.0,
                                                                               "created": NOW}
    assert [d["_id"] async for d in db["events"].find()] == ["e3"]
    assert [d["_id"] async for d in db["customers"].find()] == ["cus_2"]
    assert await db["rollups"].find_one({"_id": "d|q|1"}) == rollup
    again = await privacy.erase(db, {"customer_id": "cus_1", "identities": ["sms:+15550001"]})
    assert set(again["removed"].values()) == {0}
