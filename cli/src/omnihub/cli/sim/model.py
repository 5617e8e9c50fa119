"""The simulation's scenario and randomness: seeded Poisson arrivals per stream, handle times, patience."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

# Relative arrival intensity by hour of the day: a morning peak and a lunch dip.
DAILY_CURVE = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.3, 1.5, 1.4, 1.2,
               0.8, 0.9, 1.2, 1.3, 1.2, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]
CHANNELS = ("sms", "voice", "email", "webchat", "telegram", "whatsapp", "wechat")
PATIENT_CHANNELS = ("voice", "webchat")  # customers there hang up or close the chat; elsewhere they wait


@dataclass(frozen=True)
class QueueSpec:
    """One queue: an optional required skill and its service-level target."""

    name: str
    skill: str = ""
    min_level: int = 1
    strategy: str = "longest_idle"
    target: float = 0.8
    threshold_seconds: float = 20.0


@dataclass(frozen=True)
class AgentGroup:
    """`count` identical agents named prefix0, prefix1, ..."""

    prefix: str
    count: int
    queues: tuple[str, ...]
    skills: tuple[tuple[str, int], ...] = ()

    def ids(self) -> list[str]:
        """The agent ids of the group."""
        return [f"{self.prefix}{i}" for i in range(self.count)]


@dataclass(frozen=True)
class Stream:
    """Customers of one channel arriving for one queue."""

    queue: str
    channel: str = "sms"
    per_minute: float = 2.0
    aht_seconds: float = 120.0
    patience_seconds: float = 0.0  # mean of an exponential patience; 0 = never abandons


@dataclass(frozen=True)
class Scenario:
    """Queues, agents and customer streams, with time compression and a seed."""

    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentGroup, ...]
    streams: tuple[Stream, ...]
    minutes: float = 30.0
    speed: float = 30.0
    seed: int = 7
    start_hour: float | None = None  # None: flat rates; an hour applies the daily curve from then on
    fcr_rate: float = 0.8
    interval_minutes: float = 15.0
    accept_delay_seconds: float = 2.0
    proficiency: bool = False  # when true, an agent's skill level scales the handle time
    compare: tuple[str, ...] = ()  # strategies to compare: one run each, on the same arrivals
    name: str = "scenario"


@dataclass(frozen=True)
class Customer:
    """One synthetic customer: when, where, how long they need and how long they wait."""

    index: int
    at: float  # simulated seconds from the start
    stream: Stream
    work: float  # handle-time draw with mean 1 (scaled by the stream's AHT and the agent's proficiency)
    patience: float  # simulated seconds; inf = never abandons
    resolved: bool

    @property
    def key(self) -> str:
        """A stable id for the customer within a run."""
        return f"c{self.index:06d}"


def curve(hour: float) -> float:
    """Arrival intensity multiplier at an hour of the day (linear between hours)."""
    lo = int(hour) % 24
    frac = hour - math.floor(hour)
    return DAILY_CURVE[lo] * (1 - frac) + DAILY_CURVE[(lo + 1) % 24] * frac


def arrivals(rate_per_minute: float, minutes: float, rng: random.Random, start_hour: float | None) -> list[float]:
    """Arrival times in simulated seconds: a Poisson process, thinned by the daily curve when set."""
    if rate_per_minute <= 0:
        return []
    peak = max(DAILY_CURVE) if start_hour is not None else 1.0
    rate = rate_per_minute / 60 * peak
    t, out = 0.0, list[float]()
    while True:
        t += rng.expovariate(rate)
        if t >= minutes * 60:
            return out
        if start_hour is None or rng.random() < curve(start_hour + t / 3600) / peak:
            out.append(t)


def customers(sc: Scenario) -> list[Customer]:
    """Every customer of the run, in arrival order; the same seed gives the same customers."""
    rng = random.Random(sc.seed)
    drawn: list[tuple[float, int, Stream]] = []
    for n, stream in enumerate(sc.streams):
        drawn += [(t, n, stream) for t in arrivals(stream.per_minute, sc.minutes, rng, sc.start_hour)]
    drawn.sort(key=lambda x: (x[0], x[1]))
    out = []
    for i, (t, _, stream) in enumerate(drawn):
        patient = stream.channel in PATIENT_CHANNELS and stream.patience_seconds > 0
        out.append(Customer(i, t, stream, rng.expovariate(1.0),
                            rng.expovariate(1 / stream.patience_seconds) if patient else math.inf,
                            rng.random() < sc.fcr_rate))
    return out


def proficiency_factor(level: int) -> float:
    """Handle-time multiplier by skill level 1-10: level 10 works in 0.6 of the time, level 1 in 1.32."""
    return 1.4 - 0.08 * max(1, min(10, level))


def tolerance(predicted: float, n: int, z: float = 3.0) -> float:
    """Half-width of a z-sigma binomial interval around a predicted proportion for n contacts."""
    return z * math.sqrt(max(predicted * (1 - predicted), 0.01) / max(n, 1)) + 0.05


def single_skill(arrivals_per_minute: float = 3.0, agents: int = 5, aht_seconds: float = 60.0,
                 channel: str = "sms", patience_seconds: float = 0.0, **rest: Any) -> Scenario:
    """One pool of identical agents on one queue and channel: the Erlang C check."""
    strategy = rest.pop("strategy", "longest_idle")
    target = rest.pop("target", 0.8)
    threshold = rest.pop("threshold_seconds", 20.0)
    return Scenario(queues=(QueueSpec("pool", strategy=strategy, target=target, threshold_seconds=threshold),),
                    agents=(AgentGroup("sim", agents, ("pool",)),),
                    streams=(Stream("pool", channel, arrivals_per_minute, aht_seconds, patience_seconds),),
                    **rest)


def load(data: dict[str, Any]) -> Scenario:
    """A scenario from YAML data: either the flat single-skill form or queues/agents/streams."""
    if "queues" not in data:
        return single_skill(**data)
    data = dict(data)
    queues = tuple(QueueSpec(**q) for q in data.pop("queues"))
    groups = tuple(AgentGroup(g["prefix"], int(g["count"]), tuple(g["queues"]),
                              tuple(sorted((g.get("skills") or {}).items()))) for g in data.pop("agents"))
    streams = tuple(Stream(**s) for s in data.pop("streams"))
    data["compare"] = tuple(data.get("compare", ()))
    sc = Scenario(queues=queues, agents=groups, streams=streams, **data)
    validate(sc)
    return sc


def validate(sc: Scenario) -> None:
    """Refuse scenarios that cannot run, naming the problem."""
    names = {q.name for q in sc.queues}
    for g in sc.agents:
        if unknown := set(g.queues) - names:
            raise ValueError(f"agent group {g.prefix!r} is in unknown queues {sorted(unknown)}")
    for s in sc.streams:
        if s.queue not in names:
            raise ValueError(f"a {s.channel} stream targets unknown queue {s.queue!r}")
        if s.channel not in CHANNELS:
            raise ValueError(f"unknown channel {s.channel!r}; use {', '.join(CHANNELS)}")
    telegram = {s.queue for s in sc.streams if s.channel == "telegram"}
    if len(telegram) > 1:
        raise ValueError("one bot serves one queue: telegram streams must all target the same queue")
    wechat = {s.queue for s in sc.streams if s.channel == "wechat"}
    if len(wechat) > 1:
        raise ValueError("one Official Account serves one queue: wechat streams must all target the same queue")


def with_strategy(sc: Scenario, strategy: str) -> Scenario:
    """The same scenario with every queue using one agent-selection strategy."""
    from dataclasses import replace

    return replace(sc, queues=tuple(replace(q, strategy=strategy) for q in sc.queues))


@dataclass
class Tally:
    """What the simulated customers and agents saw, to check that nothing was lost."""

    sent: dict[str, int] = field(default_factory=dict)  # customer key -> messages sent
    answered: set[str] = field(default_factory=set)  # customer keys an agent accepted
    abandoned: set[str] = field(default_factory=set)
    replies_seen: set[str] = field(default_factory=set)  # customer keys that received the agent's reply
    handled: set[str] = field(default_factory=set)  # conversation ids wrapped up
    levels: dict[str, list[int]] = field(default_factory=dict)  # queue -> skill level of each answering agent
    answer_delays: list[float] = field(default_factory=list)  # real seconds from conversation creation to accept

    def answer_overhead(self, speed: float) -> float:
        """Simulated seconds every answer takes even with an agent idle: accept delay plus platform latency.

        The 10th percentile of creation-to-accept times is a contact that never queued (unless nearly every
        contact queues); compressing time multiplies the platform's real latency by the speed-up.
        """
        if not self.answer_delays:
            return 0.0
        ordered = sorted(self.answer_delays)
        return ordered[len(ordered) // 10] * speed
