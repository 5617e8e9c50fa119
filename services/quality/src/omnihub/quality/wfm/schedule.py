"""A week's schedule with OR-Tools CP-SAT: shifts from templates for named agents, minimising under-staffing
first and over-staffing second, with the LP lower bound on agent-hours beside it."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from omnihub.quality.wfm.models import DAYS, Agent, Pause, ShiftTemplate, minutes

UNDER_WEIGHT = 100  # above the longest shift's intervals: covering one missing interval beats any over-staffing
SHORT_WEIGHT = 2  # contracted minimum hours come before over-staffing (paid time, weight 1), after the customers
POSITIONS = 3  # candidate start positions per break or lunch (earliest, middle, latest of its window)


class ScheduleError(ValueError):
    """Inputs a schedule cannot be built from (the message says which)."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One way to work a day: template, start slot, paused slots; `work` are the slots on the phones."""

    day: int
    template: str
    start: int  # slot of the week
    length: int  # slots, pauses included (paid)
    pauses: tuple[tuple[str, int, int], ...]  # (kind, first slot, slots)
    work: frozenset[int]


def _positions(pause: Pause, step_min: int, slots: int) -> list[int]:
    first = math.ceil(pause.earliest / step_min)
    last = pause.latest // step_min
    if last < first:
        first = last = round(pause.earliest / step_min)
    options = sorted({first, (first + last) // 2, last})[:POSITIONS]
    return [o for o in options if o + math.ceil(pause.minutes / step_min) <= slots]


def day_patterns(template: ShiftTemplate, day: int, step: int, window: tuple[int, int] | None) -> list[Pattern]:
    """Every pattern of a template on one day of the week whose shift fits the availability window (minutes)."""
    step_min = step // 60
    per_day = 86_400 // step
    slots = math.ceil(template.minutes / step_min)
    pauses = [("break", p) for p in template.breaks] + ([("lunch", template.lunch)] if template.lunch else [])
    out = []
    for start in template.starts:
        begin = minutes(start)
        if begin % step_min:
            raise ScheduleError(f"template {template.name}: start {start} is not on the {step_min}-minute grid")
        if begin + template.minutes > 24 * 60:
            continue  # shifts stay within their day
        if window and not (window[0] <= begin and begin + template.minutes <= window[1]):
            continue
        first = day * per_day + begin // step_min
        options = [[(kind, off, math.ceil(p.minutes / step_min)) for off in _positions(p, step_min, slots)]
                   for kind, p in pauses if p.minutes]
        for combo in itertools.product(*options):
            used: set[int] = set()
            clash = False
            for _kind, off, n in combo:
                span = set(range(off, off + n))
                clash = clash or bool(used & span)
                used |= span
            if clash:
                continue
            work = frozenset(first + s for s in range(slots) if s not in used)
            out.append(Pattern(day, template.name, first, slots,
                               tuple((k, first + off, n) for k, off, n in combo), work))
    return out


def _window(agent: Agent, day: int) -> tuple[int, int] | None:
    span = agent.availability.get(DAYS[day])
    if not span:
        return None
    start, _, end = span.partition("-")
    return minutes(start), minutes(end)


def _off(agent: Agent, day: int, date: dt.date) -> bool:
    return DAYS[day] in agent.days_off or date.isoformat() in agent.days_off


def week_start(week: str, tz: ZoneInfo) -> dt.date:
    """The Monday of an ISO week such as 2026-W50."""
    year, _, number = week.partition("-W")
    try:
        return dt.date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        raise ScheduleError(f"bad week {week!r}; use an ISO week such as 2026-W50") from None


def solve(week: str, step: int, requirement: dict[str, list[int]], templates: list[ShiftTemplate],
          agents: list[Agent], tz: ZoneInfo, seconds: float = 20.0, workers: int = 2) -> dict[str, Any]:
    """The schedule of an ISO week: shifts per agent, coverage per queue and interval against the requirement,
    the uncovered intervals (never an error for too few agents), the solver's bound and the LP lower bound."""
    from ortools.sat.python import cp_model

    per_day = 86_400 // step
    per_week = 7 * per_day
    for q, req in requirement.items():
        if len(req) != per_week:
            raise ScheduleError(f"the requirement of {q} needs {per_week} values (one per interval); got {len(req)}")
        if any(r < 0 for r in req):
            raise ScheduleError(f"the requirement of {q} has a negative value")
    names = {t.name for t in templates}
    if len(names) != len(templates):
        raise ScheduleError("template names must be unique")
    if len({a.id for a in agents}) != len(agents):
        raise ScheduleError("agent ids must be unique")
    monday = week_start(week, tz)
    queues = list(requirement)
    for agent in agents:
        for t in agent.templates:
            if t not in names:
                raise ScheduleError(f"agent {agent.id}: unknown template {t!r}")
    # Agents alike in everything but their id form one profile, solved as counts of shifts (a model the size of
    # the patterns, not of the agents), then handed to its agents; a profile of one is exactly per agent.
    profiles: dict[str, list[Agent]] = {}
    for agent in agents:
        profiles.setdefault(agent.model_dump_json(exclude={"id"}), []).append(agent)
    model = cp_model.CpModel()
    chosen: list[tuple[int, str, Pattern, Any]] = []  # (profile, queue, pattern, count)
    cover: dict[tuple[str, int], list[Any]] = {}
    shortfalls = []
    all_paid: list[Any] = []
    groups = list(profiles.values())
    for g, members in enumerate(groups):
        size, like = len(members), members[0]
        serves = [q for q in queues if not like.skills or q in like.skills]
        allowed = [t for t in templates if not like.templates or t.name in like.templates]
        paid, shifts = [], []
        for day in range(7):
            if _off(like, day, monday + dt.timedelta(days=day)):
                continue
            window = _window(like, day)
            if like.availability and window is None:
                continue  # availability given, not for this weekday
            today = []
            for template in allowed:
                for p in day_patterns(template, day, step, window):
                    for q in serves:
                        n = model.new_int_var(0, size, f"g{g}_{day}_{q}_{p.template}_{p.start}_{len(chosen)}")
                        chosen.append((g, q, p, n))
                        today.append(n)
                        paid.append(p.length * n)
                        for s in p.work:
                            cover.setdefault((q, s), []).append(n)
            if today:
                model.add(sum(today) <= size)  # one shift a day each
                shifts += today
        all_paid += paid
        model.add(sum(shifts) <= size * like.max_days)
        model.add(sum(paid) <= size * int(like.max_hours * 3600 // step))
        if like.min_hours:
            short = model.new_int_var(0, size * per_week, f"g{g}_short")
            model.add(short >= size * math.ceil(like.min_hours * 3600 / step) - sum(paid))
            shortfalls.append(short)
    unders = []
    for q in queues:
        for s in range(per_week):
            have = sum(cover.get((q, s), []))
            need = requirement[q][s]
            under = model.new_int_var(0, need, f"u_{q}_{s}")
            over = model.new_int_var(0, len(agents), f"o_{q}_{s}")
            model.add(have + under - over == need)
            unders.append(under)
    # Over-staffing is paid time beyond what covers the requirement: minimising paid time after the missing
    # intervals minimises it (the work time above the requirement and pauses where fewer would do).
    model.minimize(UNDER_WEIGHT * sum(unders) + SHORT_WEIGHT * sum(shortfalls) + sum(all_paid))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 1
    began = time.monotonic()
    status = solver.solve(model)
    wall = time.monotonic() - began
    found = solver.status_name(status) in ("OPTIMAL", "FEASIBLE")
    counts = [(g, q, p, solver.value(n)) for g, q, p, n in chosen if found and solver.value(n)]
    assigned, unassigned = _assign(groups, counts, step)
    return _report(week, monday, step, tz, requirement, assigned, lp_bound(requirement, groups, chosen, step),
                   {"status": solver.status_name(status), "objective": solver.objective_value if found else None,
                    "best_bound": solver.best_objective_bound if found else None,
                    "wall_seconds": round(wall, 3), "variables": len(chosen), "profiles": len(groups),
                    "unassigned_shifts": unassigned})


def _assign(groups: list[list[Agent]], counts: list[tuple[int, str, Pattern, int]],
            step: int) -> tuple[list[tuple[Agent, str, Pattern]], int]:
    """Hand each profile's shifts to its agents: each day's longest shifts first, to the agent with the most
    days and then hours left (enough whenever the counts respect the profile's totals and lengths are alike);
    a shift no agent can take is dropped and counted."""
    out: list[tuple[Agent, str, Pattern]] = []
    dropped = 0
    for g, members in enumerate(groups):
        days_left = {a.id: a.max_days for a in members}
        slots_left = {a.id: int(a.max_hours * 3600 // step) for a in members}
        busy: set[tuple[str, int]] = set()
        mine = sorted(((p.day, -p.length, p.start, q, p, n) for gg, q, p, n in counts if gg == g),
                      key=lambda x: x[:3])
        for _day, _len, _start, q, p, n in mine:
            for _ in range(n):
                free = [a for a in members if (a.id, p.day) not in busy and days_left[a.id] > 0
                        and slots_left[a.id] >= p.length]
                if not free:
                    dropped += 1
                    continue
                pick = max(free, key=lambda a: (days_left[a.id], slots_left[a.id], -members.index(a)))
                busy.add((pick.id, p.day))
                days_left[pick.id] -= 1
                slots_left[pick.id] -= p.length
                out.append((pick, q, p))
    return out, dropped


def lp_bound(requirement: dict[str, list[int]], groups: list[list[Agent]], chosen: list[tuple[int, str, Pattern, Any]],
             step: int) -> float | None:
    """The LP lower bound on paid agent-hours: the linear relaxation of the schedule (shift counts per profile
    may be fractional; one shift a day each, days and hours within the contracts) covering the requirement
    wherever some shift reaches; None when even that cannot cover it (too few agents)."""
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None or not chosen:
        return None
    ys = [solver.NumVar(0, len(groups[g]), f"y{i}") for i, (g, _q, _p, _n) in enumerate(chosen)]
    rows: dict[tuple[str, int], list[Any]] = {}
    per_day: dict[tuple[int, int], list[Any]] = {}
    for y, (g, q, p, _n) in zip(ys, chosen, strict=True):
        per_day.setdefault((g, p.day), []).append(y)
        for s in p.work:
            rows.setdefault((q, s), []).append(y)
    for (g, _day), terms in per_day.items():
        solver.Add(solver.Sum(terms) <= len(groups[g]))
    for g, members in enumerate(groups):
        mine = [(y, p) for y, (gg, _q, p, _n) in zip(ys, chosen, strict=True) if gg == g]
        if mine:
            solver.Add(solver.Sum([y for y, _p in mine]) <= len(members) * members[0].max_days)
            solver.Add(solver.Sum([p.length * y for y, p in mine])
                       <= len(members) * int(members[0].max_hours * 3600 // step))
    for q, req in requirement.items():
        for s, need in enumerate(req):
            reach = rows.get((q, s))
            if need and reach:  # an interval no shift can reach is uncovered in every schedule: left out
                solver.Add(solver.Sum(reach) >= need)
    solver.Minimize(solver.Sum([p.length * y for y, (_g, _q, p, _n) in zip(ys, chosen, strict=True)]))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return float(solver.Objective().Value()) * step / 3600


def _at(monday: dt.date, slot: int, step: int, tz: ZoneInfo) -> str:
    day, rest = divmod(slot * step, 86_400)
    local = dt.datetime.combine(monday + dt.timedelta(days=day), dt.time(), tz) + dt.timedelta(seconds=rest)
    return local.isoformat()


def _report(week: str, monday: dt.date, step: int, tz: ZoneInfo, requirement: dict[str, list[int]],
            shifts: list[tuple[Agent, str, Pattern]], lp_hours: float | None, solver: dict[str, Any]) -> dict[str, Any]:
    per_week = 7 * 86_400 // step
    scheduled = {q: [0] * per_week for q in requirement}
    out_shifts = []
    for agent, q, p in sorted(shifts, key=lambda s: (s[0].id, s[2].start)):
        for s in p.work:
            scheduled[q][s] += 1
        activities, cursor = [], p.start
        for kind, first, n in sorted(p.pauses, key=lambda x: x[1]):
            if first > cursor:
                activities.append({"kind": "work", "start": _at(monday, cursor, step, tz),
                                   "end": _at(monday, first, step, tz)})
            activities.append({"kind": kind, "start": _at(monday, first, step, tz),
                               "end": _at(monday, first + n, step, tz)})
            cursor = first + n
        if cursor < p.start + p.length:
            activities.append({"kind": "work", "start": _at(monday, cursor, step, tz),
                               "end": _at(monday, p.start + p.length, step, tz)})
        out_shifts.append({"agent": agent.id, "queue": q, "template": p.template,
                           "date": (monday + dt.timedelta(days=p.day)).isoformat(),
                           "start": _at(monday, p.start, step, tz), "end": _at(monday, p.start + p.length, step, tz),
                           "activities": activities})
    coverage, uncovered = [], []
    met = needed = 0
    for q, req in requirement.items():
        for s, need in enumerate(req):
            have = scheduled[q][s]
            coverage.append({"queue": q, "start": _at(monday, s, step, tz), "required": need, "scheduled": have})
            if need:
                needed += 1
                met += have >= need
            if have < need:
                uncovered.append({"queue": q, "start": _at(monday, s, step, tz), "missing": need - have})
    hours = sum(p.length for _a, _q, p in shifts) * step / 3600
    return {"week": week, "time_zone": tz.key, "interval_seconds": step, "shifts": out_shifts,
            "coverage": coverage, "uncovered": uncovered,
            "summary": {"agents": len({a.id for a, _q, _p in shifts}), "shifts": len(shifts),
                        "agent_hours": round(hours, 2),
                        "required_agent_hours": round(sum(map(sum, requirement.values())) * step / 3600, 2),
                        "lp_bound_hours": None if lp_hours is None else round(lp_hours, 2),
                        "hours_over_lp_bound": None if not lp_hours else round(hours / lp_hours - 1, 4),
                        "intervals_needing_agents": needed, "intervals_covered": met,
                        "coverage": round(met / needed, 4) if needed else 1.0,
                        "uncovered_agent_intervals": sum(u["missing"] for u in uncovered)},
            "solver": solver}
