"""All MongoDB access of the email service: raw mail and attachments in GridFS, threading records."""

from __future__ import annotations

import re
import time
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError

from omnihub.common.bus import new_id

FILE_ID = re.compile(r"att_[0-9a-f]{44}")  # new_id("att"): the only shape ever stored


class MailStore:
    """Mail records keyed by Message-ID, raw bytes and attachments in GridFS."""

    def __init__(self, url: str, database: str = "omnihub_email") -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        self.db = self.client[database]
        self.mails = self.db["mails"]
        self.files = AsyncGridFSBucket(self.db, bucket_name="mail")

    async def setup(self) -> None:
        """Indexes for threading lookups."""
        await self.mails.create_index([("thread", 1), ("time", -1)])

    async def ping(self) -> bool:
        """True while MongoDB answers."""
        await self.client.admin.command("ping")
        return True

    async def put_file(self, name: str, data: bytes, content_type: str, **meta: Any) -> str:
        """Store bytes in GridFS under an unguessable id (128 random bits; ObjectIds are a time and a counter)."""
        file_id = new_id("att")
        await self.files.upload_from_stream_with_id(file_id, name, data, metadata={"content_type": content_type, **meta})
        return file_id

    async def get_file(self, file_id: str) -> tuple[bytes, str, str] | None:
        """(bytes, name, content type) of a stored file, or None (also for an id of any other shape)."""
        if not FILE_ID.fullmatch(file_id):
            return None
        try:
            stream = await self.files.open_download_stream(file_id)
        except NoFile:
            return None
        data = await stream.read()
        meta = stream.metadata or {}
        return data, str(stream.filename), str(meta.get("content_type", "application/octet-stream"))

    async def record(self, doc: dict[str, Any]) -> bool:
        """Record a mail by its Message-ID; False if it was already recorded (a duplicate)."""
        try:
            await self.mails.insert_one({"time": time.time(), **doc})
        except DuplicateKeyError:
            return False
        return True

    async def latest_in_thread(self, thread: str) -> dict[str, Any] | None:
        """The newest mail of a thread (to reply to it)."""
        return await self.mails.find_one({"thread": thread}, sort=[("time", -1)])

    async def survey_for(self, message_ids: list[str]) -> dict[str, Any] | None:
        """The survey mail we sent that one of these Message-IDs names, if any."""
        ids = [m for m in message_ids if m]
        if not ids:
            return None
        return await self.mails.find_one({"_id": {"$in": ids}, "survey_id": {"$exists": True}})

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()
