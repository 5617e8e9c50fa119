"""Retention: how many days each kind of data is kept (0 = keep) and the daily job that removes older data."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from omnihub.common.config import ServiceSettings
from omnihub.common.logging import get_logger

log = get_logger("omnihub.retention")

DAY = 86_400.0
# The kinds of data with a retention period (OMNIHUB_RETENTION_<KIND>_DAYS); "audit" is the inbox's audit trail.
KINDS = ("messages", "attachments", "recordings", "events", "evaluations", "audit")
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Removed:
    """What one run removed of one kind: how many items, the times of the oldest and newest, and the cutoff."""

    count: int
    before: float  # everything older than this was due
    oldest: float | None = None
    newest: float | None = None

    def __add__(self, other: Removed) -> Removed:
        times = [t for t in (self.oldest, self.newest, other.oldest, other.newest) if t is not None]
        return Removed(self.count + other.count, max(self.before, other.before),
                       min(times) if times else None, max(times) if times else None)


def policy(settings: ServiceSettings) -> dict[str, int]:
    """Days to keep per kind, only the kinds with a limit (0 or unset: kept for ever)."""
    days = {kind: int(getattr(settings, f"retention_{kind}_days", 0) or 0) for kind in KINDS}
    return {kind: n for kind, n in days.items() if n > 0}


def cutoffs(days: Mapping[str, int], now: float) -> dict[str, float]:
    """kind -> the time before which its data goes (kinds without a limit are absent)."""
    return {kind: now - n * DAY for kind, n in days.items() if n > 0}


async def remove_older(coll: AsyncCollection[dict[str, Any]], field: str, before: float,
                       query: Mapping[str, Any] | None = None) -> Removed:
    """Delete the documents whose `field` (seconds since the epoch) is older than `before`; the count and range."""
    match = {**(query or {}), field: {"$lt": before}}
    return await _ranged(coll, field, before, match, lambda: coll.delete_many(match))


async def strip_older(coll: AsyncCollection[dict[str, Any]], field: str, before: float, unset: Mapping[str, Any],
                      query: Mapping[str, Any] | None = None) -> Removed:
    """Remove `unset` fields from the documents older than `before` that still have one (the documents stay)."""
    match = {**(query or {}), field: {"$lt": before}, "$or": [{name: {"$exists": True}} for name in unset]}
    return await _ranged(coll, field, before, match, lambda: coll.update_many(match, {"$unset": dict(unset)}))


async def _ranged(coll: AsyncCollection[dict[str, Any]], field: str, before: float, match: Mapping[str, Any],
                  act: Callable[[], Awaitable[Any]]) -> Removed:
    oldest = await coll.find_one(match, {field: 1}, sort=[(field, 1)])
    if oldest is None:
        return Removed(0, before)
    newest = await coll.find_one(match, {field: 1}, sort=[(field, -1)])
    result = await act()
    count = int(getattr(result, "deleted_count", None) or getattr(result, "modified_count", None) or 0)
    return Removed(count, before, float(oldest[field]), float(newest[field]) if newest else None)


Work = Callable[[float], Awaitable[dict[str, Removed]]]


class DailyJob:
    """Runs `work(now)` once a day in one replica of a service: a run is claimed in MongoDB (collection
    `retention_state`) before it starts, so a restart neither skips a due run nor repeats a done one, and each
    run's result is kept in `retention_log` for admins."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], service: str, work: Work, *, clock: Clock = time.time,
                 period: float = DAY) -> None:
        self.state = db["retention_state"]
        self.entries = db["retention_log"]
        self.service = service
        self.work = work
        self.clock = clock
        self.period = period

    async def run_if_due(self) -> dict[str, Any] | None:
        """Run now if the last run began a period ago or never; the log entry, or None when not due."""
        now = self.clock()
        try:  # matches only when due; otherwise the upsert collides with the existing document
            await self.state.find_one_and_update({"_id": self.service, "last_run": {"$lte": now - self.period}},
                                                 {"$set": {"last_run": now}}, upsert=True)
        except DuplicateKeyError:
            return None
        removed = await self.work(now)
        entry = {"_id": f"{self.service}:{now:.3f}", "service": self.service, "time": now,
                 "kinds": {kind: asdict(r) for kind, r in removed.items()}}
        await self.entries.insert_one(entry)
        log.info("retention.run", service=self.service, removed={k: r.count for k, r in removed.items()})
        return entry

    async def seconds_to_next(self) -> float:
        """Seconds until the next run is due (0 when due now)."""
        doc = await self.state.find_one({"_id": self.service})
        last = float(doc["last_run"]) if doc else float("-inf")
        return max(0.0, last + self.period - self.clock())

    async def loop(self, stop: asyncio.Event, *, poll: float = 3600.0) -> None:
        """Run whenever due until `stop` is set; checks at least every `poll` seconds (the clock may jump)."""
        while not stop.is_set():
            try:
                await self.run_if_due()
                wait = min(poll, max(1.0, await self.seconds_to_next()))
            except Exception as exc:  # MongoDB away: try again later, never stop the service
                log.warning("retention.failed", service=self.service, error=repr(exc))
                wait = min(poll, 60.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def recent(self, limit: int = 30) -> list[dict[str, Any]]:
        """The latest runs' log entries, newest first."""
        return await self.entries.find({}, {"_id": 0}).sort("time", -1).to_list(limit)


def start(job: DailyJob, stack: contextlib.AsyncExitStack) -> None:
    """Run `job.loop` as a task until the stack closes."""
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(job.loop(stop))

    async def halt() -> None:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5.0)

    stack.push_async_callback(halt)
