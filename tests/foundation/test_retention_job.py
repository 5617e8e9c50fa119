"""The daily retention job: once a day across restarts and replicas, its log, its answers over NATS."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from omnihub.common import privacy, retention
from omnihub.common.bus import Bus
from omnihub.common.config import ServiceSettings
from omnihub.common.retention import DAY, DailyJob, Removed

T0 = 1_800_000_000.0


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(mongo_url: str, mongo_db: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    yield client[mongo_db]
    await client.drop_database(mongo_db)
    await client.close()


def test_policy_reads_days_and_zero_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIHUB_RETENTION_MESSAGES_DAYS", "30")
    monkeypatch.setenv("OMNIHUB_RETENTION_EVENTS_DAYS", "0")
    days = retention.policy(ServiceSettings())
    assert days == {"messages": 30}
    assert retention.cutoffs(days, T0) == {"messages": T0 - 30 * DAY}
    monkeypatch.setenv("OMNIHUB_RETENTION_AUDIT_DAYS", "-1")
    with pytest.raises(ValueError):
        ServiceSettings()


async def test_runs_once_a_day_across_restarts_and_replicas(db: AsyncDatabase[dict[str, Any]]) -> None:
    clock = Clock(T0)
    runs: list[float] = []

    async def work(now: float) -> dict[str, Removed]:
        runs.append(now)
        return {"messages": Removed(3, now - DAY, now - 5 * DAY, now - 2 * DAY)}

    first, second = DailyJob(db, "svc", work, clock=clock), DailyJob(db, "svc", work, clock=clock)
    done = await asyncio.gather(first.run_if_due(), second.run_if_due())  # two replicas at once: one runs
    assert runs == [T0] and sum(d is not None for d in done) == 1
    clock.now = T0 + 23 * 3600
    restarted = DailyJob(db, "svc", work, clock=clock)  # a restart the same day does not run again
    assert await restarted.run_if_due() is None and runs == [T0]
    assert await restarted.seconds_to_next() == pytest.approx(3600)
    clock.now = T0 + DAY + 1  # a day later it does, even in a fresh process
    assert await DailyJob(db, "svc", work, clock=clock).run_if_due() is not None
    assert runs == [T0, T0 + DAY + 1]
    log = await restarted.recent()
    assert [e["time"] for e in log] == [T0 + DAY + 1, T0]
    assert log[0]["kinds"]["messages"] == {"count": 3, "before": T0 + 1, "oldest": T0 + 1 - 4 * DAY,
                                           "newest": T0 + 1 - DAY}
    assert await DailyJob(db, "other", work, clock=clock).run_if_due() is not None  # per service


async def test_loop_runs_when_due_and_stops(db: AsyncDatabase[dict[str, Any]]) -> None:
    clock, ran = Clock(T0), asyncio.Event()

    async def work(now: float) -> dict[str, Removed]:
        ran.set()
        return {}

    job = DailyJob(db, "svc", work, clock=clock)
    async with contextlib.AsyncExitStack() as stack:
        retention.start(job, stack)
        await asyncio.wait_for(ran.wait(), 10)
    assert len(await job.recent()) == 1


async def test_remove_and_strip_older_report_counts_and_range(db: AsyncDatabase[dict[str, Any]]) -> None:
    coll = db["things"]
    await coll.insert_many([{"_id": i, "time": T0 - i * DAY, "text": "x", "kpi": i} for i in range(10)])
    stripped = await retention.strip_older(coll, "time", T0 - 6.5 * DAY, {"text": ""})
    assert (stripped.count, stripped.oldest, stripped.newest) == (3, T0 - 9 * DAY, T0 - 7 * DAY)
    assert await coll.count_documents({"text": {"$exists": True}}) == 7 and await coll.count_documents({}) == 10
    again = await retention.strip_older(coll, "time", T0 - 6.5 * DAY, {"text": ""})
    assert again.count == 0 and again.oldest is None
    removed = await retention.remove_older(coll, "time", T0 - 4.5 * DAY)
    assert (removed.count, removed.oldest, removed.newest) == (5, T0 - 9 * DAY, T0 - 5 * DAY)
    assert sorted([d["_id"] async for d in coll.find()]) == [0, 1, 2, 3, 4]


async def test_privacy_requests_gather_each_services_answer(bus: Bus, db: AsyncDatabase[dict[str, Any]]) -> None:
    async def erase(body: dict[str, Any]) -> dict[str, Any]:
        if body["customer_id"] == "cus_bad":
            raise RuntimeError("store away")
        return {"removed": {"things": 2}}

    job = DailyJob(db, "one", lambda now: asyncio.sleep(0, {}), clock=Clock(T0))
    async with contextlib.AsyncExitStack() as stack:
        await privacy.install(bus, "one", stack, job=job, erase=erase)
        await privacy.install(bus, "two", stack, erase=erase)
        await privacy.install(bus, "two", stack, erase=erase)  # a second replica: one answer per service
        answers = await privacy.ask(bus, privacy.ERASE, {"customer_id": "cus_1"}, ("one", "two", "three"), 1.0)
        assert set(answers) == {"one", "two"}  # "three" never answered
        assert answers["two"] == {"service": "two", "ok": True, "removed": {"things": 2}}
        failed = await privacy.ask(bus, privacy.ERASE, {"customer_id": "cus_bad"}, ("one",), 5.0)
        assert failed["one"]["ok"] is False and "store away" in failed["one"]["error"]
        for _ in range(100):  # the loop's first run lands in the log
            logs = await privacy.ask(bus, privacy.RETENTION, {}, ("one",), 5.0)
            if logs["one"]["runs"]:
                break
            await asyncio.sleep(0.05)
        assert logs["one"]["runs"][0]["service"] == "one"


def test_streams_are_bounded_by_the_shortest_content_retention(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnihub.common.service import stream_specs

    defaults = {s.name: s.max_age_seconds for s in stream_specs(ServiceSettings())}
    assert defaults == {"CONTACTS_IN": 30 * DAY, "CONTACTS_OUT": 30 * DAY, "EVENTS": 90 * DAY, "DEADLETTER": 90 * DAY}
    monkeypatch.setenv("OMNIHUB_RETENTION_EVENTS_DAYS", "60")
    monkeypatch.setenv("OMNIHUB_RETENTION_EVALUATIONS_DAYS", "1")  # no evaluation travels in a stream
    bounded = {s.name: s.max_age_seconds for s in stream_specs(ServiceSettings())}
    assert bounded == {"CONTACTS_IN": 30 * DAY, "CONTACTS_OUT": 30 * DAY, "EVENTS": 60 * DAY, "DEADLETTER": 60 * DAY}
    monkeypatch.setenv("OMNIHUB_RETENTION_MESSAGES_DAYS", "7")
    assert {s.max_age_seconds for s in stream_specs(ServiceSettings())} == {7 * DAY}
