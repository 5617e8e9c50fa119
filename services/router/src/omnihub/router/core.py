"""The router's stateful core: intake, offers, agent actions and timers around the pure engine."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects, wire
from omnihub.common.bus import Bus, new_event, new_id
from omnihub.common.logging import get_logger
from omnihub.common.outgoing import Outgoing
from omnihub.common.wire import EventEncoder
from omnihub.router import engine as eng
from omnihub.router.config import LoadedConfig, QueueConfig
from omnihub.router.store import StateStore
from omnihub.router.strategies import Candidate

log = get_logger("omnihub.router")

_EVENTS = EventEncoder("router")
_KIND_SUBJECT = {f.name: subjects.event_kind_subject(f.name)
                 for f in event_pb2.Event.DESCRIPTOR.oneofs_by_name["kind"].fields}
STATE_VALUE = {
    eng.OFFLINE: routing_pb2.AGENT_STATE_OFFLINE,
    eng.AVAILABLE: routing_pb2.AGENT_STATE_AVAILABLE,
    eng.BUSY: routing_pb2.AGENT_STATE_BUSY,
    eng.WRAP_UP: routing_pb2.AGENT_STATE_WRAP_UP,
    eng.AWAY: routing_pb2.AGENT_STATE_AWAY,
}
PURGE_EVERY_SECONDS = 60.0  # how often closed records past their retention are looked for
PREVIEW_CHARS = 140  # a conversation's preview: the start of its latest message
_CANDIDATE_TAG = wire.key(routing_pb2.RoutingDecision.DESCRIPTOR.fields_by_name["candidates"].number, 2)
CANDIDATE_CACHE = 4096  # encoded candidates kept: the same agents, scored at the same time, recur in a batch


def _fail(waiters: list[asyncio.Future[None]], exc: Exception) -> None:
    for w in waiters:
        if not w.done():
            w.set_exception(exc)


class RouterError(Exception):
    """A request the router refuses; `code` is a gRPC status name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def ts(seconds: float) -> timestamp_pb2.Timestamp:
    """Seconds since the epoch as a Timestamp."""
    out = timestamp_pb2.Timestamp()
    out.FromNanoseconds(int(seconds * 1e9))
    return out


def dur(seconds: float) -> duration_pb2.Duration:
    """Seconds as a Duration."""
    out = duration_pb2.Duration()
    out.FromNanoseconds(int(max(0.0, seconds) * 1e9))
    return out


def secs(t: timestamp_pb2.Timestamp) -> float:
    """A Timestamp as seconds since the epoch (0.0 when unset)."""
    return t.ToNanoseconds() / 1e9


@dataclass(slots=True)
class Reservation:
    """An offer in flight."""

    id: str
    conversation_id: str
    agent_id: str
    expire: float


@dataclass(slots=True)
class Record:
    """A conversation and the facts the proto does not carry. The routing facts (extra skills, the agent it
    is held for, exclusions, ...) live once, in `routing`: the very entry the engine queues."""

    conv: routing_pb2.Conversation
    first_enqueue: float = 0.0
    routing: eng.Waiting = field(init=False)
    wrap_until: float = 0.0
    wrap_start: float = 0.0
    talk_seconds: float = 0.0
    wrap_notes: str = ""  # the agent's notes, sent with conversation_wrapped_up when the timer ends
    decisions: list[str] = field(default_factory=list)  # base64 RoutingDecision, newest last
    answered_once: bool = False
    closed_hours_notified: bool = False
    reservation: Reservation | None = None  # the offer in flight, kept with the conversation
    envelope: bytes = b""  # its events' encoded envelope fields, for (customer, queue) = envelope_key
    envelope_key: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        c = self.conv
        self.routing = eng.Waiting(c.id, c.queue, subjects.channel_token(c.channel), c.priority, 0.0)

    def dump(self) -> dict[str, Any]:
        """The record as stored in KV (JSON)."""
        w = self.routing
        return {
            "conv": base64.b64encode(self.conv.SerializeToString()).decode(),
            "first_enqueue": self.first_enqueue,
            "extra_skills": [list(p) for p in w.extra_skills],
            "preferred_agent": w.preferred_agent,
            "preferred_until": w.preferred_until,
            "direct": w.direct,
            "excluded": w.excluded,
            "wrap_until": self.wrap_until,
            "wrap_start": self.wrap_start,
            "talk_seconds": self.talk_seconds,
            "wrap_notes": self.wrap_notes,
            "decisions": self.decisions[-10:],
            "answered_once": self.answered_once,
            "closed_hours_notified": self.closed_hours_notified,
            "max_wait_done": w.max_wait_done,
            "reservation": None if self.reservation is None else {
                "id": self.reservation.id, "agent_id": self.reservation.agent_id, "expire": self.reservation.expire},
        }

    @classmethod
    def load(cls, data: dict[str, Any]) -> Record:
        """A record from its stored JSON."""
        conv = routing_pb2.Conversation.FromString(base64.b64decode(data["conv"]))
        rec = cls(conv)
        w = rec.routing
        rec.first_enqueue = data.get("first_enqueue", 0.0)
        w.extra_skills = tuple((str(n), int(v)) for n, v in data.get("extra_skills", []))
        w.preferred_agent = data.get("preferred_agent", "")
        w.preferred_until = data.get("preferred_until", 0.0)
        w.direct = data.get("direct", False)
        w.excluded = dict(data.get("excluded", {}))
        w.max_wait_done = data.get("max_wait_done", False)
        rec.wrap_until = data.get("wrap_until", 0.0)
        rec.wrap_start = data.get("wrap_start", 0.0)
        rec.talk_seconds = data.get("talk_seconds", 0.0)
        rec.wrap_notes = data.get("wrap_notes", "")
        rec.decisions = list(data.get("decisions", []))
        rec.answered_once = data.get("answered_once", False)
        rec.closed_hours_notified = data.get("closed_hours_notified", False)
        res = data.get("reservation")
        if res:
            rec.reservation = Reservation(res["id"], conv.id, res["agent_id"], res["expire"])
        return rec


@dataclass(slots=True)
class QueueDay:
    """Today's live figures for one queue."""

    day: str = ""
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    aht: float = 180.0


class RouterCore:
    """Owns conversations, agents and reservations; every mutation runs under one lock."""

    def __init__(self, loaded: LoadedConfig, bus: Bus, store: StateStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.bus = bus
        self.store = store
        self.clock = clock
        self.engine = eng.Engine(self.config, loaded.version)
        self.lock = asyncio.Lock()
        self.records: dict[str, Record] = {}
        self.identities: dict[str, str] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, str] = {}
        self.reservations: dict[str, Reservation] = {}
        self.heartbeats: dict[str, float] = {}
        self.watchers: dict[str, set[asyncio.Queue[routing_pb2.AgentNotice]]] = {}
        self.stats: dict[str, QueueDay] = {q.name: QueueDay() for q in self.config.queues}
        self._day: tuple[int, str] = (-1, "")
        self._open_cache: dict[str, tuple[int, bool]] = {}
        self._events: list[Outgoing] = []  # encoded when staged: subject, bytes, Nats-Msg-Id
        self._outbound: list[messaging_pb2.OutboundMessage] = []
        self._notices: list[tuple[str, routing_pb2.AgentNotice]] = []
        self._ids = itertools.count(1)
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._next_purge = 0.0
        self._wrapping: set[str] = set()  # conversations in wrap-up (checked by the tick)
        self.agent_conf = {a.id: a for a in self.config.agents}
        self._candidate_bytes: dict[Candidate, bytes] = {}

    # ---- persistence -------------------------------------------------------------------
    async def restore(self) -> None:
        """Load state from KV and rebuild the engine's queues and agents."""
        data = await self.store.load()
        now = self.clock()
        for key, value in data.items():
            kind = key.split(".", 1)[0]
            if kind == "c":
                rec = Record.load(value)
                self.records[rec.conv.id] = rec
            elif kind == "a" and value.get("id") in self.engine.agents:
                agent = self.engine.agents[value["id"]]
                agent.presence = value.get("presence", eng.OFFLINE)
                agent.reason = value.get("reason", "")
                self.engine.set_idle(agent, value.get("last_idle", now))
                agent.missed = value.get("missed", 0)
                self.heartbeats[agent.id] = now  # a fresh grace period after a restart
            elif kind == "u":
                self.customers[value["id"]] = value
                for ident in value.get("identities", ()):
                    self.identities[ident] = value["id"]
            elif kind == "s" and value.get("queue") in self.stats:
                self.stats[value["queue"]] = QueueDay(
                    value["day"], value["answered"], value["within"], value["abandoned"], value["aht"]
                )
        for rec in sorted(self.records.values(), key=lambda r: secs(r.conv.create_time)):
            conv = rec.conv
            channel = subjects.channel_token(conv.channel)
            self.threads[f"{channel}:{conv.thread_key}"] = conv.id
            if rec.reservation is not None:
                self.reservations[rec.reservation.id] = rec.reservation
            if conv.routing_state == routing_pb2.ROUTING_STATE_QUEUED:
                self._enqueue(rec, now, restore=True)
            elif conv.routing_state in (routing_pb2.ROUTING_STATE_OFFERED, routing_pb2.ROUTING_STATE_ASSIGNED):
                self.engine.hold(conv.assigned_agent, conv.id, channel)
            elif conv.routing_state == routing_pb2.ROUTING_STATE_WRAP_UP:
                self._wrapping.add(conv.id)
                self.engine.hold(conv.assigned_agent, conv.id, channel)
                self.engine.wrap(conv.assigned_agent, conv.id)
        for agent in self.engine.agents.values():
            self.engine.touch(agent)
        log.info("router.restored", conversations=len(self.records), reservations=len(self.reservations),
                 waiting=len(self.engine.waiting))

    def _end_reservation(self, rec: Record) -> Reservation | None:
        """Drop the conversation's offer in flight from its record and the index; returns it."""
        res, rec.reservation = rec.reservation, None
        if res is not None:
            self.reservations.pop(res.id, None)
        return res

    def _save(self, rec: Record) -> None:
        self.store.put(f"c.{rec.conv.id}", rec.dump)  # encoded once, at the flush

    def _save_agent(self, agent: eng.Agent) -> None:
        def dump() -> dict[str, Any]:
            return {"id": agent.id, "presence": agent.presence, "reason": agent.reason,
                    "last_idle": agent.last_idle, "missed": agent.missed}

        self.store.put(f"a.{agent.id}", dump)

    def _save_stats(self, queue: str) -> None:
        s = self.stats[queue]
        self.store.put(f"s.{queue}", {"queue": queue, "day": s.day, "answered": s.answered,
                                      "within": s.within, "abandoned": s.abandoned, "aht": s.aht})

    @contextlib.asynccontextmanager
    async def changing(self) -> AsyncIterator[None]:
        """Change state under the lock, then wait, outside it, until the change is durable and
        published (group commit): other requests stage their changes into the same write meanwhile,
        and their callers, like this one, only return once their own changes are persisted."""
        async with self.lock:
            yield
            waiter = self._commit()
        await waiter

    def _commit(self) -> asyncio.Future[None]:
        """A future resolved once everything staged so far is written (by the flusher task)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())
        return waiter

    async def _flush_loop(self) -> None:
        """Write staged changes in two overlapping stages: a flush's state goes to KV while the previous
        flush's events are still being published. Each flush's events follow its own state (an event
        never names unsaved state) and the previous flush's events (their order holds)."""
        publishing: asyncio.Task[None] | None = None
        while self._waiters or (publishing is not None and not publishing.done()):
            if not self._waiters:
                assert publishing is not None
                await asyncio.wait({publishing})  # then look again: callers may have staged meanwhile
                continue
            waiters, self._waiters = self._waiters, []
            dirty = self.store.take()
            events, self._events = self._events, []
            outbound, self._outbound = self._outbound, []
            notices, self._notices = self._notices, []
            try:
                await self.store.write(dirty)
            except Exception as exc:
                _fail(waiters, exc)
                continue
            publishing = asyncio.get_running_loop().create_task(
                self._publish_flush(publishing, waiters, events, outbound, notices))

    async def _publish_flush(self, previous: asyncio.Task[None] | None, waiters: list[asyncio.Future[None]],
                             events: list[Outgoing], outbound: list[messaging_pb2.OutboundMessage],
                             notices: list[tuple[str, routing_pb2.AgentNotice]]) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self.bus.publish_many(subjects.STREAM_EVENTS, events)
            if outbound:
                async with self.bus.batch() as batch:
                    for out in outbound:
                        await batch.publish(subjects.outbound(out.channel), out, msg_id=out.id)
        except Exception as exc:
            _fail(waiters, exc)
            return
        for agent_id, notice in notices:
            for q in self.watchers.get(agent_id, ()):
                q.put_nowait(notice)
        for w in waiters:
            if not w.done():  # a cancelled caller (client hung up) no longer waits
                w.set_result(None)

    # ---- helpers ------------------------------------------------------------------------
    def _event(self, rec: Record | None, event_id: str = "", **kind: Any) -> None:
        """Stage one event (a single `kind=` keyword) about `rec`'s conversation for the next flush.

        The conversation's envelope fields are encoded once per conversation and put in front of each
        event's own fields: protobuf decodes concatenated encodings as one message (merged)."""
        ((name, body),) = kind.items()
        event_id, data = _EVENTS.encode(name, body, event_id)
        if rec is not None:
            data = self._envelope(rec) + data
        self._events.append(Outgoing(_KIND_SUBJECT[name], data, {subjects.HEADER_MSG_ID: event_id}))

    @staticmethod
    def _envelope(rec: Record) -> bytes:
        c = rec.conv
        key = (c.customer_id, c.queue)  # what can change (a merge, a transfer); the rest is fixed
        if rec.envelope_key != key:
            rec.envelope = event_pb2.Event(
                conversation_id=c.id, customer_id=c.customer_id, channel=c.channel, thread_key=c.thread_key,
                identity=c.identity, queue=c.queue).SerializeToString()
            rec.envelope_key = key
        return rec.envelope

    def _watched(self, agent_id: str) -> bool:
        """True when some client watches the agent's offers (else notices are not even built)."""
        return bool(self.watchers.get(agent_id))

    def _notify(self, agent_id: str, **kind: Any) -> None:
        self._notices.append((agent_id, routing_pb2.AgentNotice(**kind)))

    def _agent_state_event(self, agent: eng.Agent, before: str, forced_by: str = "") -> None:
        if agent.state == before:
            return
        self._event(None, agent_state_changed=event_pb2.AgentStateChanged(
            agent_id=agent.id, from_state=STATE_VALUE[before], to_state=STATE_VALUE[agent.state],
            reason=agent.reason, forced_by=forced_by, active_conversations=agent.open_work()))
        if self._watched(agent.id):
            self._notify(agent.id, agent=self.agent_proto(agent))

    def _today(self, queue: str, now: float) -> QueueDay:
        day_number = int(now // 86_400)  # UTC days since the epoch: the date string is made once a day
        if day_number != self._day[0]:
            self._day = (day_number, dt.datetime.fromtimestamp(now, dt.UTC).date().isoformat())
        day = self._day[1]
        s = self.stats.setdefault(queue, QueueDay())
        if s.day != day:
            s.day, s.answered, s.within, s.abandoned = day, 0, 0, 0
        return s

    def _open_now(self, qconf: QueueConfig, now: float) -> bool:
        """The queue's business hours at `now`, worked out once per queue and second."""
        second = int(now)
        cached = self._open_cache.get(qconf.name)
        if cached is None or cached[0] != second:
            cached = self._open_cache[qconf.name] = (
                second, qconf.business_hours.is_open(dt.datetime.fromtimestamp(now, dt.UTC)))
        return cached[1]

    def pick_queue(self, hints: messaging_pb2.RoutingHints, channel: str) -> str:
        """Queue from the channel's hints: explicit queue, entry point or topic mapping, default."""
        if hints.queue in self.engine.queues:
            return hints.queue
        for e in self.config.entry_points:
            if e.match in (hints.entry_point, hints.topic, f"channel:{channel}"):
                return e.queue
        if hints.topic in self.engine.queues:
            return hints.topic
        return self.config.default_queue

    # ---- intake -------------------------------------------------------------------------
    async def intake(self, messages: list[messaging_pb2.InboundMessage]) -> None:
        """Attach a batch of inbound messages to conversations, route, persist, publish."""
        async with self.changing():
            now = self.clock()
            for msg in messages:
                try:
                    self._intake_one(msg, now)
                except Exception:
                    log.exception("router.intake_failed", message_id=msg.id)
                    raise

    def _customer_for(self, msg: messaging_pb2.InboundMessage, now: float) -> str:
        ident = f"{subjects.channel_token(msg.identity.channel or msg.channel)}:{msg.identity.source_id}"
        cid = self.identities.get(ident)
        if cid is None:
            cid = new_id("cus")
            self.identities[ident] = cid
            self.customers[cid] = {"id": cid, "display_name": msg.display_name, "last_agent": "",
                                   "last_close": 0.0, "create": now, "identities": [ident]}
            self.store.put(f"u.{cid}", self.customers[cid])
        return cid

    def _intake_one(self, msg: messaging_pb2.InboundMessage, now: float) -> None:
        payload = msg.WhichOneof("payload")
        if payload == "survey_answer" or (payload == "email" and msg.email.automated):
            return  # surveys go to quality as events; automated mail never opens a conversation
        channel = subjects.channel_token(msg.channel)
        customer_id = self._customer_for(msg, now)
        thread = f"{channel}:{msg.thread_key or msg.identity.source_id}"
        rec = self.records.get(self.threads.get(thread, ""))
        if payload == "voice":
            self._voice(rec, msg, now, customer_id, thread)
            return
        if payload == "session_ended":
            if rec is not None:
                self._customer_left(rec, now, msg.session_ended.reason or "closed")
            return
        if rec is None:
            rec = self._open(msg, now, customer_id, thread)
            self._message_created(rec, msg)
            self._enqueue(rec, now, reason="new")
            return
        if rec.conv.status == routing_pb2.CONVERSATION_STATUS_RESOLVED:
            self._message_created(rec, msg)
            self._reopen(rec, now)
            return
        self._message_created(rec, msg)

    def _open(self, msg: messaging_pb2.InboundMessage, now: float, customer_id: str, thread: str,
              ) -> Record:
        channel = subjects.channel_token(msg.channel)
        queue = self.pick_queue(msg.routing_hints, channel)
        qconf = self.engine.queues[queue]
        conv = routing_pb2.Conversation(
            id=new_id("cnv"), channel=msg.channel, customer_id=customer_id, identity=msg.identity,
            thread_key=msg.thread_key or msg.identity.source_id,
            status=routing_pb2.CONVERSATION_STATUS_OPEN, queue=queue,
            priority=msg.routing_hints.priority or qconf.priority, create_time=ts(now),
            customer_display_name=msg.display_name,
            subject=msg.email.subject if msg.WhichOneof("payload") == "email" else "",
        )
        rec = Record(conv, first_enqueue=now)
        rec.routing.extra_skills = tuple(sorted((s.name, s.min_level) for s in msg.routing_hints.skills))
        customer = self.customers.get(customer_id, {})
        window = self.config.defaults.returning_customer_window_seconds
        if customer.get("last_agent") and now - customer.get("last_close", 0.0) <= window:
            rec.routing.preferred_agent = customer["last_agent"]
            rec.routing.preferred_until = now + qconf.returning_agent_seconds
        self.records[conv.id] = rec
        self.threads[thread] = conv.id  # rebuilt from the conversation records on restore
        self._event(rec, conversation_created=event_pb2.ConversationCreated(conversation=conv))
        return rec

    def _reopen(self, rec: Record, now: float) -> None:
        conv = rec.conv
        if conv.routing_state == routing_pb2.ROUTING_STATE_WRAP_UP:  # the customer wrote during wrap-up:
            self._wrapping.discard(conv.id)  # it ends now, and the agent's slot is freed
            self._finish_wrap(rec, now)
        previous = conv.assigned_agent
        conv.status = routing_pb2.CONVERSATION_STATUS_OPEN
        conv.ClearField("close_time")
        conv.assigned_agent = ""
        conv.resolved = False
        conv.disposition = ""
        self._event(rec, conversation_reopened=event_pb2.ConversationReopened(previous_agent=previous))
        rec.routing.direct = False
        rec.closed_hours_notified = False  # after hours again, the customer hears so again
        if previous:
            rec.routing.preferred_agent = previous
            rec.routing.preferred_until = now + self.engine.queues[conv.queue].returning_agent_seconds
        rec.first_enqueue = now
        rec.answered_once = False
        self._enqueue(rec, now, reason="reopened")

    def _message_created(self, rec: Record, msg: messaging_pb2.InboundMessage) -> None:
        conv = rec.conv
        payload = msg.WhichOneof("payload")
        m = messaging_pb2.Message(
            id=msg.id, conversation_id=conv.id, direction=messaging_pb2.DIRECTION_INCOMING,
            channel=msg.channel, create_time=msg.receive_time, provider_message_id=msg.provider_message_id)
        if payload == "text":
            m.text = msg.text.text
            m.attachments.extend(msg.text.attachments)
        elif payload == "email":
            m.text, m.subject, m.sanitized_html = msg.email.text, msg.email.subject, msg.email.sanitized_html
            m.attachments.extend(msg.email.attachments)
        conv.preview = (m.text or m.subject)[:PREVIEW_CHARS]
        conv.last_activity_time.CopyFrom(msg.receive_time)
        if conv.routing_state in (routing_pb2.ROUTING_STATE_ASSIGNED, routing_pb2.ROUTING_STATE_OFFERED):
            conv.unread_count += 1
        self._save(rec)
        # the id comes from the inbound message, so a redelivered one dedupes in NATS
        self._event(rec, event_id=f"evt_in_{msg.id}", message_created=event_pb2.MessageCreated(message=m))

    def _voice(self, rec: Record | None, msg: messaging_pb2.InboundMessage, now: float,
               customer_id: str, thread: str) -> None:
        v = msg.voice
        if v.event in (messaging_pb2.CALL_EVENT_TYPE_RINGING, messaging_pb2.CALL_EVENT_TYPE_IVR_CHOICE):
            return  # the call is still in the IVR; it opens a conversation when queued
        if rec is None:
            if v.event not in (messaging_pb2.CALL_EVENT_TYPE_QUEUED, messaging_pb2.CALL_EVENT_TYPE_VOICEMAIL,
                               messaging_pb2.CALL_EVENT_TYPE_CALLBACK_REQUESTED):
                return
            rec = self._open(msg, now, customer_id, thread)
            self._message_created(rec, msg)
            self._enqueue(rec, now, reason="new")
        conv = rec.conv
        if v.event == messaging_pb2.CALL_EVENT_TYPE_ABANDONED:
            self._customer_left(rec, now, "hangup")
        elif v.event == messaging_pb2.CALL_EVENT_TYPE_CALLBACK_REQUESTED:
            conv.callback = True
            self._save(rec)
        elif v.event == messaging_pb2.CALL_EVENT_TYPE_VOICEMAIL:
            conv.preview = (v.transcript or "voicemail")[:PREVIEW_CHARS]
            if v.recording_uri:
                conv.recording_uri = v.recording_uri
            self._save(rec)
        elif v.event == messaging_pb2.CALL_EVENT_TYPE_COMPLETED:
            if v.recording_uri:
                conv.recording_uri = v.recording_uri
            self._save(rec)
        elif v.recording_uri:
            conv.recording_uri = v.recording_uri
            self._save(rec)

    def _customer_left(self, rec: Record, now: float, reason: str) -> None:
        conv = rec.conv
        if conv.routing_state not in (routing_pb2.ROUTING_STATE_QUEUED, routing_pb2.ROUTING_STATE_OFFERED):
            return  # already answered: leaving is the normal end of the talk
        if conv.routing_state == routing_pb2.ROUTING_STATE_OFFERED:
            self._withdraw_offer(rec, now, "withdrawn")
        self.engine.remove(conv.id)
        waited = now - rec.first_enqueue
        conv.routing_state = routing_pb2.ROUTING_STATE_ABANDONED
        conv.status = routing_pb2.CONVERSATION_STATUS_RESOLVED
        conv.close_time.CopyFrom(ts(now))
        stats = self._today(conv.queue, now)
        stats.abandoned += 1
        self._save_stats(conv.queue)
        self._save(rec)
        self._event(rec, conversation_abandoned=event_pb2.ConversationAbandoned(
            queue=conv.queue, wait_duration=dur(waited), reason=reason))

    # ---- queueing and offers ------------------------------------------------------------
    def _enqueue(self, rec: Record, now: float, reason: str = "", restore: bool = False) -> None:
        conv = rec.conv
        qconf = self.engine.queues[conv.queue]
        w = rec.routing  # where it waits comes from the conversation (a transfer or overflow moves it)
        w.queue, w.priority = conv.queue, conv.priority
        w.enqueue_time = secs(conv.enqueue_time) if restore else now
        overflow = self.engine.enqueue(w, now)
        if not restore:
            conv.enqueue_time.CopyFrom(ts(now))
        conv.routing_state = routing_pb2.ROUTING_STATE_QUEUED
        conv.relaxation_step = w.step
        conv.assigned_agent = ""
        del conv.required_skills[:]
        conv.required_skills.extend(messaging_pb2.SkillRequirement(name=n, min_level=lv) for n, lv in w.req)
        self._save(rec)
        if restore:
            return
        open_now = self._open_now(qconf, now)
        self._event(rec, conversation_queued=event_pb2.ConversationQueued(
            queue=conv.queue, priority=conv.priority, reason=reason, open_now=open_now))
        if not open_now and not rec.closed_hours_notified and conv.channel != contact_pb2.CHANNEL_VOICE:
            rec.closed_hours_notified = True
            self._auto_reply(rec, qconf.closed_message)
        if overflow:
            self._overflow(eng.Overflow(conv.id, conv.queue, overflow, "relaxation"), now)
            return
        self._route_conversation(conv.id, now)

    def _auto_reply(self, rec: Record, text: str) -> None:
        conv = rec.conv
        self._outbound.append(messaging_pb2.OutboundMessage(
            id=new_id("out"), channel=conv.channel, identity=conv.identity, conversation_id=conv.id,
            thread_key=conv.thread_key, text=text, kind=messaging_pb2.OUTBOUND_KIND_AUTO_REPLY,
            create_time=ts(self.clock())))

    def _route_conversation(self, conversation_id: str, now: float) -> None:
        rec = self.records[conversation_id]
        qconf = self.engine.queues[rec.conv.queue]
        if not rec.routing.direct and not self._open_now(qconf, now):  # sent to an agent by name: hours do not apply
            return
        decision = self.engine.route_conversation(conversation_id, now)
        if decision is not None:
            self._apply(decision, now)

    def _route_agent(self, agent_id: str, now: float) -> None:
        agent = self.engine.agents.get(agent_id)
        if agent is None:
            return
        closed = [q for q in agent.queues if not self._open_now(self.engine.queues[q], now)]
        for decision in self.engine.route_agent(agent_id, now, closed):  # none from a closed queue
            self._apply(decision, now)

    def _apply(self, d: eng.Decision, now: float) -> None:
        rec = self.records[d.conversation_id]
        conv = rec.conv
        agent = self.engine.agents[d.agent_id]
        before = eng.AVAILABLE if len(agent.handling) == 1 and not agent.wrapping else agent.state
        defaults = self.config.defaults
        timeout = defaults.reservation_timeout_seconds.get(
            subjects.channel_token(conv.channel), defaults.other_reservation_timeout_seconds)
        res = Reservation(new_id("res"), conv.id, agent.id, now + timeout)
        self.reservations[res.id] = res
        rec.reservation = res
        conv.routing_state = routing_pb2.ROUTING_STATE_OFFERED
        conv.assigned_agent = agent.id
        self._save(rec)
        decision = routing_pb2.RoutingDecision(
            conversation_id=conv.id, queue=d.queue, strategy=d.strategy, relaxation_step=d.step,
            required_skills=[messaging_pb2.SkillRequirement(name=n, min_level=lv) for n, lv in d.req],
            chosen_agent=agent.id, reason=d.reason, config_version=self.loaded.version,
            decide_time=ts(now), eligible_count=d.eligible)
        # once, for the record and the event; the candidates follow as encoded fields (protobuf appends
        # a repeated field's elements wherever they come)
        encoded = decision.SerializeToString() + self._encode_candidates(d.candidates)
        rec.decisions.append(base64.b64encode(encoded).decode())
        self._event(rec, routing_decided=encoded)
        conf = self.agent_conf.get(agent.id)
        auto = conf is not None and conf.auto_accepts(subjects.channel_token(conv.channel))
        self._event(rec, conversation_offered=event_pb2.ConversationOffered(
            agent_id=agent.id, reservation_id=res.id, expire_time=ts(res.expire), auto_accepted=auto))
        if not auto and self._watched(agent.id):
            self._notify(agent.id, offer=routing_pb2.Offer(
                reservation_id=res.id, conversation=conv, expire_time=ts(res.expire),
                reason=f"{d.reason}: {d.strategy}, step {d.step}"))
        self._agent_state_event(agent, before)
        self._save_agent(agent)
        if auto:
            self._assign(rec, res, now)

    def _encode_candidates(self, candidates: tuple[Candidate, ...]) -> bytes:
        """`RoutingDecision.candidates` fields for `candidates`, each encoded once while it recurs:
        within an intake batch the same agents come up with the same scores, one new per decision."""
        cache = self._candidate_bytes
        out = []
        for c in candidates:
            encoded = cache.get(c)
            if encoded is None:
                if len(cache) >= CANDIDATE_CACHE:
                    cache.clear()
                encoded = cache[c] = wire.length_delimited(_CANDIDATE_TAG, routing_pb2.CandidateScore(
                    agent_id=c.agent_id, score=c.score, detail=c.detail).SerializeToString())
            out.append(encoded)
        return b"".join(out)

    def _withdraw_offer(self, rec: Record, now: float, outcome: str, exclude: bool = False) -> str:
        conv = rec.conv
        res = self._end_reservation(rec)
        agent_id = conv.assigned_agent
        if res is not None:
            self._event(rec, conversation_offer_ended=event_pb2.ConversationOfferEnded(
                agent_id=res.agent_id, reservation_id=res.id, outcome=outcome))
            self._notify(res.agent_id, offer_withdrawn=res.id)
        agent = self.engine.agents.get(agent_id)
        if agent is not None:
            before = agent.state
            self.engine.release(agent_id, conv.id, now)
            self._agent_state_event(agent, before)
        if exclude and agent_id:
            rec.routing.excluded[agent_id] = now + self.config.defaults.offer_exclusion_seconds
        conv.assigned_agent = ""
        return agent_id

    def _overflow(self, o: eng.Overflow, now: float) -> None:
        rec = self.records[o.conversation_id]
        conv = rec.conv
        self.engine.remove(conv.id)
        if not o.to_queue:
            conv.callback = conv.channel == contact_pb2.CHANNEL_VOICE
            self._event(rec, conversation_overflowed=event_pb2.ConversationOverflowed(
                from_queue=o.from_queue, to_queue="", reason="callback" if conv.callback else o.reason))
            rec.routing.max_wait_done = True
            self._enqueue(rec, now, restore=True)  # stays in its queue, marked as a callback
            return
        self._event(rec, conversation_overflowed=event_pb2.ConversationOverflowed(
            from_queue=o.from_queue, to_queue=o.to_queue, reason=o.reason))
        conv.queue = o.to_queue
        self._enqueue(rec, now, reason="overflow")

    # ---- agent actions ------------------------------------------------------------------
    def agent_proto(self, agent: eng.Agent) -> routing_pb2.Agent:
        """The public view of an agent."""
        conf = self.agent_conf.get(agent.id)
        return routing_pb2.Agent(
            id=agent.id, display_name=conf.display_name if conf else agent.id,
            skills=[routing_pb2.Skill(name=n, level=v) for n, v in sorted(agent.skills.items())],
            capacity=[routing_pb2.ChannelCapacity(channel=subjects.channel_from_token(ch), max=n,  # type: ignore[arg-type]
                                                   used=agent.used(ch))
                      for ch, n in agent.capacity.items()],
            state=STATE_VALUE[agent.state], state_reason=agent.reason, queues=sorted(agent.queues),
            voice_destination=(conf.voice_destination if conf else "") or f"client:{agent.id}",
            last_idle_time=ts(agent.last_idle), missed_offers=agent.missed,
            conversation_ids=sorted([*agent.handling, *agent.wrapping]))

    def _agent(self, agent_id: str) -> eng.Agent:
        agent = self.engine.agents.get(agent_id)
        if agent is None:
            raise RouterError("NOT_FOUND", f"unknown agent {agent_id!r}")
        return agent

    async def set_presence(self, agent_id: str, presence: str, reason: str = "",
                           forced_by: str = "") -> routing_pb2.Agent:
        """Login (AVAILABLE/AWAY), SetState and Logout (OFFLINE) all land here."""
        async with self.changing():
            now = self.clock()
            agent = self._agent(agent_id)
            before = agent.state
            if presence == eng.OFFLINE:
                self._agent_gone(agent, now, "logout")
            self.engine.set_presence(agent_id, presence, now, reason)
            self.heartbeats[agent_id] = now
            self._agent_state_event(agent, before, forced_by)
            self._save_agent(agent)
            if presence == eng.AVAILABLE:
                self._route_agent(agent_id, now)
            return self.agent_proto(agent)

    def _agent_gone(self, agent: eng.Agent, now: float, why: str) -> None:
        """Set the agent OFFLINE, re-queue their un-accepted offers (to others: the agent is offline
        first) and flag their accepted conversations for a supervisor."""
        offered = [self.records[r.conversation_id] for r in self.reservations.values() if r.agent_id == agent.id]
        for held in offered:
            self._withdraw_offer(held, now, "withdrawn")
        self.engine.set_presence(agent.id, eng.OFFLINE, now)
        for held in offered:
            self._enqueue(held, now, reason="agent_offline")
        for cid in list(agent.handling):
            rec = self.records.get(cid)
            if rec is not None and rec.conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED:
                rec.conv.flagged = True
                self._save(rec)
                self._event(rec, conversation_flagged=event_pb2.ConversationFlagged(
                    agent_id=agent.id, reason=why))

    async def heartbeat(self, agent_id: str) -> int:
        """Record that the agent's client is alive; returns the timeout in seconds."""
        self._agent(agent_id)
        self.heartbeats[agent_id] = self.clock()
        return self.config.defaults.heartbeat_timeout_seconds

    async def accept(self, agent_id: str, reservation_id: str) -> routing_pb2.Conversation:
        """Accept an offer: the conversation is assigned to the agent."""
        async with self.changing():
            res = self.reservations.get(reservation_id)
            if res is None or res.agent_id != agent_id:
                raise RouterError("FAILED_PRECONDITION", "the offer is no longer valid")
            conv = self._assign(self.records[res.conversation_id], res, self.clock())
            out = routing_pb2.Conversation()
            out.CopyFrom(conv)
            return out

    def _assign(self, rec: Record, res: Reservation, now: float) -> routing_pb2.Conversation:
        """The offer is accepted (by the agent, or at once for an auto-accepting agent)."""
        agent_id = res.agent_id
        conv = rec.conv
        self._end_reservation(rec)
        agent = self._agent(agent_id)
        agent.missed = 0
        conv.routing_state = routing_pb2.ROUTING_STATE_ASSIGNED
        conv.assigned_agent = agent_id
        conv.flagged = False
        first = not rec.answered_once
        if first:
            rec.answered_once = True
            conv.answer_time.CopyFrom(ts(now))
            waited = now - rec.first_enqueue
            stats = self._today(conv.queue, now)
            stats.answered += 1
            stats.within += waited <= self.engine.queues[conv.queue].service_level.threshold_seconds
            self._save_stats(conv.queue)
        else:
            waited = now - secs(conv.enqueue_time)
        conf = self.agent_conf.get(agent_id)
        self._save(rec)
        self._save_agent(agent)
        self._event(rec, conversation_assigned=event_pb2.ConversationAssigned(
            agent_id=agent_id, queue=conv.queue, wait_duration=dur(waited), first_answer=first,
            agent_destination=(conf.voice_destination if conf else "") or f"client:{agent_id}",
            callback=conv.callback))
        if self._watched(agent_id):
            self._notify(agent_id, assigned=conv)
        return conv

    async def reject(self, agent_id: str, reservation_id: str, outcome: str = "rejected") -> None:
        """Reject (or time out) an offer: the conversation goes to the next agent."""
        async with self.changing():
            self._end_offer(agent_id, reservation_id, outcome, self.clock())

    def _end_offer(self, agent_id: str, reservation_id: str, outcome: str, now: float) -> None:
        res = self.reservations.get(reservation_id)
        if res is None or res.agent_id != agent_id:
            raise RouterError("FAILED_PRECONDITION", "the offer is no longer valid")
        rec = self.records[res.conversation_id]
        agent = self._agent(agent_id)
        self._withdraw_offer(rec, now, outcome, exclude=True)
        w = rec.routing
        if w.preferred_agent == agent_id:  # the agent it was held for said no: the queue takes it
            w.preferred_agent, w.preferred_until, w.direct = "", 0.0, False
        if outcome == "timeout":
            agent.missed += 1
            if agent.missed >= self.config.defaults.missed_offers_before_away:
                before = agent.state
                self.engine.set_presence(agent_id, eng.AWAY, now, "missed_offers")
                self._agent_state_event(agent, before)
        self._save_agent(agent)
        self._enqueue(rec, now, reason=outcome)
        self._route_agent(agent_id, now)

    async def transfer(self, agent_id: str, conversation_id: str, to_agent: str, to_queue: str,
                       note: str = "", requested_by: str = "") -> routing_pb2.Conversation:
        """Move an assigned (or waiting) conversation to another agent or queue, keeping history."""
        async with self.changing():
            now = self.clock()
            rec = self.records.get(conversation_id)
            if rec is None:
                raise RouterError("NOT_FOUND", f"unknown conversation {conversation_id!r}")
            conv = rec.conv
            if to_queue and to_queue not in self.engine.queues:
                raise RouterError("INVALID_ARGUMENT", f"unknown queue {to_queue!r}")
            if to_agent and to_agent not in self.engine.agents:
                raise RouterError("INVALID_ARGUMENT", f"unknown agent {to_agent!r}")
            if conv.status == routing_pb2.CONVERSATION_STATUS_RESOLVED:
                raise RouterError("FAILED_PRECONDITION", "the conversation is closed")
            holder = conv.assigned_agent
            if holder and holder != agent_id and not requested_by:
                raise RouterError("PERMISSION_DENIED", "the conversation is held by another agent")
            if conv.routing_state == routing_pb2.ROUTING_STATE_OFFERED:
                self._withdraw_offer(rec, now, "withdrawn")
            elif holder:
                agent = self.engine.agents[holder]
                before = agent.state
                self.engine.release(holder, conv.id, now)
                self._agent_state_event(agent, before)
                self._notify(holder, unassigned=conv.id)
            else:
                self.engine.remove(conv.id)
            self._event(rec, conversation_transferred=event_pb2.ConversationTransferred(
                from_agent=holder, to_agent=to_agent, to_queue=to_queue, note=note,
                requested_by=requested_by))
            if to_queue:
                conv.queue = to_queue
            w = rec.routing
            w.preferred_agent, w.direct = to_agent, bool(to_agent)
            w.preferred_until = now + (self.config.defaults.transfer_hold_seconds if to_agent else 0.0)
            w.excluded.pop(to_agent, None)
            self._enqueue(rec, now, reason="transfer")
            if holder:
                self._route_agent(holder, now)
            return conv

    async def wrap_up(self, agent_id: str, conversation_id: str, disposition: str, resolved: bool,
                      notes: str = "") -> routing_pb2.Conversation:
        """End the talk: resolve the conversation and start the queue's wrap-up timer."""
        async with self.changing():
            now = self.clock()
            rec = self.records.get(conversation_id)
            assigned = rec is not None and rec.conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED
            if rec is None or not assigned or rec.conv.assigned_agent != agent_id:
                raise RouterError("FAILED_PRECONDITION", "the conversation is not assigned to you")
            conv = rec.conv
            qconf = self.engine.queues[conv.queue]
            agent = self._agent(agent_id)
            before = agent.state
            rec.talk_seconds = max(0.0, now - secs(conv.answer_time))
            rec.wrap_start = now
            rec.wrap_until = now + qconf.wrap_up_seconds
            conv.routing_state = routing_pb2.ROUTING_STATE_WRAP_UP
            self._wrapping.add(conv.id)
            conv.status = routing_pb2.CONVERSATION_STATUS_RESOLVED
            conv.disposition = disposition
            conv.resolved = resolved
            conv.close_time.CopyFrom(ts(now))
            self.engine.wrap(agent_id, conv.id)
            customer = self.customers.get(conv.customer_id)
            if customer is not None:
                customer["last_agent"], customer["last_close"] = agent_id, now
                self.store.put(f"u.{conv.customer_id}", customer)
            self._event(rec, conversation_wrap_up_started=event_pb2.ConversationWrapUpStarted(
                agent_id=agent_id, talk_duration=dur(rec.talk_seconds)))
            self._event(rec, conversation_resolved=event_pb2.ConversationResolved(
                agent_id=agent_id, resolved=resolved, disposition=disposition))
            self._agent_state_event(agent, before)
            rec.wrap_notes = notes
            self._save(rec)
            if qconf.wrap_up_seconds == 0:
                self._finish_wrap(rec, now)
            return conv

    def _finish_wrap(self, rec: Record, now: float) -> None:
        conv = rec.conv
        agent_id = conv.assigned_agent
        agent = self.engine.agents.get(agent_id)
        wrap_seconds = max(0.0, now - rec.wrap_start)
        conv.routing_state = routing_pb2.ROUTING_STATE_CLOSED
        self._event(rec, conversation_wrapped_up=event_pb2.ConversationWrappedUp(
            agent_id=agent_id, disposition=conv.disposition, resolved=conv.resolved,
            wrap_up_duration=dur(wrap_seconds), talk_duration=dur(rec.talk_seconds), notes=rec.wrap_notes))
        rec.wrap_notes = ""
        stats = self._today(conv.queue, now)
        stats.aht = 0.9 * stats.aht + 0.1 * (rec.talk_seconds + wrap_seconds)
        self._save_stats(conv.queue)
        self._save(rec)
        if agent is not None:
            before = agent.state
            self.engine.release(agent_id, conv.id, now)
            self._agent_state_event(agent, before)
            self._save_agent(agent)
            self._route_agent(agent_id, now)

    # ---- timers -------------------------------------------------------------------------
    async def tick(self) -> None:
        """Expire offers, heartbeats and wrap-ups; relax requirements; overflow long waits."""
        async with self.changing():
            now = self.clock()
            for res in [r for r in self.reservations.values() if r.expire <= now]:
                with contextlib.suppress(RouterError):
                    self._end_offer(res.agent_id, res.id, "timeout", now)
            timeout = self.config.defaults.heartbeat_timeout_seconds
            for agent in self.engine.agents.values():
                if agent.presence != eng.OFFLINE and now - self.heartbeats.get(agent.id, now) > timeout:
                    before = agent.state
                    self._agent_gone(agent, now, "heartbeat_lost")
                    self._agent_state_event(agent, before)
                    self._save_agent(agent)
            for cid in list(self._wrapping):
                wrapping = self.records.get(cid)
                if wrapping is None or wrapping.conv.routing_state != routing_pb2.ROUTING_STATE_WRAP_UP:
                    self._wrapping.discard(cid)  # reopened by the customer, or gone
                elif wrapping.wrap_until <= now:
                    self._wrapping.discard(cid)
                    self._finish_wrap(wrapping, now)
            changed, overflows = self.engine.relax(now)
            for o in overflows:
                self._overflow(o, now)
            for cid in changed:
                rec = self.records[cid]
                rec.conv.relaxation_step = rec.routing.step  # the engine moved it a step on
                self._save(rec)
                self._route_conversation(cid, now)
            self._route_ready(now)
            self._purge(now)

    def _route_ready(self, now: float) -> None:
        """Give idle capacity a chance (queues that opened, exclusions that ended)."""
        if not self.engine.waiting:
            return
        for agent_id in list(self.engine.ready):
            self._route_agent(agent_id, now)

    def _purge(self, now: float) -> None:
        if now < self._next_purge:  # a scan of every record: once a minute is enough
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        for cid, rec in list(self.records.items()):
            closed = rec.conv.routing_state in (routing_pb2.ROUTING_STATE_CLOSED, routing_pb2.ROUTING_STATE_ABANDONED)
            if closed and now - secs(rec.conv.close_time) > self.config.defaults.closed_retention_seconds:
                del self.records[cid]
                self.store.delete(f"c.{cid}")

    # ---- customers ----------------------------------------------------------------------
    def customer_proto(self, customer_id: str) -> contact_pb2.Customer:
        """A customer with every identity resolved to it."""
        data = self.customers.get(customer_id)
        if data is None:
            raise RouterError("NOT_FOUND", f"unknown customer {customer_id!r}")
        identities = []
        for ident, cid in self.identities.items():
            if cid == customer_id:
                token, _, source = ident.partition(":")
                identities.append(contact_pb2.Identity(channel=subjects.channel_from_token(token),  # type: ignore[arg-type]
                                                       source_id=source))
        return contact_pb2.Customer(id=customer_id, display_name=data.get("display_name", ""),
                                    identities=identities, merged_into=data.get("merged_into", ""))

    async def merge_customers(self, agent_id: str, keep: str, merged: str, identity: contact_pb2.Identity | None,
                              ) -> contact_pb2.Customer:
        """Fold one customer record into another: identities, conversations and history follow."""
        async with self.changing():
            if not merged and identity is not None and identity.source_id:
                merged = self.identities.get(f"{subjects.channel_token(identity.channel)}:{identity.source_id}", "")
            if keep not in self.customers or merged not in self.customers:
                raise RouterError("NOT_FOUND", "both customers must exist")
            if keep == merged:
                raise RouterError("INVALID_ARGUMENT", "a customer cannot be merged into itself")
            moved = [ident for ident, cid in self.identities.items() if cid == merged]
            for ident in moved:
                self.identities[ident] = keep
            for rec in self.records.values():
                if rec.conv.customer_id == merged:
                    rec.conv.customer_id = keep
                    self._save(rec)
            gone = self.customers[merged]
            gone["merged_into"] = keep
            gone["identities"] = []
            self.store.put(f"u.{merged}", gone)
            survivor = self.customers[keep]
            survivor["identities"] = sorted({*survivor.get("identities", ()), *moved})
            if gone.get("last_close", 0.0) > survivor.get("last_close", 0.0):
                survivor["last_agent"], survivor["last_close"] = gone.get("last_agent", ""), gone["last_close"]
            self.store.put(f"u.{keep}", survivor)
            self._events.append(Bus.event_message(new_event("router", customer_id=keep, customer_merged=event_pb2.CustomerMerged(
                customer_id=keep, merged_customer_id=merged, agent_id=agent_id))))
            return self.customer_proto(keep)

    # ---- queries ------------------------------------------------------------------------
    def queue_stats(self, request: routing_pb2.GetQueueStatsRequest) -> routing_pb2.GetQueueStatsResponse:
        """Live statistics per queue, and the position of one conversation when asked."""
        now = self.clock()
        wanted = list(request.queues) or list(self.engine.queues)
        out = routing_pb2.GetQueueStatsResponse()
        for name in wanted:
            qconf = self.engine.queues.get(name)
            if qconf is None:
                continue
            out.stats.append(self._stats_for(name, now))
        cid = request.conversation_id
        if not cid and request.thread_key:
            token = subjects.channel_token(request.channel) if request.channel else ""
            cid = self.threads.get(f"{token}:{request.thread_key}", "")
        w = self.engine.waiting.get(cid)
        if cid:
            out.conversation_id = cid
        if w is not None:
            order = self.engine.waiting_in(w.queue)
            position = next((i for i, x in enumerate(order, 1) if x.conversation_id == cid), 0)
            out.position = position
            out.queue = w.queue
            out.estimated_wait.CopyFrom(dur(self._ewt(w.queue, position)))
        return out

    def _staffed(self, queue: str) -> int:
        return sum(1 for a in self.engine.agents_in(queue) if a.presence == eng.AVAILABLE)

    def _ewt(self, queue: str, position: int) -> float:
        """Estimated wait: the work ahead divided over the staffed agents (0 with a free agent)."""
        stats = self.stats.get(queue) or QueueDay()
        staffed = self._staffed(queue)
        if staffed == 0:
            return float(stats.aht * position)
        free = any(aid in self.engine.ready for aid in (a.id for a in self.engine.agents_in(queue)))
        if free and position <= 1:
            return 0.0
        return stats.aht * position / staffed

    def _stats_for(self, name: str, now: float) -> routing_pb2.QueueStats:
        qconf = self.engine.queues[name]
        waiting = self.engine.waiting_in(name)
        longest = max((now - self.records[w.conversation_id].first_enqueue for w in waiting), default=0.0)
        by_state: dict[str, int] = {}
        for a in self.engine.agents_in(name):
            by_state[a.state] = by_state.get(a.state, 0) + 1
        day = self._today(name, now)
        active = sum(1 for r in self.records.values() if r.conv.queue == name and r.conv.routing_state in (
            routing_pb2.ROUTING_STATE_ASSIGNED, routing_pb2.ROUTING_STATE_OFFERED, routing_pb2.ROUTING_STATE_WRAP_UP))
        return routing_pb2.QueueStats(
            queue=name, waiting=len(waiting), longest_wait=dur(longest), agents_by_state=by_state,
            service_level_today=(day.within / day.answered) if day.answered else 1.0,
            service_level_target=qconf.service_level.target,
            service_level_threshold_seconds=round(qconf.service_level.threshold_seconds),
            estimated_wait=dur(self._ewt(name, len(waiting) + 1)), answered_today=day.answered,
            abandoned_today=day.abandoned, active=active,
            open_now=self._open_now(qconf, now))

    def list_conversations(self, agent_id: str = "", queue: str = "", include_closed: bool = False,
                           customer_id: str = "") -> list[routing_pb2.Conversation]:
        """Conversations known to the router, newest first."""
        out = []
        for rec in self.records.values():
            c = rec.conv
            if agent_id and c.assigned_agent != agent_id:
                continue
            if queue and c.queue != queue:
                continue
            if customer_id and c.customer_id != customer_id:
                continue
            if not include_closed and c.routing_state in (routing_pb2.ROUTING_STATE_CLOSED,
                                                          routing_pb2.ROUTING_STATE_ABANDONED):
                continue
            out.append(c)
        out.sort(key=lambda c: secs(c.create_time), reverse=True)
        return out

    def explain(self, conversation_id: str) -> list[routing_pb2.RoutingDecision]:
        """Every routing decision behind a conversation, oldest first."""
        rec = self.records.get(conversation_id)
        if rec is None:
            raise RouterError("NOT_FOUND", f"unknown conversation {conversation_id!r}")
        return [routing_pb2.RoutingDecision.FromString(base64.b64decode(d)) for d in rec.decisions]
