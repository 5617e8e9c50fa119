"""The inbox's retention sweep: messages with their states and search entries, attachments, events, audit."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from gridfs import AsyncGridFSBucket

from omnihub.common.retention import DAY
from omnihub.inbox import retention
from omnihub.inbox.files import FileStore
from omnihub.inbox.store import InboxStore

NOW = time.time()  # uploads are stamped with the real time
OLD, NEW = NOW - 40 * DAY, NOW - DAY


@pytest.fixture
async def store(mongo_url: str, mongo_db: str) -> AsyncIterator[InboxStore]:
    s = InboxStore(mongo_url, mongo_db)
    yield s
    await s.client.drop_database(mongo_db)
    await s.close()


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_sweep_removes_what_is_older_than_each_kinds_limit(store: InboxStore) -> None:
    db = store.db
    await store.add_messages([{"_id": f"msg_{n}", "time": t, "customer_id": "cus_1", "conversation_id": "cnv_1",
                               "text": n, "status": "pending"} for n, t in (("old", OLD), ("new", NEW))])
    await store.set_statuses([("msg_old", "sent", ""), ("msg_old", "delivered", ""), ("msg_new", "sent", "")])
    await db["search"].insert_many([{"_id": "m:msg_old", "k": "m", "t": OLD}, {"_id": "m:msg_new", "k": "m", "t": NEW},
                                    {"_id": "c:cnv_0", "k": "c", "t": OLD}])
    files = FileStore(db, b"k" * 32)
    old_file = await files.put(chunks(b"old"), 100, file_name="o.pdf", content_type="application/pdf",
                               conversation_id="cnv_1", customer_id="cus_1", uploader="alice")
    new_file = await files.put(chunks(b"new"), 100, file_name="n.pdf", content_type="application/pdf",
                               conversation_id="cnv_1", customer_id="cus_1", uploader="alice")
    await files.refs.update_one({"_id": old_file.id}, {"$set": {"time": OLD}})
    await db["audit"].insert_many([{"_id": "aud_1", "time": OLD}, {"_id": "aud_2", "time": NEW}])
    await db["webhook_deliveries"].insert_many([{"_id": "d1", "created": OLD}, {"_id": "d2", "created": NEW}])
    removed = await retention.sweep(db, {"messages": 30, "attachments": 30, "events": 30, "audit": 365}, NOW)
    assert {k: r.count for k, r in removed.items()} == {"messages": 1, "attachments": 1, "events": 1, "audit": 0}
    assert removed["messages"].oldest == OLD and removed["messages"].before == NOW - 30 * DAY
    assert [m["_id"] for m in await store.messages.find().to_list(None)] == ["msg_new"]
    assert [d["_id"] for d in await store.states.find().to_list(None)] == ["msg_new:sent"]
    assert [d["_id"] for d in await db["search"].find().to_list(None)] == ["m:msg_new"]
    assert await files.ref(old_file.id) is None and await files.open(old_file.uri) is None
    assert await files.ref(new_file.id) is not None and await files.open(new_file.uri) is not None
    assert await AsyncGridFSBucket(db, bucket_name="attachments").find({}).to_list(None) != []
    assert await db["audit"].count_documents({}) == 2  # within its own (longer) limit
    assert [d["_id"] for d in await db["webhook_deliveries"].find().to_list(None)] == ["d2"]
