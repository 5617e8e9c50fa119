"""Who supervises a conversation: supervisor.intervened events published, stored and read back as presence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.bus import new_event
from omnihub.inbox.auth import Session
from omnihub.inbox.supervision_models import Presence

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

IV = messaging_pb2.Intervention
GONE = ("monitor_stop", "call_leave")  # after these the supervisor is no longer present
CALL_MODES = {"listen": IV.INTERVENTION_CALL_LISTEN, "coach": IV.INTERVENTION_CALL_COACH,
              "barge": IV.INTERVENTION_CALL_BARGE, "leave": IV.INTERVENTION_CALL_LEAVE}


def action_name(action: int) -> str:
    """INTERVENTION_CALL_COACH -> "call_coach"."""
    return IV.Name(action).removeprefix("INTERVENTION_").lower()  # type: ignore[arg-type]


def intervention_doc(evt: event_pb2.Event) -> dict[str, Any]:
    """The stored form of a supervisor.intervened event."""
    i = evt.supervisor_intervened
    return {"_id": evt.id, "conversation_id": evt.conversation_id, "action": action_name(i.action),
            "supervisor_id": i.supervisor_id, "supervisor_name": i.supervisor_name, "agent_id": i.agent_id,
            "message_id": i.message_id, "time": evt.time.ToNanoseconds() / 1e9}


def present(interventions: list[dict[str, Any]]) -> list[Presence]:
    """Who is present now: each supervisor's latest intervention, unless it was leaving (oldest first)."""
    latest: dict[str, dict[str, Any]] = {}
    for doc in sorted(interventions, key=lambda d: d["time"]):
        latest.pop(doc["supervisor_id"], None)  # re-inserted: the dict keeps the order of latest actions
        latest[doc["supervisor_id"]] = doc
    return [Presence(supervisor_id=d["supervisor_id"], supervisor_name=d["supervisor_name"], action=d["action"])
            for d in latest.values() if d["action"] not in GONE]


async def announce(inbox: Inbox, s: Session, conv: routing_pb2.Conversation, action: int,
                   message: messaging_pb2.Message | None = None) -> str:
    """Publish supervisor.intervened (and the whisper's or barge's message.created right before it); the event id."""
    if message is not None:
        await inbox.bus.publish_event(new_event(
            "inbox", conversation_id=conv.id, customer_id=conv.customer_id, channel=conv.channel,
            thread_key=conv.thread_key, identity=conv.identity, queue=conv.queue,
            message_created=event_pb2.MessageCreated(message=message)))
    evt = new_event("inbox", conversation_id=conv.id, customer_id=conv.customer_id, channel=conv.channel,
                    thread_key=conv.thread_key, identity=conv.identity, queue=conv.queue,
                    supervisor_intervened=event_pb2.SupervisorIntervened(
                        action=action, supervisor_id=s.user, supervisor_name=s.name,  # type: ignore[arg-type]
                        agent_id=conv.assigned_agent, message_id=message.id if message else ""))
    await inbox.bus.publish_event(evt)
    return evt.id
