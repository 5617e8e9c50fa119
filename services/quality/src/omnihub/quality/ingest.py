"""Turn lifecycle events into conversation documents (each with its full timeline) and stored events; send surveys.

A conversation's events live in its document's `timeline`, one entry per event id carrying the encoded event, so
a conversation costs one write per batch rather than one per event. Events without a conversation (agent state
changes, opt-outs) go to the `events` collection, unique by event id.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from google.protobuf.json_format import MessageToDict
from pymongo.errors import BulkWriteError, DuplicateKeyError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Consumer, Delivery, now_timestamp
from omnihub.common.logging import get_logger
from omnihub.quality.rollup_writer import RollupWriter
from omnihub.quality.rollups import RollupConfig
from omnihub.quality.store import QualityStore

log = get_logger("omnihub.quality")


# Events per fetch. A fetch returns what is waiting, so live traffic is handled as it comes, while a backlog
# (a replay, or catching up after downtime) arrives in large batches in which most conversations are
# complete and cost one write each.
INGEST_BATCH = 10_000

# A conversation's last lifecycle events: nothing more is worth waiting for after these.
ENDING = frozenset({"conversation_wrapped_up", "conversation_abandoned"})
MAX_HELD = INGEST_BATCH
DUPLICATE_RETRIES = 3


def _secs(d: Any) -> float:
    """Seconds of a Timestamp or Duration."""
    return d.seconds + d.nanos / 1e9  # type: ignore[no-any-return]


def _channel(evt: event_pb2.Event) -> str:
    return subjects.CHANNEL_TOKENS.get(evt.channel, "")


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


def conversation_changes(events: list[event_pb2.Event]) -> dict[str, dict[str, Any]]:
    """One idempotent, order-independent update document per conversation for a batch of events.

    `$min`/`$max` keep the earliest creation and answer and the latest close, `$set` takes the event-time
    latest value, and `$addToSet` adds each event once to the timeline, so replays change nothing.
    """
    return {cid: change.update() for cid, change in conversation_batch(events).items()}


def conversation_batch(events: list[event_pb2.Event]) -> dict[str, ConversationChange]:
    """The merged change of each conversation in a batch of events: `update()` for a stored conversation,
    `document(id)` for a new one."""
    merged: dict[str, ConversationChange] = {}
    for evt in sorted(events, key=lambda e: (e.time.seconds, e.time.nanos)):
        cid = evt.conversation_id
        if cid:
            change = merged.get(cid)
            if change is None:
                change = merged[cid] = ConversationChange()
            change.add(evt)
    return merged


class ConversationChange:
    """The merged change of one conversation's events (added in event-time order)."""

    __slots__ = ("max", "messages", "min", "set", "timeline")

    def __init__(self) -> None:
        self.min: dict[str, float] = {}
        self.max: dict[str, float] = {}
        self.set: dict[str, Any] = {}
        self.timeline: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    def update(self) -> dict[str, Any]:
        """The idempotent update document (see `conversation_changes`)."""
        out: dict[str, Any] = {"$min": self.min, "$addToSet": {"timeline": {"$each": self.timeline}}}
        if self.messages:
            out["$addToSet"]["messages"] = {"$each": self.messages}
        if self.max:
            out["$max"] = self.max
        if self.set:
            out["$set"] = self.set
        return out

    def document(self, conversation_id: str) -> dict[str, Any]:
        """The document the upsert of `update()` creates in a missing conversation (store.created_document's
        result, built without its general path walk: `$set` paths here are `<field>` or `<map>.<event key>`)."""
        doc: dict[str, Any] = {"_id": conversation_id, **self.min, **self.max}
        for path, value in self.set.items():
            if "." in path:
                name, _, key = path.partition(".")
                into = doc.get(name)
                if into is None:
                    into = doc[name] = {}
                into[key] = value
            else:
                doc[path] = value
        doc["timeline"] = _distinct(self.timeline)
        if self.messages:
            doc["messages"] = _distinct(self.messages)
        return doc

    def add(self, evt: event_pb2.Event) -> None:
        """Merge one event (events come in event-time order)."""
        kind = evt.WhichOneof("kind") or ""
        t = _secs(evt.time)
        self.min.setdefault("created", t)  # events arrive in time order: the first is the earliest
        self.timeline.append(timeline_entry(evt, kind, t))
        set_ = self.set
        if evt.channel:
            set_["channel"] = _channel(evt)
        if evt.customer_id:
            set_["customer_id"] = evt.customer_id
        key = field_key(evt.id)
        if kind == "conversation_queued":
            set_["queued"] = True
            set_["queue"] = evt.conversation_queued.queue
            set_[f"offers.{key}"] = [t, evt.conversation_queued.queue]
        elif kind == "conversation_assigned":
            a = evt.conversation_assigned
            set_["agent"] = a.agent_id
            set_[f"assigns.{key}"] = [t, a.agent_id, a.first_answer, _secs(a.wait_duration), a.callback]
            if a.first_answer:
                self.min.setdefault("answered", t)
                set_["wait"] = _secs(a.wait_duration)
                set_["first_queue"] = a.queue
        elif kind == "conversation_transferred":
            set_[f"transfers.{key}"] = [t, evt.conversation_transferred.from_agent]
        elif kind == "conversation_reopened":
            self.max["reopened"] = t
        elif kind == "conversation_abandoned":
            set_["abandoned"] = t
            set_["abandon_wait"] = _secs(evt.conversation_abandoned.wait_duration)
            set_[f"abandons.{key}"] = [t, _secs(evt.conversation_abandoned.wait_duration)]
            set_["queue"] = evt.conversation_abandoned.queue
        elif kind == "conversation_wrapped_up":
            w = evt.conversation_wrapped_up
            set_.update(talk=_secs(w.talk_duration), hold=_secs(w.hold_duration), wrap=_secs(w.wrap_up_duration),
                        handled=True, resolved=w.resolved, disposition=w.disposition, agent=w.agent_id)
            set_[f"wraps.{key}"] = [t, w.agent_id, _secs(w.talk_duration), _secs(w.hold_duration),
                                    _secs(w.wrap_up_duration)]
            set_[f"outcomes.{key}"] = [t, w.resolved]
        elif kind == "conversation_resolved":
            set_["resolved"] = evt.conversation_resolved.resolved
            set_[f"outcomes.{key}"] = [t, evt.conversation_resolved.resolved]
            self.max["closed"] = t
        elif kind == "recording_available":
            set_["recording_uri"] = evt.recording_available.recording_uri
        elif kind == "message_created":
            m = evt.message_created.message
            self.messages.append({"id": m.id, "direction": messaging_pb2.Direction.Name(m.direction), "time": t})
        if evt.queue and kind not in ("conversation_abandoned", "conversation_queued"):
            set_["queue"] = evt.queue  # the latest event's queue: a transfer moves the conversation


def _distinct(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item once, in order (as `$addToSet` adds them: a batch may hold an event twice)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _duplicate(exc: BulkWriteError | DuplicateKeyError) -> bool:
    """Whether a write failed on an existing `_id`."""
    if isinstance(exc, DuplicateKeyError):
        return True
    return any(e.get("code") == 11000 for e in exc.details.get("writeErrors", []))


def field_key(event_id: str) -> str:
    """An event id usable as a MongoDB field name (no dots, no leading $)."""
    return event_id.replace(".", "_").replace("$", "_")


def timeline_entry(evt: event_pb2.Event, kind: str, t: float) -> dict[str, Any]:
    """A conversation's record of one event: its id, kind, time, the agents it names and the encoded event.

    Message events keep metadata only; the message text belongs to the inbox.
    """
    entry: dict[str, Any] = {"id": evt.id, "kind": kind, "time": t}
    if kind == "message_created":
        m = evt.message_created.message
        entry.update(message_id=m.id, direction=messaging_pb2.Direction.Name(m.direction))
    else:
        entry["event"] = evt.SerializeToString(deterministic=True)  # stored as BSON binary
    if kind == "conversation_assigned":
        entry["agent"] = evt.conversation_assigned.agent_id
    elif kind == "conversation_transferred":
        entry["to_agent"] = evt.conversation_transferred.to_agent
        entry["to_queue"] = evt.conversation_transferred.to_queue
    return entry


class Ingestor:
    """Consumes contacts.events.> in batches.

    With `hold_seconds`, the events of a conversation that has not ended yet may be held back (un-acked) for
    up to that long and stored together with its next events: a backlog then costs one write per
    conversation instead of one per fetch it spans, and live data is at most that much late.
    """

    def __init__(self, store: QualityStore, bus: Bus, surveys: bool = True, nps: bool = False,
                 hold_seconds: float = 0.0, rollup: RollupConfig | None = None) -> None:
        self.store = store
        self.rollups = RollupWriter(store, rollup or RollupConfig())
        self.bus = bus
        self.surveys = surveys
        self.nps = nps
        self.hold_seconds = hold_seconds
        self._holding_since: dict[str, float] = {}

    async def handle(self, events: list[event_pb2.Event]) -> list[event_pb2.Event]:
        """Store a batch of events and apply their effects; safe to replay. Returns the events held back."""
        holding = self._to_hold(events)
        held = [e for e in events if e.conversation_id in holding] if holding else []
        if held:
            events = [e for e in events if e.conversation_id not in holding]
        batch = conversation_batch(events)
        changes = {cid: change.update() for cid, change in batch.items()}
        stored: set[str] = set()
        for attempt in range(DUPLICATE_RETRIES + 1):
            try:
                await self.store.transaction(functools.partial(self._write, events, changes, stored, batch))
                break
            except (BulkWriteError, DuplicateKeyError) as exc:
                # a conversation (or customer) taken for new was stored meanwhile (a replay, the other replica):
                # the transaction wrote nothing; look which are stored and write again
                if attempt == DUPLICATE_RETRIES or not _duplicate(exc):
                    raise
                stored.update(await self.store.stored_ids(self.store.unknown(changes)))
        self.store.remember(changes)
        await self._effects(events)
        return held

    async def _write(self, events: list[event_pb2.Event], changes: dict[str, dict[str, Any]],
                     stored: set[str], batch: dict[str, ConversationChange]) -> list[str]:
        """Every write of a batch, in the store's transaction: the events, the conversations with their
        contributions, the customers' contacts, survey answers and the bucket deltas land together or not at all."""
        new = await self.store.insert_events([event_doc(e) for e in events if not e.conversation_id])
        merges = [(d["data"]["merged_customer_id"], d["data"]["customer_id"]) for d in new
                  if d["kind"] == "customer_merged" and d["data"].get("merged_customer_id") and d["data"].get("customer_id")]
        if merges:
            await self.rollups.merges(merges)
        inserted = await self.rollups.record(changes, stored, lambda cid: batch[cid].document(cid))
        states = [d for d in new if d["kind"] == "agent_state_changed"]
        if states:
            await self.rollups.states(states)
        for evt in events:
            kind = evt.WhichOneof("kind")
            if kind == "survey_answered":
                a = evt.survey_answered
                change = await self.store.answer_survey(a.survey_id, a.question or "csat", a.score, _secs(evt.time))
                if change is not None:
                    await self.rollups.survey(*change)
            elif kind == "customer_opt_out":
                o = evt.customer_opt_out
                await self.store.set_optout(f"{subjects.channel_token(o.identity.channel)}:{o.identity.source_id}",
                                            o.opted_out)
        return inserted

    def _to_hold(self, events: list[event_pb2.Event]) -> set[str]:
        """Conversations in this batch still open and held for less than hold_seconds (at most a batch's worth)."""
        if self.hold_seconds <= 0:
            return set()
        now = time.monotonic()
        counts: dict[str, int] = {}
        ended: set[str] = set()
        for e in events:
            if e.conversation_id:
                counts[e.conversation_id] = counts.get(e.conversation_id, 0) + 1
                if e.WhichOneof("kind") in ENDING:
                    ended.add(e.conversation_id)
        held: set[str] = set()
        room = MAX_HELD
        for cid, n in counts.items():
            since = self._holding_since.setdefault(cid, now)
            if cid not in ended and now - since < self.hold_seconds and n <= room:
                held.add(cid)
                room -= n
            else:
                del self._holding_since[cid]
        return held

    async def _effects(self, events: list[event_pb2.Event]) -> None:
        """What follows a stored batch outside the database: surveys sent (at most one per conversation)."""
        if not self.surveys:
            return
        for evt in events:
            if evt.WhichOneof("kind") == "conversation_resolved":
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
                                   conversation_id=evt.conversation_id, customer_id=evt.customer_id,
                                   channel=evt.channel, source="quality",
                                   survey_sent=event_pb2.SurveySent(survey_id=survey_id, questions=[question],
                                                                    channel=evt.channel))
            await self.bus.publish_event(sent)
        log.info("quality.survey_sent", conversation_id=evt.conversation_id, survey_id=survey_id)


async def consume_events(bus: Bus, ingestor: Ingestor, durable: str = subjects.DURABLE_QUALITY) -> Consumer[event_pb2.Event]:
    """Start the durable consumer of contacts.events.> that feeds `ingestor`."""

    async def handle(batch: list[Delivery[event_pb2.Event]]) -> list[Delivery[event_pb2.Event]]:
        held = {id(e) for e in await ingestor.handle([d.message for d in batch])}
        return [d for d in batch if id(d.message) in held] if held else []

    return await bus.consume(stream=subjects.STREAM_EVENTS, durable=durable, subjects=[subjects.EVENTS_ALL],
                             message_type=event_pb2.Event, batch_handler=handle, batch=INGEST_BATCH,
                             max_ack_pending=2 * INGEST_BATCH, ack_wait=120.0, max_deliver=10,
                             prefetch=True, fast_fetch=True)
