"""The routing engine's data: an agent's routing state, a waiting conversation, a decision, an overflow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# Agent presence is what the agent chose; the reported state is derived from it and the work held.
OFFLINE, AVAILABLE, BUSY, WRAP_UP, AWAY = "OFFLINE", "AVAILABLE", "BUSY", "WRAP_UP", "AWAY"
VOICE = "voice"
Req = tuple[tuple[str, int], ...]  # sorted (skill, min_level) pairs


@dataclass(slots=True)
class Agent:
    """An agent's routing-relevant state."""

    id: str
    skills: dict[str, int]
    queues: frozenset[str]
    capacity: dict[str, int]
    max_concurrent: int = 0  # across channels; 0 = only the per-channel capacities apply
    presence: str = OFFLINE
    reason: str = ""
    since: float = 0.0  # when the reported state last changed (0: not since this router knew the agent)
    last_idle: float = 0.0
    last_offer: int = 0
    missed: int = 0
    handling: dict[str, str] = field(default_factory=dict)  # conversation id -> channel (change via take/drop/to_wrap)
    wrapping: dict[str, str] = field(default_factory=dict)  # conversation id -> channel
    slots: dict[str, int] = field(default_factory=dict)  # channel -> handling + wrapping there (kept in step)
    live_calls: int = 0  # voice conversations being handled (not wrapping): they block new work

    @property
    def state(self) -> str:
        """Reported state: OFFLINE/AWAY as chosen, else BUSY, WRAP_UP or AVAILABLE by work held."""
        if self.presence != AVAILABLE:
            return self.presence
        if self.handling:
            return BUSY
        if self.wrapping:
            return WRAP_UP
        return AVAILABLE

    def used(self, channel: str) -> int:
        """Slots used on a channel (offers, assignments and wrap-ups)."""
        return self.slots.get(channel, 0)

    def take(self, conversation_id: str, channel: str) -> None:
        """The agent now holds a conversation (offered, assigned or restored)."""
        self.drop(conversation_id)
        self.handling[conversation_id] = channel
        self.slots[channel] = self.slots.get(channel, 0) + 1
        self.live_calls += channel == VOICE

    def drop(self, conversation_id: str) -> None:
        """The agent no longer holds a conversation, handling or wrapping."""
        for held in (self.handling, self.wrapping):
            channel = held.pop(conversation_id, None)
            if channel is not None:
                self.slots[channel] -= 1
                self.live_calls -= held is self.handling and channel == VOICE

    def to_wrap(self, conversation_id: str) -> None:
        """Handling becomes after-contact work; the slot stays used."""
        channel = self.handling.pop(conversation_id, None)
        if channel is not None:
            self.wrapping[conversation_id] = channel
            self.live_calls -= channel == VOICE

    def can_take(self, channel: str) -> bool:
        """Logged in, available, spare capacity on `channel`, and no live call blocking new work."""
        if self.presence != AVAILABLE:
            return False
        if self.live_calls:
            return False
        if self.max_concurrent and self.open_work() >= self.max_concurrent:
            return False
        return self.used(channel) < self.capacity.get(channel, 0)

    def meets(self, req: Req) -> bool:
        """True when every required skill is held at the minimum level (at least 1)."""
        skills = self.skills
        return all(skills.get(name, 0) >= max(1, level) for name, level in req)

    def open_work(self) -> int:
        """Conversations held now (for least_occupied)."""
        return len(self.handling) + len(self.wrapping)


@dataclass(slots=True)
class Waiting:
    """A conversation waiting in a queue."""

    conversation_id: str
    queue: str
    channel: str
    priority: int
    enqueue_time: float
    extra_skills: Req = ()
    preferred_agent: str = ""
    preferred_until: float = 0.0
    step: int = 0
    excluded: dict[str, float] = field(default_factory=dict)  # agent id -> until
    seq: int = 0
    req: Req = ()
    max_wait_done: bool = False
    direct: bool = False  # sent to preferred_agent by name (a transfer): queue and skills do not apply to them

    def order_key(self) -> tuple[int, float, int]:
        """Priority first (higher first), then the longest wait."""
        return (-self.priority, self.enqueue_time, self.seq)


class Candidate(NamedTuple):
    """An eligible agent and its score under the strategy (a tuple: ten are made per decision)."""

    agent_id: str
    score: float
    detail: str


@dataclass(frozen=True, slots=True)
class Decision:
    """Offer `conversation_id` to `agent_id`, with the inputs that led there."""

    conversation_id: str
    agent_id: str
    queue: str
    strategy: str
    step: int
    req: Req
    candidates: tuple[Candidate, ...]  # the best TOP_CANDIDATES, best first
    reason: str
    eligible: int = 1  # agents eligible in all


@dataclass(frozen=True, slots=True)
class Overflow:
    """Move a waiting conversation to another queue (or to a callback when to_queue is empty)."""

    conversation_id: str
    from_queue: str
    to_queue: str
    reason: str
