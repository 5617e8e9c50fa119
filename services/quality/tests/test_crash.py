"""A batch that fails between the conversation write and the bucket write leaves nothing behind: its redelivery
makes the rollups equal a full recomputation from the stored data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from omnihub.quality.ingest import Ingestor
from omnihub.quality.rollup_writer import RollupWriter
from omnihub.quality.rollups import RollupConfig
from omnihub.quality.store import QualityStore
from tests.kpis.events import event

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "kpis"
CONFIG = RollupConfig(thresholds={"support": 20.0, "sales": 30.0}, short_abandon=5.0, timezone="Europe/Berlin")


class Crash(Exception):
    """The process dying at this point."""


class CrashingStore(QualityStore):
    """The real store, failing once at the writer's seam: after the batch's conversations, customers and events
    were written, before the bucket deltas are."""

    crashes = 1

    async def apply_rollups(self, deltas: dict[str, dict[str, int]], applied: dict[str, list[Any]]) -> None:
        if self.crashes:
            self.crashes -= 1
            raise Crash
        await super().apply_rollups(deltas, applied)


def specs() -> list[dict[str, Any]]:
    """Answered, abandoned, repeat-contact and merged-customer conversations, and agent state changes."""
    out: list[dict[str, Any]] = []
    for name in ("fcr", "service_level"):
        out += yaml.safe_load((VECTORS / f"{name}.yaml").read_text())["events"]
    out += [{"kind": "state", "agent": "alice", "at": "2026-03-02T08:00:00Z", "to": "AVAILABLE"},
            {"kind": "state", "agent": "alice", "at": "2026-03-02T09:00:05Z", "to": "BUSY"},
            {"kind": "state", "agent": "alice", "at": "2026-03-02T09:06:00Z", "to": "AVAILABLE"}]
    return out


async def buckets(store: QualityStore) -> dict[str, dict[str, int]]:
    return {bid: {k: v for k, v in c.items() if v} for bid, c in (await store.bucket_counters()).items()
            if any(c.values())}


async def test_a_batch_failing_before_its_bucket_write_is_redelivered_without_loss_or_double_count(
        mongo_url: str, mongo_db: str) -> None:
    events = [event(s, i) for i, s in enumerate(specs())]
    first, second = events[: len(events) // 2], events[len(events) // 2:]  # the second brings repeats and a merge
    crashing = CrashingStore(mongo_url, mongo_db)
    await crashing.setup()
    ingestor = Ingestor(crashing, None, surveys=False, rollup=CONFIG)  # type: ignore[arg-type]
    crashing.crashes = 0
    await ingestor.handle(first)
    crashing.crashes = 1
    try:
        await ingestor.handle(second)
    except Crash:
        pass
    else:
        raise AssertionError("the injected failure did not happen")
    await crashing.close()
    # a restarted service (nothing remembered) gets the unacknowledged batch again
    store = QualityStore(mongo_url, mongo_db)
    await Ingestor(store, None, surveys=False, rollup=CONFIG).handle(second)  # type: ignore[arg-type]
    got = await buckets(store)
    assert got and await store.conversations.count_documents({}) == len({e.conversation_id for e in events} - {""})
    await RollupWriter(store, CONFIG).rebuild("test")  # the full recomputation from what was stored
    assert await buckets(store) == got
    await store.close()
