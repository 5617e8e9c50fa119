"""Uploads never sent are removed by the periodic sweep (GridFS file and reference), sent ones and recent ones kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient

from omnihub.inbox.app import sweep_uploads
from omnihub.inbox.files import FileStore, Stored
from omnihub.testkit.waiting import eventually

HOUR = 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def files(mongo_url: str, mongo_db: str) -> AsyncIterator[tuple[FileStore, Clock]]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    clock = Clock()
    yield FileStore(client[mongo_db], b"k" * 32, clock=clock), clock  # type: ignore[arg-type]
    await client.close()


async def put(files: FileStore, name: str) -> Stored:
    async def chunks() -> AsyncIterator[bytes]:
        yield name.encode()

    return await files.put(chunks(), 1024, file_name=name, content_type="text/plain", conversation_id="cnv_1",
                           customer_id="cus_1", uploader="alice")


async def kept(files: FileStore, stored: Stored) -> bool:
    chunks = await files.open(stored.uri)
    data = b"".join([c async for c in chunks]) if chunks is not None else b""
    return data == stored.file_name.encode() and await files.ref(stored.id) is not None


async def test_an_upload_not_sent_within_the_hours_is_removed(files: tuple[FileStore, Clock]) -> None:
    store, clock = files
    forgotten, sent, noted = await put(store, "forgotten.txt"), await put(store, "sent.txt"), await put(store, "n.txt")
    clock.now += 2 * HOUR
    await store.mark_sent([sent.id, noted.id])
    recent = await put(store, "recent.txt")
    clock.now += 22 * HOUR  # the first three are 24 h old, `recent` 22 h
    assert await store.sweep(24 * HOUR) == 0  # not older than 24 h yet
    clock.now += 1
    assert await store.sweep(24 * HOUR) == 1
    assert not await kept(store, forgotten)
    assert await store.open(forgotten.uri) is None and await store.ref(forgotten.id) is None
    for stored in (sent, noted, recent):
        assert await kept(store, stored), stored.file_name
    clock.now += 2 * HOUR
    assert await store.sweep(24 * HOUR) == 1 and not await kept(store, recent)
    assert await store.sweep(24 * HOUR) == 0 and await kept(store, sent)
    # a customer's file (only its reference is ours) is never touched
    await store.refs.insert_one({"_id": "c" * 32, "uri": "gridfs://att_9", "time": 0.0})
    assert await store.sweep(HOUR) == 0 and await store.ref("c" * 32) is not None


async def test_the_periodic_job_sweeps_on_its_own(files: tuple[FileStore, Clock]) -> None:
    store, clock = files
    stale = await put(store, "stale.txt")
    clock.now += 25 * HOUR
    job = asyncio.create_task(sweep_uploads(store, 24 * HOUR, every=0.05))
    try:
        await eventually(lambda: _gone(store, stale), timeout=10)
    finally:
        job.cancel()


async def _gone(store: FileStore, stored: Stored) -> bool:
    return await store.ref(stored.id) is None
