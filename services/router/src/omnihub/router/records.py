"""The router's records: a conversation with its routing facts, an offer in flight, and time conversions."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.router import engine as eng


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
