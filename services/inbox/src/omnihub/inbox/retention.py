"""The inbox's retention sweep: messages (with delivery states and search entries), attachments, events, audit."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from omnihub.common.retention import Removed, cutoffs, remove_older
from omnihub.inbox.files import INBOX_SCHEME

STATES = ("sent", "delivered", "read", "failed")  # delivery_states ids are "<message id>:<state>"
BATCH = 5000


async def sweep(db: AsyncDatabase[dict[str, Any]], days: Mapping[str, int], now: float) -> dict[str, Removed]:
    """Remove the inbox's data older than each kind's limit; what went, per kind."""
    out: dict[str, Removed] = {}
    for kind, before in cutoffs(days, now).items():
        if kind == "messages":
            out[kind] = await _messages(db, before)
        elif kind == "attachments":
            out[kind] = await _attachments(db, before)
        elif kind == "events":  # webhook deliveries carry whole events; interventions are events too
            out[kind] = (await remove_older(db["webhook_deliveries"], "created", before)
                         + await remove_older(db["interventions"], "time", before))
        elif kind == "audit":
            out[kind] = await remove_older(db["audit"], "time", before)
    return out


async def _messages(db: AsyncDatabase[dict[str, Any]], before: float) -> Removed:
    """Old messages, their delivery states and their search entries (conversation heads of the same age too)."""
    messages, states = db["messages"], db["delivery_states"]
    total = Removed(0, before)
    while ids := [d["_id"] async for d in messages.find({"time": {"$lt": before}}, {"_id": 1}).limit(BATCH)]:
        await states.delete_many({"_id": {"$in": [f"{mid}:{s}" for mid in ids for s in STATES]}})
        await db["search"].delete_many({"_id": {"$in": [f"m:{mid}" for mid in ids]}})
        total += await remove_older(messages, "time", before, {"_id": {"$in": ids}})
    await remove_older(db["search"], "t", before)  # entries of messages already gone, conversation heads
    return total


async def _attachments(db: AsyncDatabase[dict[str, Any]], before: float) -> Removed:
    """Old attachment references and the agents' uploads they point at (GridFS `attachments`)."""
    bucket = AsyncGridFSBucket(db, bucket_name="attachments")
    async for ref in db["attachments"].find({"time": {"$lt": before}, "uri": {"$regex": f"^{INBOX_SCHEME}"}},
                                            {"uri": 1}):
        with contextlib.suppress(NoFile):
            await bucket.delete(ref["uri"].removeprefix(INBOX_SCHEME))
    return await remove_older(db["attachments"], "time", before)
