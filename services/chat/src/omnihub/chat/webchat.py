"""The web widget adapter: visitor sessions with an ordered, resumable outbox over WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from aiohttp import web
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from nats.js.kv import KeyValue

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery, kv_key, new_event, new_id, now_timestamp
from omnihub.common.errors import PermanentChannelError
from omnihub.common.file_rules import refuse_unless_carried
from omnihub.common.logging import get_logger
from omnihub.common.outbound import deliver_outbound

log = get_logger("omnihub.chat.webchat")

CHANNEL = contact_pb2.CHANNEL_WEBCHAT
TOKEN = subjects.channel_token(CHANNEL)
MAX_LOG = 500
MAX_STORED_BYTES = 512 * 1024  # well under the KV stream's message size limit
QUEUE_STATS_TIMEOUT = 0.5


@dataclass
class Entry:
    """One line of a visitor's history, numbered by `seq`."""

    seq: int
    id: str
    sender: str  # "visitor", "agent", "system"
    text: str
    time: float
    client_id: str = ""
    agent: str = ""
    kind: str = "text"  # "text", "survey", "status"
    survey_id: str = ""
    question: str = ""
    conversation_id: str = ""
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def frame(self) -> dict[str, Any]:
        """The JSON frame sent to the browser."""
        return {"type": "msg", **asdict(self)}


@dataclass
class Session:
    """A visitor's persistent chat state; sockets are live and not persisted."""

    visitor_id: str
    name: str = ""
    email: str = ""
    topic: str = ""
    seq: int = 0
    entries: list[Entry] = field(default_factory=list)
    agent_seen: bool = False
    delivered_seq: int = 0
    read_seq: int = 0
    started: float = field(default_factory=time.time)
    closed: bool = False
    ends: int = 0
    answered_surveys: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        """Serialise for the KV store, dropping the oldest entries beyond MAX_STORED_BYTES."""
        while True:
            raw = json.dumps(asdict(self), ensure_ascii=False).encode()
            if len(raw) <= MAX_STORED_BYTES or len(self.entries) <= 1:
                return raw
            del self.entries[: max(1, len(self.entries) // 4)]

    @classmethod
    def from_json(cls, raw: bytes) -> Session:
        """Inverse of to_json."""
        data = json.loads(raw)
        entries = [Entry(**e) for e in data.pop("entries", [])]
        return cls(**data, entries=entries)

    def append(self, **fields: Any) -> Entry:
        """Add an entry with the next sequence number."""
        self.seq += 1
        entry = Entry(seq=self.seq, time=time.time(), **fields)
        self.entries.append(entry)
        del self.entries[:-MAX_LOG]
        return entry

    def after(self, seq: int) -> list[Entry]:
        """Entries the client has not acknowledged yet, in order."""
        return [e for e in self.entries if e.seq > seq]

    def has_id(self, entry_id: str) -> bool:
        """True when an entry with this id (outbound id or client id) is already logged."""
        return any(e.id == entry_id or (e.client_id and e.client_id == entry_id) for e in self.entries)


class ErrorFrame(Exception):
    """A problem to report to the browser as {"type": "error", "code", "message"}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def frame(self) -> dict[str, Any]:
        """The JSON frame."""
        return {"type": "error", "code": self.code, "message": self.message}


class WebChatHub:
    """Owns visitor sessions, their sockets, the outbound consumer and NATS publishing."""

    def __init__(
        self,
        bus: Bus,
        kv: KeyValue,
        *,
        max_chars: int,
        rate_per_minute: int,
        entry_point: str,
    ) -> None:
        self.bus = bus
        self.kv = kv
        self.max_chars = max_chars
        self.rate_per_minute = rate_per_minute
        self.entry_point = entry_point
        self.sessions: dict[str, Session] = {}
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}
        # per-visitor message rate, moving window in memory (the `limits` library expires idle visitors' counts)
        self.message_rate = parse(f"{rate_per_minute}/minute")
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.locks: dict[str, asyncio.Lock] = {}

    # Sessions ---------------------------------------------------------------------------

    def lock(self, visitor_id: str) -> asyncio.Lock:
        """The per-visitor lock that keeps sequence numbers ordered."""
        return self.locks.setdefault(visitor_id, asyncio.Lock())

    async def load(self, visitor_id: str) -> Session:
        """The visitor's session from memory, the KV store, or a fresh one."""
        session = self.sessions.get(visitor_id)
        if session is not None:
            return session
        async with self.lock(visitor_id):  # two first frames must not create two sessions
            return await self._load_locked(visitor_id)

    async def _load_locked(self, visitor_id: str) -> Session:
        session = self.sessions.get(visitor_id)
        if session is not None:
            return session
        try:
            entry = await self.kv.get(kv_key(visitor_id))
            session = Session.from_json(entry.value or b"{}") if entry.value else None
        except nats.js.errors.KeyNotFoundError:
            session = None
        session = session or Session(visitor_id=visitor_id)
        self.sessions[visitor_id] = session
        return session

    async def save(self, session: Session) -> None:
        """Persist the session so history and the outbox survive a restart."""
        await self.kv.put(kv_key(session.visitor_id), session.to_json())

    async def push(self, visitor_id: str, frame: dict[str, Any]) -> int:
        """Send a frame to every open socket of a visitor; the number reached."""
        reached = 0
        for ws in list(self.sockets.get(visitor_id, ())):
            if ws.closed:
                continue
            try:
                await ws.send_json(frame)
                reached += 1
            except (ConnectionError, RuntimeError):
                continue
        return reached

    def identity(self, visitor_id: str) -> contact_pb2.Identity:
        """Our Identity for a web visitor."""
        return contact_pb2.Identity(channel=CHANNEL, source_id=visitor_id)

    # Visitor -> us ----------------------------------------------------------------------

    async def visitor_message(
        self, session: Session, client_id: str, text: str, attachments: list[dict[str, Any]]
    ) -> None:
        """Validate, log, echo and publish one visitor message (idempotent on client_id)."""
        if not client_id or len(client_id) > 64:
            raise ErrorFrame("bad_request", "client_id is required (at most 64 characters)")
        if len(text) > self.max_chars:
            raise ErrorFrame("too_large", f"message is {len(text)} characters; the limit is {self.max_chars}")
        if not text.strip() and not attachments:
            raise ErrorFrame("bad_request", "empty message")
        async with self.lock(session.visitor_id):
            if session.has_id(client_id):
                return  # a resend after reconnect: the echo already went out in the log
            if not await self.limiter.hit(self.message_rate, "webchat", "message", session.visitor_id):
                raise ErrorFrame(
                    "rate_limited",
                    f"too many messages: at most {self.rate_per_minute} per minute, slow down",
                )
            inbound = messaging_pb2.InboundMessage(
                id=new_id("msg"),
                channel=CHANNEL,
                identity=self.identity(session.visitor_id),
                thread_key=session.visitor_id,
                receive_time=now_timestamp(),
                provider_message_id=f"{session.visitor_id}:{client_id}",
                display_name=session.name,
                contact_email=session.email,
                recipient=self.entry_point,
                routing_hints=messaging_pb2.RoutingHints(topic=session.topic, entry_point=self.entry_point),
                text=messaging_pb2.TextPayload(text=text),
            )
            for att in attachments:
                inbound.text.attachments.add(
                    file_name=str(att.get("file_name", ""))[:200],
                    content_type=str(att.get("content_type", "")),
                    size_bytes=int(att.get("size_bytes", 0)),
                    uri=str(att.get("uri", "")),
                )
            await self.bus.publish(
                subjects.inbound(CHANNEL),
                inbound,
                msg_id=f"{TOKEN}:{inbound.provider_message_id}",
            )
            session.closed = False
            entry = session.append(
                id=inbound.id,
                sender="visitor",
                text=text,
                client_id=client_id,
                attachments=attachments,
            )
            await self.save(session)
        await self.push(session.visitor_id, entry.frame())

    async def visitor_closed(self, session: Session) -> None:
        """The visitor closed the chat: tell the router (it emits abandoned when queued)."""
        async with self.lock(session.visitor_id):
            if session.closed:
                return
            session.closed = True
            session.ends += 1
            wait = max(0.0, time.time() - session.started)
            ended = messaging_pb2.SessionEndedPayload(reason="closed")
            ended.wait_duration.FromNanoseconds(int(wait * 1e9))
            inbound = messaging_pb2.InboundMessage(
                id=new_id("msg"),
                channel=CHANNEL,
                identity=self.identity(session.visitor_id),
                thread_key=session.visitor_id,
                receive_time=now_timestamp(),
                provider_message_id=f"{session.visitor_id}:end:{session.ends}",
                display_name=session.name,
                recipient=self.entry_point,
                routing_hints=messaging_pb2.RoutingHints(topic=session.topic, entry_point=self.entry_point),
                session_ended=ended,
            )
            await self.bus.publish(
                subjects.inbound(CHANNEL), inbound, msg_id=f"{TOKEN}:{inbound.provider_message_id}"
            )
            await self.save(session)

    async def visitor_typing(self, session: Session, on: bool) -> None:
        """Announce visitor typing on core NATS (live only)."""
        body = json.dumps({"visitor_id": session.visitor_id, "typing": bool(on)}).encode()
        await self.bus.nc.publish(subjects.chat_typing_visitor(session.visitor_id), body)

    async def visitor_acked(self, session: Session, seq: int, read: bool) -> None:
        """Delivery/read receipts for agent messages up to `seq` -> message.delivered events."""
        async with self.lock(session.visitor_id):
            mark = session.read_seq if read else session.delivered_seq
            entries = [e for e in session.entries if mark < e.seq <= seq and e.sender == "agent"]
            if read:
                session.read_seq = max(session.read_seq, seq)
                session.delivered_seq = max(session.delivered_seq, seq)
            else:
                session.delivered_seq = max(session.delivered_seq, seq)
            await self.save(session)
        status = messaging_pb2.DELIVERY_STATUS_READ if read else messaging_pb2.DELIVERY_STATUS_DELIVERED
        for entry in entries:
            evt = new_event(
                "chat",
                conversation_id=entry.conversation_id,
                channel=CHANNEL,
                thread_key=session.visitor_id,
                identity=self.identity(session.visitor_id),
                message_delivered=event_pb2.MessageDelivered(
                    message_id=entry.id,
                    provider_message_id=f"{session.visitor_id}:{entry.seq}",
                    status=status,
                ),
            )
            evt.id = f"evt_{'read' if read else 'dlv'}_{entry.id}"  # idempotent on resend
            await self.bus.publish_event(evt)

    async def survey_answered(self, session: Session, survey_id: str, question: str, score: int) -> None:
        """Publish a survey_answered event for an answer given in the widget."""
        survey = next((e for e in session.entries if e.kind == "survey" and e.survey_id == survey_id), None)
        if survey is None:
            raise ErrorFrame("bad_request", "unknown survey")
        top = 10 if survey.question == "nps" else 5
        low = 0 if survey.question == "nps" else 1
        if not low <= score <= top:
            raise ErrorFrame("bad_request", f"score must be {low}-{top}")
        key = f"{survey_id}:{survey.question}"
        if key in session.answered_surveys:
            return
        evt = new_event(
            "chat",
            conversation_id=survey.conversation_id,
            channel=CHANNEL,
            thread_key=session.visitor_id,
            identity=self.identity(session.visitor_id),
            survey_answered=event_pb2.SurveyAnswered(
                survey_id=survey_id, question=survey.question, score=score
            ),
        )
        evt.id = f"evt_survey_{survey_id}_{survey.question}"
        await self.bus.publish_event(evt)
        async with self.lock(session.visitor_id):
            session.answered_surveys.append(key)
            await self.save(session)

    async def queue_status(self, session: Session) -> dict[str, Any]:
        """Queue position and estimated wait from the router, or an "unknown" frame."""
        request = routing_pb2.GetQueueStatsRequest(queues=[session.topic] if session.topic else [])
        try:
            reply = await self.bus.nc.request(
                subjects.QUEUE_STATS_REQUEST,
                request.SerializeToString(),
                timeout=QUEUE_STATS_TIMEOUT,
            )
            stats = routing_pb2.GetQueueStatsResponse.FromString(reply.data).stats
        except (TimeoutError, nats.errors.Error, ValueError):
            return {"type": "queue", "known": False}
        if not stats:
            return {"type": "queue", "known": False}
        waiting = sum(s.waiting for s in stats)
        longest = max(s.longest_wait.ToTimedelta().total_seconds() for s in stats)
        return {
            "type": "queue",
            "known": True,
            "position": max(1, waiting),
            "estimated_wait_seconds": round(max(longest, 0.0)),
        }

    # Us -> visitor ----------------------------------------------------------------------

    async def handle_outbound(self, delivery: Delivery[messaging_pb2.OutboundMessage]) -> None:
        """Log an outbound message in the visitor's outbox and push it live, through the common outbound
        path (message.sent, or message.failed when it names no visitor)."""
        out = delivery.message
        visitor_id = out.identity.source_id or out.thread_key
        kind = {
            messaging_pb2.OUTBOUND_KIND_SURVEY: "survey",
            messaging_pb2.OUTBOUND_KIND_STATUS: "status",
        }.get(out.kind, "text")
        reached = 0

        async def send() -> str:
            nonlocal reached
            if not visitor_id:
                raise PermanentChannelError("outbound message names no visitor", code="no_recipient")
            session = await self.load(visitor_id)
            text = out.text
            if kind == "survey" and not text:
                text = "How satisfied were you with our service?"
            refuse_unless_carried(TOKEN, out.attachments)
            async with self.lock(visitor_id):
                logged = next((e for e in session.entries if e.id == out.id), None)
                if logged is not None:
                    return f"{visitor_id}:{logged.seq}"  # redelivery after a crash between save and ack
                if kind == "text":
                    session.agent_seen = True
                entry = session.append(
                    id=out.id,
                    sender="agent" if out.agent_id or kind == "text" else "system",
                    text=text,
                    agent=out.agent_display_name or out.agent_id,
                    kind=kind,
                    survey_id=out.survey_id,
                    question=out.survey_question or ("csat" if kind == "survey" else ""),
                    conversation_id=out.conversation_id,
                    attachments=[
                        {"file_name": a.file_name, "content_type": a.content_type, "uri": a.uri}
                        for a in out.attachments
                    ],
                )
                await self.save(session)
            reached = await self.push(visitor_id, entry.frame())
            return f"{visitor_id}:{entry.seq}"

        sent = await deliver_outbound(self.bus, delivery, send, source="chat", channel=CHANNEL,
                                      identity=self.identity(visitor_id) if visitor_id else out.identity,
                                      thread_key=visitor_id)
        if sent is not None:
            log.info("webchat.outbound", visitor_id=visitor_id, provider_id=sent, live=reached > 0)
