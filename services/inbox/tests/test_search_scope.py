"""The search index's scopes on SecantusDB: an agent finds only conversations they hold or held, in one indexed read."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from pymongo import ASCENDING

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox.live import message_doc
from omnihub.inbox.search import ALL, OLD_INDEX, SearchIndex
from omnihub.inbox.store import InboxStore
from omnihub.inbox.terms import parse_query

NOW = time.time()


def created(cid: str, customer: str, phone: str, at: float) -> event_pb2.Event:
    evt = event_pb2.Event(id=f"evt_{cid}", conversation_id=cid, customer_id=customer, channel=contact_pb2.CHANNEL_SMS)
    evt.time.FromNanoseconds(int(at * 1e9))
    evt.conversation_created.conversation.CopyFrom(routing_pb2.Conversation(
        id=cid, customer_id=customer, channel=contact_pb2.CHANNEL_SMS, customer_display_name="Li Wei",
        identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_SMS, source_id=phone)))
    return evt


def message(cid: str, customer: str, mid: str, text: str, at: float) -> event_pb2.Event:
    evt = event_pb2.Event(id=f"evt_{mid}", conversation_id=cid, customer_id=customer, channel=contact_pb2.CHANNEL_SMS)
    evt.time.FromNanoseconds(int(at * 1e9))
    evt.message_created.message.CopyFrom(messaging_pb2.Message(
        id=mid, conversation_id=cid, text=text, channel=contact_pb2.CHANNEL_SMS,
        direction=messaging_pb2.DIRECTION_INCOMING))
    return evt


def assigned(cid: str, customer: str, agent: str) -> event_pb2.Event:
    evt = event_pb2.Event(id=f"evt_a_{cid}_{agent}", conversation_id=cid, customer_id=customer)
    evt.conversation_assigned.agent_id = agent
    return evt


@pytest.fixture
async def index(mongo_url: str, mongo_db: str) -> AsyncIterator[SearchIndex]:
    store = InboxStore(mongo_url, mongo_db)
    await store.setup()
    idx = SearchIndex(store)
    await idx.setup()
    yield idx
    await store.client.drop_database(mongo_db)
    await store.close()


async def found(index: SearchIndex, q: str, scope: str, current: set[str] | None = None) -> list[str]:
    """The conversations of the hits, newest first (the message text read back, as the API does)."""
    query = parse_query(q)
    docs, _ = await index.find(query, scope, NOW + 60, 20, current or set())
    return [h.conversation_id for h in await index.hits(query, docs)]


async def test_an_agent_finds_only_what_they_hold_or_held(index: SearchIndex) -> None:
    events = [
        created("cnv_a", "cus_a", "+8613800138000", NOW - 300),
        message("cnv_a", "cus_a", "msg_a1", "您好，我想申请退款因为商品坏了", NOW - 290),  # before alice takes it
        assigned("cnv_a", "cus_a", "alice"),
        created("cnv_b", "cus_b", "+8613900139000", NOW - 200),
        assigned("cnv_b", "cus_b", "bob"),
        message("cnv_b", "cus_b", "msg_b1", "我也要退款，谢谢", NOW - 190),
    ]
    await index.index_events(events[:2])  # the assignment in a later batch than the message
    await index.index_events(events[2:])
    await index.store.add_messages([message_doc(e) for e in events if e.WhichOneof("kind") == "message_created"])
    assert await found(index, "退款", "alice") == ["cnv_a"]
    assert await found(index, "退款", "bob") == ["cnv_b"]
    assert await found(index, "退款", "carol") == []
    assert await found(index, "退款", ALL) == ["cnv_b", "cnv_a"]
    assert await found(index, "13800138000", "bob") == []  # the customer's number: not bob's customer
    assert await found(index, "13800138000", "alice") == ["cnv_a"]

    # a message after the assignment (next batch) is in the holder's scope; a transfer adds the new holder
    later = message("cnv_a", "cus_a", "msg_a2", "发票也请开一下", NOW - 100)
    await index.index_events([later, assigned("cnv_a", "cus_a", "bob")])
    await index.store.add_messages([message_doc(later)])
    assert await found(index, "发票", "alice") == ["cnv_a"]
    assert await found(index, "退款", "bob") == ["cnv_b", "cnv_a"]
    await index.index_events([later, assigned("cnv_a", "cus_a", "bob")])  # a redelivery changes nothing
    assert await index.docs.count_documents({"c": "cnv_a", "v": "bob"}) == 3


async def test_a_conversation_taken_a_moment_ago_is_found_before_its_assignment_is_indexed(index: SearchIndex) -> None:
    events = [created("cnv_c", "cus_c", "+8613700137000", NOW - 50),
              message("cnv_c", "cus_c", "msg_c1", "快递显示已签收但是我没有收到", NOW - 40)]
    await index.index_events(events)
    await index.store.add_messages([message_doc(events[1])])
    assert await found(index, "签收", "alice") == []
    assert await found(index, "签收", "alice", current={"cnv_c"}) == ["cnv_c"]
    await index.index_events([assigned("cnv_c", "cus_c", "alice")])
    assert await found(index, "签收", "alice", current={"cnv_c"}) == ["cnv_c"]  # once, not twice


async def test_documents_from_before_scopes_are_upgraded_at_setup(mongo_url: str, mongo_db: str) -> None:
    store = InboxStore(mongo_url, mongo_db)
    try:
        await store.setup()
        old = store.db["search"]
        await old.create_index([("terms", ASCENDING), ("t", ASCENDING)])
        await old.insert_many([
            {"_id": "c:cnv_d", "k": "c", "c": "cnv_d", "u": "cus_d", "t": NOW - 30, "terms": ["cnv_d"], "name": "",
             "sid": "", "ch": "sms"},
            {"_id": "m:msg_d1", "k": "m", "c": "cnv_d", "u": "cus_d", "t": NOW - 20, "terms": ["invoice", "msg_d1"]}])
        await store.add_holders([("cnv_d", "cus_d", "alice")])
        index = SearchIndex(store)
        await index.setup()
        assert OLD_INDEX not in await old.index_information()
        assert [d["c"] for d in (await index.find(parse_query("invoice"), "alice", NOW + 60, 20))[0]] == ["cnv_d"]
        assert (await index.find(parse_query("invoice"), "bob", NOW + 60, 20))[0] == []
        assert len((await index.find(parse_query("invoice"), ALL, NOW + 60, 20))[0]) == 1
    finally:
        await store.client.drop_database(mongo_db)
        await store.close()
