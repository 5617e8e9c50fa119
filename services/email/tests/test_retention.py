"""The email service's retention sweep: old mail records, raw mails and attachments go, newer ones stay."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from omnihub.common.retention import DAY
from omnihub.email import retention
from omnihub.email.store import MailStore


@pytest.fixture
async def store(mongo_url: str, mongo_db: str) -> AsyncIterator[MailStore]:
    s = MailStore(mongo_url, mongo_db)
    yield s
    await s.client.drop_database(mongo_db)
    await s.close()


async def test_sweep_removes_old_mail_raw_and_attachments(store: MailStore) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    await store.record({"_id": "old@x", "from": "ann@example.com", "to": "help@omnihub.test"})
    await store.record({"_id": "new@x", "from": "bob@example.com", "to": "help@omnihub.test"})
    await store.mails.update_one({"_id": "old@x"}, {"$set": {"time": now - 40 * DAY}})
    raw_old = await store.put_file("old@x.eml", b"raw", "message/rfc822")
    att_old = await store.put_file("a.pdf", b"pdf", "application/pdf", message_id="old@x")
    await store.db["mail.files"].update_many({"_id": {"$in": [raw_old, att_old]}}, {"$set": {
        "uploadDate": dt.datetime.fromtimestamp(now - 40 * DAY, dt.UTC)}})
    raw_new = await store.put_file("new@x.eml", b"raw", "message/rfc822")
    att_new = await store.put_file("b.pdf", b"pdf", "application/pdf", message_id="new@x")
    removed = await retention.sweep(store.db, {"messages": 30}, now)
    assert removed["messages"].count == 2  # the record and its raw mail; the attachment has its own limit
    assert await store.get_file(raw_old) is None and await store.get_file(att_old) is not None
    removed = await retention.sweep(store.db, {"attachments": 30}, now)
    assert removed["attachments"].count == 1 and await store.get_file(att_old) is None
    assert await store.mails.count_documents({}) == 1
    assert await store.get_file(raw_new) is not None and await store.get_file(att_new) is not None


async def test_erase_removes_every_mail_of_an_address(store: MailStore) -> None:
    await store.record({"_id": "in@x", "from": "ann@example.com", "to": "help@omnihub.test"})
    await store.record({"_id": "out@x", "from": "help@omnihub.test", "to": "Ann@Example.com"})
    await store.record({"_id": "other@x", "from": "bob@example.com", "to": "help@omnihub.test"})
    raw = await store.put_file("in@x.eml", b"raw", "message/rfc822")
    att = await store.put_file("a.pdf", b"pdf", "application/pdf", message_id="in@x")
    kept = await store.put_file("b.pdf", b"pdf", "application/pdf", message_id="other@x")
    assert await retention.erase(store.db, ["Ann@Example.com"]) == {"mails": 2, "files": 2}
    assert await store.get_file(raw) is None and await store.get_file(att) is None
    assert await store.get_file(kept) is not None and await store.mails.count_documents({}) == 1
    assert await retention.erase(store.db, ["Ann@Example.com"]) == {"mails": 0, "files": 0}  # a retry
