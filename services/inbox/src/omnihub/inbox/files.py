"""The inbox's file store: agents' uploads in GridFS, one reference row per attachment, and signed public links."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000
CHUNK = 256 * 1024
ATTACHMENT_ID = re.compile(r"[0-9a-f]{32}")
INBOX_SCHEME = "inbox://"


def attachment_id(uri: str) -> str:
    """The id the desktop opens an attachment by: 128 bits of SHA-256 of its reference.

    Every reference names an unguessable stored object (a random GridFS id, a random upload name, a
    provider's media id), so the id is unguessable too; the download still checks who asks."""
    return hashlib.sha256(uri.encode()).hexdigest()[:32]


class TooLarge(Exception):
    """An upload went over its limit while being stored."""


@dataclass(frozen=True, slots=True)
class Stored:
    """An agent's upload as stored."""

    id: str  # the attachment id (of its `inbox://` reference)
    uri: str
    file_name: str
    content_type: str
    size_bytes: int


class FileStore:
    """GridFS bucket `attachments` (agents' uploads) and the collection `attachments` (every attachment's
    reference with its conversation and customer, by attachment id: what the download path checks)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], link_key: bytes,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.link_key = link_key
        self.clock = clock  # upload times and the sweep's "now" (tests move it)
        self._bucket: AsyncGridFSBucket | None = None

    @property
    def bucket(self) -> AsyncGridFSBucket:
        """GridFS bucket `attachments` (made on first use: route tables build the app without a database)."""
        if self._bucket is None:
            self._bucket = AsyncGridFSBucket(self.db, bucket_name="attachments")
        return self._bucket

    @property
    def refs(self) -> AsyncCollection[dict[str, Any]]:
        """Collection `attachments`: one row per attachment id."""
        return self.db["attachments"]

    async def put(self, chunks: AsyncIterator[bytes], limit: int, *, file_name: str, content_type: str,
                  conversation_id: str, customer_id: str, uploader: str) -> Stored:
        """Stream an upload into GridFS under a random id; TooLarge (nothing kept) past `limit` bytes."""
        file_id = secrets.token_hex(16)
        grid_in = self.bucket.open_upload_stream_with_id(file_id, file_name, metadata={"content_type": content_type})
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                await grid_in.write(chunk)
        except BaseException:
            await grid_in.abort()
            raise
        await grid_in.close()
        uri = INBOX_SCHEME + file_id
        stored = Stored(attachment_id(uri), uri, file_name, content_type, size)
        await self.refs.insert_one({"_id": stored.id, "uri": uri, "conversation_id": conversation_id,
                                    "customer_id": customer_id, "file_name": file_name, "content_type": content_type,
                                    "size_bytes": size, "uploader": uploader, "time": self.clock()})
        return stored

    async def discard(self, stored: Stored) -> None:
        """Remove an upload that was refused after it was stored."""
        with contextlib.suppress(NoFile):
            await self.bucket.delete(stored.uri.removeprefix(INBOX_SCHEME))
        await self.refs.delete_one({"_id": stored.id})

    async def mark_sent(self, att_ids: Sequence[str]) -> None:
        """These uploads went with a message (a reply or a note): the sweep keeps them."""
        if att_ids:
            await self.refs.update_many({"_id": {"$in": list(att_ids)}}, {"$set": {"sent": self.clock()}})

    async def sweep(self, keep_seconds: float) -> int:
        """Remove agents' uploads that went with no message within `keep_seconds` of their upload (the file in
        GridFS and its reference row); the number removed. Safe to run on every replica at once."""
        cutoff = self.clock() - keep_seconds
        stale = self.refs.find({"uri": {"$regex": "^inbox://"}, "sent": {"$exists": False}, "time": {"$lt": cutoff}},
                               {"uri": 1})
        removed = 0
        async for ref in stale:
            with contextlib.suppress(NoFile):  # another replica was first
                await self.bucket.delete(str(ref["uri"]).removeprefix(INBOX_SCHEME))
            await self.refs.delete_one({"_id": ref["_id"], "sent": {"$exists": False}})
            removed += 1
        return removed

    async def add_refs(self, messages: Sequence[dict[str, Any]]) -> None:
        """One reference row per attachment of newly stored messages (repeats skipped)."""
        docs = [{"_id": a["id"], "uri": a.get("uri", ""), "conversation_id": m["conversation_id"],
                 "customer_id": m["customer_id"], "file_name": a.get("file_name", ""),
                 "content_type": a.get("content_type", ""), "size_bytes": int(a.get("size_bytes", 0)),
                 "time": m["time"]}
                for m in messages for a in m.get("attachments", ()) if a.get("id")]
        if not docs:
            return
        try:
            await self.refs.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def ref(self, att_id: str) -> dict[str, Any] | None:
        """The reference row of an attachment id (None for an id of any other shape)."""
        if not ATTACHMENT_ID.fullmatch(att_id):
            return None
        return await self.refs.find_one({"_id": att_id})

    async def merge_customer(self, merged: str, keep: str) -> None:
        """Attachments of a merged customer belong to the surviving record."""
        await self.refs.update_many({"customer_id": merged}, {"$set": {"customer_id": keep}})

    async def open(self, uri: str) -> AsyncIterator[bytes] | None:
        """The chunks of an `inbox://` file, or None."""
        file_id = uri.removeprefix(INBOX_SCHEME)
        if not uri.startswith(INBOX_SCHEME) or not ATTACHMENT_ID.fullmatch(file_id):
            return None
        try:
            grid_out = await self.bucket.open_download_stream(file_id)
        except NoFile:
            return None

        async def chunks() -> AsyncIterator[bytes]:
            while data := await grid_out.read(CHUNK):
                yield data

        return chunks()

    # ---- signed public links (what Twilio, Telegram and the channel services fetch) ----------------
    def _sig(self, att_id: str, expires: int) -> str:
        mac = hmac.new(self.link_key, f"{att_id}.{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def link(self, base_url: str, att_id: str, ttl: float, now: float | None = None) -> str:
        """A public URL of an upload that works until `ttl` seconds from now."""
        expires = int((now or time.time()) + ttl)
        return f"{base_url.rstrip('/')}/files/{att_id}?e={expires}&s={self._sig(att_id, expires)}"

    def link_ok(self, att_id: str, expires: str, sig: str, now: float | None = None) -> bool:
        """Whether a link's signature is right (constant time) and it has not expired."""
        if not expires.isdigit() or len(expires) > 12:
            return False
        good = hmac.compare_digest(self._sig(att_id, int(expires)).encode(), sig.encode())
        return good and int(expires) >= (now or time.time())
