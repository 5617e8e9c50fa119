"""Turn lifecycle events into stored events and idempotent conversation updates; send surveys."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict
from pymongo import UpdateOne

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, now_timestamp
from omnihub.common.logging import get_logger
from omnihub.quality.store import QualityStore

log = get_logger("omnihub.quality")


def _secs(d: Any) -> float:
    return float(d.ToNanoseconds()) / 1e9


def _channel(evt: event_pb2.Event) -> str:
    return subjects.channel_token(evt.channel) if evt.channel else ""


def event_doc(evt: event_pb2.Event) -> dict[str, Any]:
    """The stored form of an event: searchable fields plus the payload as JSON."""
    kind = evt.WhichOneof("kind") or ""
    payload = getattr(evt, kind) if kind else None
    doc: dict[str, Any] = {
        "_id": evt.id, "kind": kind, "time": _secs(evt.time), "conversation_id": evt.conversation_id,
        "customer_id": evt.customer_id, "channel": _channel(evt), "queue": evt.queue, "source": evt.source,
        "data": MessageToDict(payload, preserving_proto_field_name=True) if payload is not None else {},
    }
    if payload is not None and hasattr(payload, "agent_id"):
        doc["agent"] = payload.agent_id
    if kind == "agent_state_changed":
        s = evt.agent_state_changed
        doc["from_state"] = routing_pb2.AgentState.Name(s.from_state).removeprefix("AGENT_STATE_")
        doc["to_state"] = routing_pb2.AgentState.Name(s.to_state).removeprefix("AGENT_STATE_")
    return doc


def conversation_updates(events: list[event_pb2.Event]) -> list[UpdateOne]:
    """One idempotent upsert per conversation for a batch of events (in event-time order)."""
    merged: dict[str, dict[str, Any]] = {}
    for evt in sorted(events, key=lambda e: e.time.ToNanoseconds()):
        part = conversation_change(evt)
        if part is None:
            continue
        into = merged.setdefault(evt.conversation_id, {"$min": {}, "$max": {}, "$set": {}, "$addToSet": {}})
        for field, value in part.get("$min", {}).items():
            into["$min"][field] = min(value, into["$min"].get(field, value))
        for field, value in part.get("$max", {}).items():
            into["$max"][field] = max(value, into["$max"].get(field, value))
        into["$set"].update(part.get("$set", {}))
        for field, value in part.get("$addToSet", {}).items():
            into["$addToSet"].setdefault(field, {"$each": []})["$each"].append(value)
    return [UpdateOne({"_id": cid}, {k: v for k, v in update.items() if v}, upsert=True)
            for cid, update in merged.items()]


def conversation_update(evt: event_pb2.Event) -> UpdateOne | None:
    """The upsert for one event (see conversation_updates for batches)."""
    updates = conversation_updates([evt])
    return updates[0] if updates else None


def conversation_change(evt: event_pb2.Event) -> dict[str, Any] | None:
    """An idempotent, order-independent change of the conversation document for one event."""
    if not evt.conversation_id:
        return None
    kind = evt.WhichOneof("kind") or ""
    t = _secs(evt.time)
    entry: dict[str, Any] = {"id": evt.id, "kind": kind, "time": t}
    set_: dict[str, Any] = {}
    min_: dict[str, Any] = {"created": t}
    max_: dict[str, Any] = {}
    add: dict[str, Any] = {"timeline": entry}
    if evt.channel:
        set_["channel"] = _channel(evt)
    if evt.customer_id:
        set_["customer_id"] = evt.customer_id
    if kind == "conversation_queued":
        set_["queued"] = True
        set_["queue"] = evt.conversation_queued.queue
    elif kind == "conversation_assigned":
        a = evt.conversation_assigned
        entry["agent"] = a.agent_id
        set_["agent"] = a.agent_id
        if a.first_answer:
            min_["answered"] = t
            set_["wait"] = a.wait_duration.ToNanoseconds() / 1e9
            set_["first_queue"] = a.queue
    elif kind == "conversation_abandoned":
        set_["abandoned"] = t
        set_["abandon_wait"] = evt.conversation_abandoned.wait_duration.ToNanoseconds() / 1e9
        set_["queue"] = evt.conversation_abandoned.queue
    elif kind == "conversation_wrapped_up":
        w = evt.conversation_wrapped_up
        set_.update(talk=_secs(w.talk_duration), hold=_secs(w.hold_duration), wrap=_secs(w.wrap_up_duration),
                    handled=True, resolved=w.resolved, disposition=w.disposition, agent=w.agent_id)
    elif kind == "conversation_resolved":
        set_["resolved"] = evt.conversation_resolved.resolved
        max_["closed"] = t
    elif kind == "conversation_transferred":
        entry["to_agent"] = evt.conversation_transferred.to_agent
        entry["to_queue"] = evt.conversation_transferred.to_queue
    elif kind == "recording_available":
        set_["recording_uri"] = evt.recording_available.recording_uri
    elif kind == "message_created":
        m = evt.message_created.message
        add["messages"] = {"id": m.id, "direction": messaging_pb2.Direction.Name(m.direction), "time": t}
    if evt.queue and kind not in ("conversation_abandoned", "conversation_queued"):
        set_.setdefault("queue", evt.queue)
    return {"$min": min_, "$addToSet": add, "$set": set_, "$max": max_}


class Ingestor:
    """Consumes contacts.events.> in batches."""

    def __init__(self, store: QualityStore, bus: Bus, surveys: bool = True, nps: bool = False) -> None:
        self.store = store
        self.bus = bus
        self.surveys = surveys
        self.nps = nps

    async def handle(self, events: list[event_pb2.Event]) -> None:
        """Store a batch of events and apply their effects; safe to replay."""
        await self.store.insert_events([event_doc(e) for e in events])
        await self.store.apply(conversation_updates(events))
        for evt in events:
            kind = evt.WhichOneof("kind")
            if kind == "survey_answered":
                a = evt.survey_answered
                await self.store.answer_survey(a.survey_id, a.question or "csat", a.score, _secs(evt.time))
            elif kind == "customer_opt_out":
                o = evt.customer_opt_out
                await self.store.set_optout(f"{subjects.channel_token(o.identity.channel)}:{o.identity.source_id}",
                                            o.opted_out)
            elif kind == "conversation_resolved" and self.surveys:
                await self._send_survey(evt)

    async def _send_survey(self, evt: event_pb2.Event) -> None:
        if evt.channel in (contact_pb2.CHANNEL_UNSPECIFIED, contact_pb2.CHANNEL_VOICE) or not evt.identity.source_id:
            return
        identity = f"{subjects.channel_token(evt.identity.channel or evt.channel)}:{evt.identity.source_id}"
        if await self.store.opted_out(identity):
            return
        survey_id = f"srv_{evt.conversation_id}"
        claimed = await self.store.claim_survey({
            "_id": survey_id, "conversation_id": evt.conversation_id, "channel": _channel(evt),
            "identity": identity, "agent": evt.conversation_resolved.agent_id, "queue": evt.queue,
            "sent_at": _secs(evt.time), "answers": {}})
        if not claimed:
            return
        for question in ["csat", "nps"] if self.nps else ["csat"]:
            out = messaging_pb2.OutboundMessage(
                id=f"out_{survey_id}_{question}", channel=evt.channel, identity=evt.identity,
                conversation_id=evt.conversation_id, thread_key=evt.thread_key,
                kind=messaging_pb2.OUTBOUND_KIND_SURVEY, survey_id=survey_id, survey_question=question,
                create_time=now_timestamp())
            await self.bus.publish(subjects.outbound(evt.channel), out, msg_id=out.id)
            sent = event_pb2.Event(id=f"evt_survey_sent_{survey_id}_{question}", time=now_timestamp(),
                                   conversation_id=evt.conversation_id, channel=evt.channel, source="quality",
                                   survey_sent=event_pb2.SurveySent(survey_id=survey_id, questions=[question],
                                                                    channel=evt.channel))
            await self.bus.publish_event(sent)
        log.info("quality.survey_sent", conversation_id=evt.conversation_id, survey_id=survey_id)
