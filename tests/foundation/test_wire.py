"""Hand-encoded protobuf (omnihub.common.wire) decodes to what the generated classes would build."""

from __future__ import annotations

import time

from google.protobuf import timestamp_pb2
from hypothesis import given
from hypothesis import strategies as st

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import wire
from omnihub.common.bus import new_event


@given(st.integers(1, 2**63 - 1))
def test_varint_matches_protobuf(n: int) -> None:
    assert b"\x08" + wire.varint(n) == timestamp_pb2.Timestamp(seconds=n).SerializeToString()


def test_an_encoded_event_equals_the_one_new_event_builds() -> None:
    offered = event_pb2.ConversationOffered(agent_id="alice", reservation_id="res_1", auto_accepted=True)
    envelope = event_pb2.Event(conversation_id="cnv_1", channel=contact_pb2.CHANNEL_SMS, queue="support",
                               identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_SMS, source_id="+15550001"))
    before = time.time_ns()
    event_id, data = wire.EventEncoder("router").encode("conversation_offered", offered)
    decoded = event_pb2.Event.FromString(envelope.SerializeToString() + data)

    expected = new_event("router", id=event_id, conversation_offered=offered)
    expected.MergeFrom(envelope)
    expected.time.CopyFrom(decoded.time)
    assert decoded == expected
    assert decoded.WhichOneof("kind") == "conversation_offered"
    assert event_id.startswith("evt_")
    assert before // 1_000_000 <= decoded.time.ToNanoseconds() // 1_000_000 <= time.time_ns() // 1_000_000


def test_an_encoded_event_takes_a_given_id_and_a_serialized_kind() -> None:
    decision = routing_pb2.RoutingDecision(conversation_id="cnv_1", chosen_agent="bob", strategy="longest_idle")
    event_id, data = wire.EventEncoder("router").encode("routing_decided", decision.SerializeToString(), "evt_fixed")
    decoded = event_pb2.Event.FromString(data)
    assert event_id == "evt_fixed" == decoded.id
    assert decoded.source == "router"
    assert decoded.routing_decided == decision


def test_an_encoded_event_takes_its_time_from_the_given_clock() -> None:
    now = [1_700_000_000.1234]
    encoder = wire.EventEncoder("router", lambda: now[0])
    first = event_pb2.Event.FromString(encoder.encode("conversation_offered", event_pb2.ConversationOffered())[1])
    now[0] += 2.5
    second = event_pb2.Event.FromString(encoder.encode("conversation_offered", event_pb2.ConversationOffered())[1])
    assert first.time.ToMilliseconds() == 1_700_000_000_123
    assert second.time.ToMilliseconds() == 1_700_000_002_623
