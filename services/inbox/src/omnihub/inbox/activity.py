"""Activity lines of a conversation's timeline (transferred, ended, wrapped up, survey sent), made from router and
quality events and stored beside the messages, so the history and the previous conversations show them."""

from __future__ import annotations

from typing import Any

from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects

KINDS = {"conversation_transferred": "transferred", "conversation_resolved": "ended",
         "conversation_wrapped_up": "wrapped_up", "survey_sent": "survey_sent"}


def activity_doc(evt: event_pb2.Event, kind: str) -> dict[str, Any] | None:
    """The stored activity line of an event, or None when the event makes none."""
    activity = KINDS.get(kind)
    if activity is None or not evt.conversation_id or not evt.customer_id:
        return None
    detail: dict[str, Any] = {}
    if kind == "conversation_transferred":
        t = evt.conversation_transferred
        detail = {"from_agent": t.from_agent, "to_agent": t.to_agent, "to_queue": t.to_queue,
                  "by": t.requested_by or t.from_agent}
    elif kind == "conversation_resolved":
        r = evt.conversation_resolved
        detail = {"agent": r.agent_id, "disposition": r.disposition, "resolved": r.resolved}
    elif kind == "conversation_wrapped_up":
        w = evt.conversation_wrapped_up
        detail = {"agent": w.agent_id, "disposition": w.disposition, "resolved": w.resolved}
    elif kind == "survey_sent":
        detail = {"questions": list(evt.survey_sent.questions)}
    return {"_id": f"act_{evt.id}", "conversation_id": evt.conversation_id, "customer_id": evt.customer_id,
            "channel": subjects.channel_token(evt.channel) if evt.channel else "", "direction": "activity",
            "activity": {"kind": activity, **detail}, "text": "", "private": False,  # as calls.call_activity_doc
            "time": evt.time.ToNanoseconds() / 1e9, "status": "", "attachments": []}
