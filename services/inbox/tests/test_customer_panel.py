"""The customer panel's pieces: activity lines from events, previous conversations with their outcome, profile bodies."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.inbox.activity import activity_doc
from omnihub.inbox.customer_models import CustomerProfileBody
from omnihub.inbox.customers import past_conversations


def _event(**kind: Any) -> event_pb2.Event:
    evt = event_pb2.Event(id="e1", conversation_id="c1", customer_id="cus1", channel=contact_pb2.CHANNEL_SMS)
    for name, value in kind.items():
        getattr(evt, name).CopyFrom(value)
    evt.time.FromSeconds(100)
    return evt


def test_events_become_activity_lines() -> None:
    moved = activity_doc(_event(conversation_transferred=event_pb2.ConversationTransferred(
        from_agent="alice", to_queue="sales")), "conversation_transferred")
    assert moved is not None and moved["_id"] == "act_e1"
    assert moved["activity"] == {"kind": "transferred", "from_agent": "alice", "to_agent": "", "to_queue": "sales",
                                 "by": "alice"}
    assert moved["direction"] == "activity" and moved["customer_id"] == "cus1" and moved["time"] == 100
    ended = activity_doc(_event(conversation_resolved=event_pb2.ConversationResolved(
        agent_id="alice", disposition="refund", resolved=True)), "conversation_resolved")
    assert ended is not None
    assert ended["activity"] == {"kind": "ended", "agent": "alice", "disposition": "refund", "resolved": True}
    assert activity_doc(_event(conversation_queued=event_pb2.ConversationQueued()), "conversation_queued") is None
    no_customer = _event(survey_sent=event_pb2.SurveySent(survey_id="s"))
    no_customer.customer_id = ""
    assert activity_doc(no_customer, "survey_sent") is None  # nowhere to show it


def test_previous_conversations_carry_their_outcome_newest_first() -> None:
    history = [
        {"conversation_id": "c1", "channel": "sms", "direction": "incoming", "time": 1.0},
        {"conversation_id": "c1", "channel": "sms", "direction": "outgoing", "time": 2.0},
        {"conversation_id": "c1", "channel": "sms", "direction": "activity", "time": 3.0,
         "activity": {"kind": "ended", "agent": "alice", "disposition": "refund", "resolved": True}},
        {"conversation_id": "c2", "channel": "email", "direction": "incoming", "time": 4.0},
        {"conversation_id": "c3", "channel": "voice", "direction": "activity", "time": 5.0,
         "activity": {"kind": "ended", "agent": "bob", "disposition": "callback", "resolved": False}},
        {"conversation_id": "c3", "channel": "voice", "direction": "activity", "time": 5.5,
         "activity": {"kind": "call", "action": "hold", "actor_id": "bob"}},  # a call control line: no outcome
        {"conversation_id": "c3", "channel": "voice", "direction": "incoming", "time": 6.0},  # written again: open
    ]
    rows = past_conversations(history)
    assert [(r.id, r.channel, r.messages, r.ended, r.disposition, r.resolved) for r in rows] == [
        ("c3", "voice", 1, False, "", None), ("c2", "email", 1, False, "", None),
        ("c1", "sms", 2, True, "refund", True)]
    assert rows[2].first == 1.0 and rows[2].last == 3.0 and rows[2].agent == "alice"


def test_profile_bodies_are_checked() -> None:
    body = CustomerProfileBody.model_validate({"name": "Li Lei", "email": " li@example.cn ", "language": "zh-CN",
                                               "phones": ["+86 138 0013 8000"], "notes": "VIP"})
    assert body.email == "li@example.cn" and body.phones == ["+86 138 0013 8000"]
    for bad in ({"email": "li@"}, {"phones": ["call me"]}, {"language": "chinese please"}, {"notes": "x" * 4001},
                {"phones": ["+1555000"] * 6}):
        with pytest.raises(ValidationError):
            CustomerProfileBody.model_validate(bad)
