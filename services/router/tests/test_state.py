"""The router's state in JetStream KV: what it writes per conversation, and restoring the older layout."""

from __future__ import annotations

import asyncio
import time

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.bus import Bus
from omnihub.router.core import Record, ts
from omnihub.router.store import StateStore

from .conftest import RouterHarness, events, inbound, make_router, publish

WEBCHAT = contact_pb2.CHANNEL_WEBCHAT


async def test_an_offered_conversation_is_one_record_holding_its_reservation(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    await publish(harness.bus, inbound("visitor-s", "hello"))
    (offered,) = await events(harness.bus, "conversation_offered", 1)
    await asyncio.sleep(0.3)  # the tick flushes
    data = await harness.core.store.load()
    kinds = sorted(key.split(".", 1)[0] for key in data)
    assert kinds == ["a", "c", "u"]  # alice, the conversation (with its offer), the customer (with its identity)
    # the envelope, encoded once per conversation in front of each event's own fields, decodes whole
    assert offered.identity.source_id == "visitor-s" and offered.queue == "support"
    assert offered.channel == WEBCHAT and offered.thread_key == "visitor-s" and offered.source == "router"
    assert offered.id.startswith("evt_") and offered.time.seconds > 0
    record = data[f"c.{offered.conversation_id}"]
    assert record["reservation"]["id"] == offered.conversation_offered.reservation_id
    assert data[f"u.{offered.customer_id}"]["identities"] == ["webchat:visitor-s"]
    conv = await harness.core.accept("alice", offered.conversation_offered.reservation_id)
    assert conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED
    assert (await harness.core.store.load())[f"c.{conv.id}"]["reservation"] is None


async def test_state_in_the_older_key_layout_is_restored_and_folded_into_records(bus: Bus) -> None:
    store = StateStore(bus)
    await store.open()
    now = time.time()
    conv = routing_pb2.Conversation(
        id="cnv_old", channel=WEBCHAT, customer_id="cus_old", thread_key="old-visitor",
        identity=contact_pb2.Identity(channel=WEBCHAT, source_id="old-visitor"), queue="support",
        status=routing_pb2.CONVERSATION_STATUS_OPEN, routing_state=routing_pb2.ROUTING_STATE_OFFERED,
        assigned_agent="alice", create_time=ts(now - 5), enqueue_time=ts(now - 5))
    # What routers before the record layout wrote: thread, identity and reservation keys of their own.
    store.put("c.cnv_old", Record(conv, first_enqueue=now - 5).dump())
    store.put("t.webchat:old-visitor", {"thread": "webchat:old-visitor", "conversation_id": "cnv_old"})
    store.put("i.webchat:old-visitor", {"identity": "webchat:old-visitor", "customer_id": "cus_old"})
    store.put("u.cus_old", {"id": "cus_old", "display_name": "", "last_agent": "", "last_close": 0.0, "create": now})
    store.put("r.res_old", {"id": "res_old", "conversation_id": "cnv_old", "agent_id": "alice", "expire": now + 600})
    store.put("a.alice", {"id": "alice", "presence": "AVAILABLE", "reason": "", "last_idle": now, "missed": 0})
    await store.flush()
    router, server, _ = await make_router(bus)
    try:
        core = router.core
        assert core.identities["webchat:old-visitor"] == "cus_old"
        assigned = await core.accept("alice", "res_old")  # the offer made before the upgrade still counts
        assert assigned.id == "cnv_old" and assigned.assigned_agent == "alice"
        await publish(bus, inbound("old-visitor", "me again"))  # the thread still leads to its conversation
        (message,) = await events(bus, "message_created", 1)
        assert message.conversation_id == "cnv_old"
        assert list(core.records) == ["cnv_old"]
        await asyncio.sleep(0.3)
        data = await store.load()
        assert sorted(data) == ["a.alice", "c.cnv_old", "s.support", "u.cus_old"]  # the older keys are gone
        assert data["u.cus_old"]["identities"] == ["webchat:old-visitor"]
    finally:
        await server.stop(0)
        await router.deactivate()


async def test_wrap_up_notes_under_the_older_key_are_folded_into_the_record(bus: Bus) -> None:
    store = StateStore(bus)
    await store.open()
    now = time.time()
    conv = routing_pb2.Conversation(
        id="cnv_wrap", channel=WEBCHAT, customer_id="cus_w", thread_key="wrap-visitor",
        identity=contact_pb2.Identity(channel=WEBCHAT, source_id="wrap-visitor"), queue="support",
        status=routing_pb2.CONVERSATION_STATUS_RESOLVED, routing_state=routing_pb2.ROUTING_STATE_WRAP_UP,
        assigned_agent="alice", create_time=ts(now - 60), enqueue_time=ts(now - 60))
    store.put("c.cnv_wrap", Record(conv, wrap_start=now - 1, wrap_until=now + 600).dump())
    store.put("n.cnv_wrap", {"notes": "promised a call back"})  # where routers before kept the notes
    await store.flush()
    router, server, _ = await make_router(bus)
    try:
        assert router.core.records["cnv_wrap"].wrap_notes == "promised a call back"
        await asyncio.sleep(0.3)
        data = await store.load()
        assert "n.cnv_wrap" not in data and data["c.cnv_wrap"]["wrap_notes"] == "promised a call back"
    finally:
        await server.stop(0)
        await router.deactivate()
