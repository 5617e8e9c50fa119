"""The email service's retention sweep (mail records and raw mail, stored attachments) and its part of an erasure."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from omnihub.common.retention import Removed, cutoffs, remove_older

RAW = "message/rfc822"  # raw mails in GridFS belong with the messages; every other file is an attachment


async def sweep(db: AsyncDatabase[dict[str, Any]], days: Mapping[str, int], now: float) -> dict[str, Removed]:
    """Remove mail data older than each kind's limit; what went, per kind."""
    out: dict[str, Removed] = {}
    for kind, before in cutoffs(days, now).items():
        if kind == "messages":
            out[kind] = await remove_older(db["mails"], "time", before) + await _files(db, before, raw=True)
        elif kind == "attachments":
            out[kind] = await _files(db, before, raw=False)
    return out


async def _files(db: AsyncDatabase[dict[str, Any]], before: float, *, raw: bool) -> Removed:
    """Delete GridFS files (bucket `mail`) uploaded before `before`: the raw mails or the other files."""
    bucket = AsyncGridFSBucket(db, bucket_name="mail")
    kind = RAW if raw else {"$ne": RAW}
    match = {"uploadDate": {"$lt": dt.datetime.fromtimestamp(before, dt.UTC)}, "metadata.content_type": kind}
    found = Removed(0, before)
    async for doc in db["mail.files"].find(match, {"uploadDate": 1}):
        with contextlib.suppress(NoFile):
            await bucket.delete(doc["_id"])
        t = doc["uploadDate"].replace(tzinfo=dt.UTC).timestamp()
        found += Removed(1, before, t, t)
    return found


async def erase(db: AsyncDatabase[dict[str, Any]], addresses: list[str]) -> dict[str, int]:
    """Every mail record from or to one of these addresses, with its raw mail and attachments; counts.
    Erasing again finds nothing more (safe to retry)."""
    wanted = sorted({*addresses, *(a.lower() for a in addresses)})
    if not wanted:
        return {"mails": 0, "files": 0}
    bucket = AsyncGridFSBucket(db, bucket_name="mail")
    mails = files = 0
    async for mail in db["mails"].find({"$or": [{"from": {"$in": wanted}}, {"to": {"$in": wanted}}]}, {"_id": 1}):
        mid = str(mail["_id"])
        async for doc in db["mail.files"].find({"$or": [{"metadata.message_id": mid}, {"filename": f"{mid}.eml"}]},
                                               {"_id": 1}):
            with contextlib.suppress(NoFile):
                await bucket.delete(doc["_id"])
                files += 1
        mails += (await db["mails"].delete_one({"_id": mid})).deleted_count
    return {"mails": mails, "files": files}


async def erase_request(db: AsyncDatabase[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """An erasure request's email part: the customer's email identities ("email:<address>")."""
    addresses = [i.partition(":")[2] for i in body.get("identities", []) if str(i).startswith("email:")]
    return {"removed": await erase(db, addresses)}
