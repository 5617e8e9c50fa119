"""Lifecycle events from short dictionaries, for the KPI test vectors and the rollup property test."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import duration_pb2

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2

CHANNELS = {"sms": contact_pb2.CHANNEL_SMS, "voice": contact_pb2.CHANNEL_VOICE, "email": contact_pb2.CHANNEL_EMAIL,
            "webchat": contact_pb2.CHANNEL_WEBCHAT}


def when(value: Any) -> float:
    """Epoch seconds from an ISO 8601 string (with an offset) or a number."""
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _dur(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(round(float(seconds) * 1e9))
    return d


def _state(name: str) -> routing_pb2.AgentState.ValueType:
    return routing_pb2.AgentState.Value(f"AGENT_STATE_{name}")


def event(spec: dict[str, Any], index: int) -> event_pb2.Event:
    """One event: `kind` is queued, assigned, transferred, wrapped_up, resolved, abandoned, reopened, state,
    merged or survey; `at` the time; the rest names its fields (waits and durations in seconds)."""
    s = dict(spec)
    kind = s.pop("kind")
    conv = str(s.get("conv", ""))
    e = event_pb2.Event(id=str(s.get("id") or f"evt_{index}_{kind}_{conv}"), conversation_id=conv,
                        customer_id=str(s.get("customer", f"cus_{conv}")) if conv else "",
                        channel=CHANNELS[str(s.get("channel", "sms"))] if conv else contact_pb2.CHANNEL_UNSPECIFIED, source="test",
                        queue=str(s.get("queue", "")))
    e.time.FromNanoseconds(round(when(s["at"]) * 1e9))
    if kind == "queued":
        e.conversation_queued.CopyFrom(event_pb2.ConversationQueued(queue=str(s.get("queue", "support")),
                                                                    reason=str(s.get("reason", "new"))))
    elif kind == "assigned":
        e.conversation_assigned.CopyFrom(event_pb2.ConversationAssigned(
            agent_id=str(s["agent"]), queue=str(s.get("queue", "support")), wait_duration=_dur(s.get("wait", 0)),
            first_answer=bool(s.get("first", True)), callback=bool(s.get("callback", False))))
    elif kind == "transferred":
        e.conversation_transferred.CopyFrom(event_pb2.ConversationTransferred(
            from_agent=str(s.get("from", "")), to_agent=str(s.get("to", "")), to_queue=str(s.get("to_queue", ""))))
    elif kind == "wrapped_up":
        e.conversation_wrapped_up.CopyFrom(event_pb2.ConversationWrappedUp(
            agent_id=str(s["agent"]), resolved=bool(s.get("resolved", True)), talk_duration=_dur(s.get("talk", 0)),
            hold_duration=_dur(s.get("hold", 0)), wrap_up_duration=_dur(s.get("wrap", 0))))
    elif kind == "resolved":
        e.conversation_resolved.CopyFrom(event_pb2.ConversationResolved(agent_id=str(s.get("agent", "")),
                                                                        resolved=bool(s.get("resolved", True))))
    elif kind == "abandoned":
        e.conversation_abandoned.CopyFrom(event_pb2.ConversationAbandoned(queue=str(s.get("queue", "support")),
                                                                          wait_duration=_dur(s.get("wait", 0))))
    elif kind == "reopened":
        e.conversation_reopened.CopyFrom(event_pb2.ConversationReopened(previous_agent=str(s.get("agent", ""))))
    elif kind == "state":
        e.agent_state_changed.CopyFrom(event_pb2.AgentStateChanged(
            agent_id=str(s["agent"]), from_state=_state(str(s.get("from", "OFFLINE"))), to_state=_state(str(s["to"]))))
    elif kind == "merged":
        e.customer_merged.CopyFrom(event_pb2.CustomerMerged(customer_id=str(s["into"]),
                                                            merged_customer_id=str(s["merged"])))
    elif kind == "survey":
        e.survey_answered.CopyFrom(event_pb2.SurveyAnswered(survey_id=f"srv_{conv}", question=str(s["question"]),
                                                            score=int(s["score"])))
    else:
        raise ValueError(f"unknown event kind {kind!r}")
    return e


def survey_doc(spec: dict[str, Any]) -> dict[str, Any]:
    """The survey record quality keeps for a `survey` event's conversation (sent when it was resolved)."""
    conv = str(spec["conv"])
    return {"_id": f"srv_{conv}", "conversation_id": conv, "channel": str(spec.get("channel", "sms")),
            "identity": f"sms:{conv}", "agent": str(spec.get("agent", "")), "queue": str(spec.get("queue", "support")),
            "sent_at": when(spec["at"]) - 1, "answers": {}}
