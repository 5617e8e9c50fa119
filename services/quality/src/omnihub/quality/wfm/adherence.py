"""Schedule adherence and conformance from router agent-state changes, and out-of-adherence alerts.

Adherence: the share of scheduled time (work, break, lunch) the agent spent in the matching state: working states
while scheduled to work, away while on a break or lunch. Conformance: time in working states, whenever it
happened in the day, over the scheduled work time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

WORK_STATES = frozenset({"AVAILABLE", "BUSY", "WRAP_UP", "RESERVED"})
PAUSE_STATES = frozenset({"AWAY"})
EXPECTED = {"work": WORK_STATES, "break": PAUSE_STATES, "lunch": PAUSE_STATES}


@dataclass(frozen=True, slots=True)
class Activity:
    """A scheduled activity: work, break or lunch, in [start, end) epoch seconds."""

    kind: str
    start: float
    end: float


def day_plan(schedule: dict[str, Any] | None, day: dt.date) -> dict[str, list[Activity]]:
    """Each agent's scheduled activities of one day, from a saved week's schedule (None: nobody scheduled)."""
    plan: dict[str, list[Activity]] = {}
    for shift in (schedule or {}).get("shifts", []):
        if shift["date"] == day.isoformat():
            plan.setdefault(shift["agent"], []).extend(
                Activity(a["kind"], dt.datetime.fromisoformat(a["start"]).timestamp(),
                         dt.datetime.fromisoformat(a["end"]).timestamp()) for a in shift["activities"])
    return plan


def spans(changes: Iterable[tuple[float, str]], initial: str, start: float, end: float) -> list[tuple[float, float, str]]:
    """The agent's states as [t0, t1) spans over [start, end), from state changes (time, new state)."""
    out: list[tuple[float, float, str]] = []
    state, t = initial, start
    for when, new in sorted(changes):
        if when >= end:
            break
        if when > t:
            out.append((t, when, state))
            t = when
        state = new
    if end > t:
        out.append((t, end, state))
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def figures(activities: Sequence[Activity], changes: Iterable[tuple[float, str]], initial: str, start: float,
            end: float) -> dict[str, float | None]:
    """Adherence and conformance of one agent over [start, end) (a day, or the day so far)."""
    states = spans(changes, initial, start, end)
    scheduled = adhered = work = worked = 0.0
    for act in activities:
        a0, a1 = max(act.start, start), min(act.end, end)
        if a1 <= a0:
            continue
        scheduled += a1 - a0
        if act.kind == "work":
            work += a1 - a0
        adhered += sum(_overlap(a0, a1, s0, s1) for s0, s1, s in states if s in EXPECTED.get(act.kind, ()))
    worked = sum(s1 - s0 for s0, s1, s in states if s in WORK_STATES)
    return {"scheduled_seconds": scheduled, "in_adherence_seconds": adhered, "scheduled_work_seconds": work,
            "worked_seconds": worked, "adherence": round(adhered / scheduled, 4) if scheduled else None,
            "conformance": round(worked / work, 4) if work else None}


def out_of_adherence(activities: Sequence[Activity], changes: Iterable[tuple[float, str]], initial: str,
                     start: float, now: float, threshold: float) -> dict[str, float | str] | None:
    """The alert for an agent out of adherence for MORE than `threshold` seconds up to `now` (None otherwise):
    since when, for how long, what was scheduled and the state they are in."""
    states = spans(changes, initial, start, now)
    pieces = sorted((max(a.start, s0), min(a.end, s1), state in EXPECTED.get(a.kind, ()), a.kind, state)
                    for a in activities for s0, s1, state in states if min(a.end, s1) > max(a.start, s0))
    since: float | None = None
    end = start
    for lo, hi, ok, _kind, _state in pieces:
        if ok or lo > end:  # in adherence, or unscheduled time in between: a new streak starts later
            since = None
        if not ok and since is None:
            since = lo
        end = hi
    if since is None or not pieces or end < now or now - since <= threshold:
        return None
    _lo, _hi, _ok, kind, state = pieces[-1]
    return {"since": since, "seconds": now - since, "scheduled": kind, "state": state}
