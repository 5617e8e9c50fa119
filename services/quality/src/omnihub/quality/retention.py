"""Quality's retention sweep: raw events and timelines, recording references, evaluations' content; rollups stay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from omnihub.common.retention import Removed, cutoffs, remove_older, strip_older

# What an old conversation keeps: its KPI fields (the rollups are the counters; these rebuild them).
TIMELINE = {"timeline": "", "messages": ""}
# What an old evaluation keeps: agent, score, status and time, which the QA-score KPI reads; its content goes.
EVALUATION_CONTENT = {"answers": "", "comments": "", "dispute_reason": "", "resolution": "", "recording_uri": "",
                      "conversation_id": ""}


async def sweep(db: AsyncDatabase[dict[str, Any]], days: Mapping[str, int], now: float) -> dict[str, Removed]:
    """Remove quality's data older than each kind's limit; what went, per kind. Rollups are never touched."""
    out: dict[str, Removed] = {}
    for kind, before in cutoffs(days, now).items():
        if kind == "events":
            out[kind] = (await remove_older(db["events"], "time", before)
                         + await strip_older(db["conversations"], "created", before, TIMELINE))
        elif kind == "recordings":
            out[kind] = (await strip_older(db["conversations"], "created", before, {"recording_uri": ""})
                         + await strip_older(db["qa_samples"], "created", before, {"recording_uri": ""}))
        elif kind == "evaluations":
            out[kind] = await strip_older(db["evaluations"], "created", before, EVALUATION_CONTENT)
    return out
