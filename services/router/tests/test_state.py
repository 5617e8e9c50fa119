"""The router's state in JetStream KV: what it writes per conversation."""

from __future__ import annotations

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2

from .conftest import RouterHarness, events, inbound, publish

WEBCHAT = contact_pb2.CHANNEL_WEBCHAT


async def test_an_offered_conversation_is_one_record_holding_its_reservation(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    await publish(harness.bus, inbound("visitor-s", "hello"))
    (offered,) = await events(harness.bus, "conversation_offered", 1)
    data = await harness.core.store.load()  # written before the offer's events were published (group commit)
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
