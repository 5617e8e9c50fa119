"""Contact-center KPIs as pure functions over conversation and agent-state records (the full-scan reference;
the service answers from rollups, see rollups.py and queries.py).

Definitions (the README repeats them):
- Service level A = answered within T / (answered + abandoned after T); B = answered within T / answered.
  Abandons shorter than the short-abandon threshold are excluded everywhere. None when the denominator is 0.
- ASA = mean wait of answered contacts. AHT = mean(talk + hold + wrap-up) of handled contacts.
- Abandonment rate = abandoned (after the short-abandon threshold) / offered (short abandons excluded).
- FCR = resolved conversations with no repeat contact from the same customer, on any channel, within
  7 days of the close / resolved conversations.
- CSAT = share of 4-5 answers on 1-5. NPS = % promoters (9-10) - % detractors (0-6).
- Occupancy = handling (BUSY + WRAP_UP) / (AVAILABLE + handling).
  Availability = (AVAILABLE + handling) / logged-in time (everything but OFFLINE).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from omnihub.quality.rollups import COUNTERS

FCR_WINDOW = 7 * 86_400.0


@dataclass(slots=True)
class Conv:
    """What the KPIs need of one conversation (times are epoch seconds; None when it did not happen)."""

    id: str
    channel: str
    queue: str
    customer_id: str
    created: float
    agent: str = ""
    answered: float | None = None
    wait: float | None = None
    abandoned: float | None = None
    abandon_wait: float | None = None
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    handled: bool = False
    resolved: bool = False
    closed: float | None = None
    queued: bool = True


@dataclass(slots=True)
class StateSpan:
    """An agent in one state from start to end."""

    agent: str
    state: str
    start: float
    end: float


@dataclass(slots=True)
class Survey:
    """One survey answer."""

    conversation_id: str
    question: str
    score: int
    agent: str = ""
    queue: str = ""
    channel: str = ""
    time: float = 0.0


@dataclass(slots=True)
class Kpi:
    """One row of figures (ratios 0-1, times in seconds)."""

    key: str
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    service_level_a: float | None = None  # None (shown "—") when nothing was answered or abandoned after T
    service_level_b: float | None = None
    asa: float = 0.0
    aht: float = 0.0
    talk: float = 0.0
    wrap: float = 0.0
    abandonment_rate: float = 0.0
    handled: int = 0
    fcr: float = 0.0
    fcr_eligible: int = 0
    csat: float = 0.0
    csat_responses: int = 0
    nps: float = 0.0
    nps_responses: int = 0
    occupancy: float = 0.0
    availability: float = 0.0
    threshold: int = 20
    target: float = 0.8
    qa_score: float = 0.0
    qa_evaluations: int = 0
    transfers: int = 0
    reopens: int = 0
    callbacks: int = 0
    volume: dict[str, int] = field(default_factory=dict)


def from_counters(key: str, c: dict[str, int], *, threshold: float = 20.0, target: float = 0.8,
                  volume: dict[str, int] | None = None, occupancy: bool = True) -> Kpi:
    """A KPI row from summed rollup counters (see rollups.COUNTERS); `occupancy` False when not attributable."""
    g = {k: c.get(k, 0) for k in COUNTERS}
    row = Kpi(key=key, threshold=int(threshold), target=target, offered=g["offered"], answered=g["answered"],
              abandoned=g["abandoned"], short_abandoned=g["short_abandoned"], answered_within=g["answered_within"],
              handled=g["handled"], fcr_eligible=g["fcr_eligible"], csat_responses=g["csat_n"],
              nps_responses=g["nps_n"], transfers=g["transfers"], reopens=g["reopens"], callbacks=g["callbacks"],
              volume=dict(volume or {}))
    denominator_a = g["answered"] + g["abandoned_after_threshold"]
    row.service_level_a = g["answered_within"] / denominator_a if denominator_a else None
    row.service_level_b = g["answered_within"] / g["answered"] if g["answered"] else None
    row.asa = g["wait_ms"] / 1000 / g["answered"] if g["answered"] else 0.0
    if g["handled"]:
        row.aht = g["handle_ms"] / 1000 / g["handled"]
        row.talk = g["talk_ms"] / 1000 / g["handled"]
        row.wrap = g["wrap_ms"] / 1000 / g["handled"]
    row.abandonment_rate = g["abandoned"] / g["offered"] if g["offered"] else 0.0
    row.fcr = g["fcr_ok"] / g["fcr_eligible"] if g["fcr_eligible"] else 0.0
    row.csat = g["csat_good"] / g["csat_n"] if g["csat_n"] else 0.0
    row.nps = 100.0 * (g["nps_promoters"] - g["nps_detractors"]) / g["nps_n"] if g["nps_n"] else 0.0
    if occupancy:
        busy, avail, logged = g["busy_ms"], g["available_ms"], g["logged_ms"]
        row.occupancy = busy / (busy + avail) if busy + avail else 0.0
        row.availability = (busy + avail) / logged if logged else 0.0
    return row


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def compute(key: str, convs: list[Conv], *, threshold: float = 20.0, target: float = 0.8,
            short_abandon: float = 5.0, repeats: dict[str, list[float]] | None = None,
            spans: Iterable[StateSpan] = (), surveys: Iterable[Survey] = (),
            thresholds: dict[str, float] | None = None) -> Kpi:
    """Every KPI for one group of conversations (repeats: customer -> creation times, any channel)."""
    row = Kpi(key=key, threshold=int(threshold), target=target)
    waits: list[float] = []
    handle: list[float] = []
    talks: list[float] = []
    wraps: list[float] = []
    fcr_ok = 0
    for c in convs:
        row.volume[c.channel] = row.volume.get(c.channel, 0) + 1
        if c.abandoned is not None and c.answered is None:
            if (c.abandon_wait or 0.0) < short_abandon:
                row.short_abandoned += 1
                continue
            row.abandoned += 1
            row.offered += 1
            continue
        if c.queued:
            row.offered += 1
        if c.answered is not None:
            row.answered += 1
            wait = c.wait or 0.0
            waits.append(wait)
            row.answered_within += wait <= (thresholds or {}).get(c.queue, threshold)
        if c.handled:
            row.handled += 1
            handle.append(c.talk + c.hold + c.wrap)
            talks.append(c.talk)
            wraps.append(c.wrap)
        if c.handled and c.closed is not None:  # every issue handled to a close counts; resolved ones may score
            row.fcr_eligible += 1
            later = (repeats or {}).get(c.customer_id, [])
            if c.resolved and not any(c.closed < t <= c.closed + FCR_WINDOW for t in later):
                fcr_ok += 1
    abandoned_after_t = row.abandoned  # every counted abandon waited at least the short threshold
    denominator_a = row.answered + sum(
        1 for c in convs if c.abandoned is not None and c.answered is None
        and (c.abandon_wait or 0.0) >= max((thresholds or {}).get(c.queue, threshold), short_abandon))
    row.service_level_a = row.answered_within / denominator_a if denominator_a else None
    row.service_level_b = row.answered_within / row.answered if row.answered else None
    del abandoned_after_t
    row.asa = _mean(waits)
    row.aht = _mean(handle)
    row.talk = _mean(talks)
    row.wrap = _mean(wraps)
    row.abandonment_rate = row.abandoned / row.offered if row.offered else 0.0
    row.fcr = fcr_ok / row.fcr_eligible if row.fcr_eligible else 0.0
    csat = [s.score for s in surveys if s.question == "csat"]
    nps = [s.score for s in surveys if s.question == "nps"]
    row.csat_responses, row.nps_responses = len(csat), len(nps)
    row.csat = sum(1 for s in csat if s >= 4) / len(csat) if csat else 0.0
    if nps:
        row.nps = 100.0 * (sum(1 for s in nps if s >= 9) - sum(1 for s in nps if s <= 6)) / len(nps)
    busy = avail = logged = 0.0
    for s in spans:
        length = max(0.0, s.end - s.start)
        if s.state in ("BUSY", "WRAP_UP"):
            busy += length
        elif s.state == "AVAILABLE":
            avail += length
        if s.state != "OFFLINE":
            logged += length
    row.occupancy = busy / (busy + avail) if busy + avail else 0.0
    row.availability = (busy + avail) / logged if logged else 0.0
    return row


def spans_from_changes(changes: list[tuple[str, float, str, str]], start: float, end: float) -> list[StateSpan]:
    """Agent state spans within [start, end) from (agent, time, from_state, to_state) changes."""
    by_agent: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
    for agent, t, before, after in changes:
        by_agent[agent].append((t, before, after))
    spans: list[StateSpan] = []
    for agent, items in by_agent.items():
        items.sort()
        current, since = items[0][1], start
        for t, _before, after in items:
            if t > since:
                spans.append(StateSpan(agent, current, max(since, start), min(t, end)))
            current, since = after, max(t, start)
        if since < end:
            spans.append(StateSpan(agent, current, since, end))
    return [s for s in spans if s.end > s.start]


def interval_key(seconds: float, width: int) -> str:
    """RFC 3339 start of the interval containing `seconds`."""
    start = seconds - seconds % width
    return dt.datetime.fromtimestamp(start, dt.UTC).isoformat().replace("+00:00", "Z")


def grouper(group_by: str, interval: int) -> Callable[[Conv], str]:
    """Key function for queue, agent, channel or interval grouping ('' = one total)."""
    if group_by == "queue":
        return lambda c: c.queue
    if group_by == "agent":
        return lambda c: c.agent or "(unanswered)"
    if group_by == "channel":
        return lambda c: c.channel
    if group_by == "interval":
        return lambda c: interval_key(c.created, interval)
    return lambda c: "total"
