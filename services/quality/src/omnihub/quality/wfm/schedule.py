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


@dataclass(frozen=True, slots=True)
class WeekGrid:
    """The intervals of an ISO week in the center's time zone: from local Monday 00:00 to the next local Monday
    00:00 in steps of real time, so a 23-hour day has 46 half-hours and a 25-hour day 50."""

    monday: dt.date
    tz: ZoneInfo
    step: int
    first: float  # epoch seconds of local Monday 00:00
    count: int  # intervals in the week
    days: tuple[int, ...]  # the first slot of each local day, and `count` after Sunday

    @classmethod
    def of(cls, week: str, step: int, tz: ZoneInfo) -> WeekGrid:
        """The grid of an ISO week such as 2026-W50."""
        monday = week_start(week, tz)
        mids = [dt.datetime.combine(monday + dt.timedelta(days=d), dt.time(), tz).timestamp() for d in range(8)]
        if any((m - mids[0]) % step for m in mids):
            raise ScheduleError(f"the local days of {tz.key} do not start on the {step // 60}-minute grid")
        return cls(monday, tz, step, mids[0], int((mids[7] - mids[0]) // step),
                   tuple(int((m - mids[0]) // step) for m in mids))

    def slot(self, day: int, minute: int) -> int | None:
        """The slot where a local time (minutes after midnight) of a day of the week begins; None when that time
        does not exist that day (the hour skipped in spring). A time that occurs twice is its first occurrence."""
        local = dt.datetime.combine(self.monday + dt.timedelta(days=day), dt.time(minute // 60, minute % 60),
                                    self.tz)
        t = local.timestamp()
        if dt.datetime.fromtimestamp(t, self.tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            return None
        if (t - self.first) % self.step:
            raise ScheduleError(f"{local.time():%H:%M} is not on the {self.step // 60}-minute grid")
        return int((t - self.first) // self.step)

    def at(self, slot: int) -> str:
        """ISO 8601 local time of a slot's start (slots past the week's end included)."""
        return dt.datetime.fromtimestamp(self.first + slot * self.step, self.tz).isoformat()


def _fits(window: tuple[int, int] | None, begin: int, length: int) -> bool:
    if window is None:
        return True
    start, end = window
    if end <= start:  # e.g. 22:00-06:00: the window ends the next morning
        end += 24 * 60
    return start <= begin and begin + length <= end


def day_patterns(template: ShiftTemplate, day: int, grid: WeekGrid, window: tuple[int, int] | None,
                 earliest: int | None = None) -> list[Pattern]:
    """Every pattern of a template on one day of the week whose shift fits the availability window (minutes; it
    may cross midnight, as may the shift) and starts at `earliest` (a slot) or later."""
    step_min = grid.step // 60
    slots = math.ceil(template.minutes / step_min)
    pauses = [("break", p) for p in template.breaks] + ([("lunch", template.lunch)] if template.lunch else [])
    out = []
    for start in template.starts:
        begin = minutes(start)
        if begin % step_min:
            raise ScheduleError(f"template {template.name}: start {start} is not on the {step_min}-minute grid")
        if begin >= 24 * 60 or not _fits(window, begin, template.minutes):
            continue
        first = grid.slot(day, begin)
        if first is None or (earliest is not None and first < earliest):
            continue  # the local time does not exist that day, or the agent is still resting
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
          agents: list[Agent], tz: ZoneInfo, seconds: float = 20.0, workers: int = 2, min_rest_hours: float = 0.0,
          carried: dict[str, list[int]] | None = None, rested: dict[str, float] | None = None) -> dict[str, Any]:
    """The schedule of an ISO week: shifts per agent, coverage per queue and interval against the requirement,
    the uncovered intervals (never an error for too few agents), the solver's bound and the LP lower bound.

    Shifts may cross midnight (and the week's end: their later part covers the next week); between the end of
    an agent's shift and the start of their next one lie at least `min_rest_hours`. `carried` are agents per
    queue and interval already working from the previous week's shifts, `rested` the end (epoch seconds) of each
    agent's last shift of the previous week."""
    from ortools.sat.python import cp_model

    grid = WeekGrid.of(week, step, tz)
    count = grid.count
    for q, req in requirement.items():
        if len(req) != count:
            raise ScheduleError(f"the requirement of {q} needs {count} values (one per interval of {week} in "
                                f"{tz.key}); got {len(req)}")
        if any(r < 0 for r in req):
            raise ScheduleError(f"the requirement of {q} has a negative value")
    names = {t.name for t in templates}
    if len(names) != len(templates):
        raise ScheduleError("template names must be unique")
    if len({a.id for a in agents}) != len(agents):
        raise ScheduleError("agent ids must be unique")
    rest = math.ceil(min_rest_hours * 3600 / step)
    queues = list(requirement)
    carried = {q: list(carried.get(q, [0] * count)) for q in queues} if carried else {q: [0] * count for q in queues}
    # what the previous week's shifts already cover is not needed again
    needs = {q: [max(0, n - c) for n, c in zip(requirement[q], carried[q], strict=True)] for q in queues}
    earliest = {a: math.ceil((end - grid.first) / step) + rest for a, end in (rested or {}).items()}
    for agent in agents:
        for t in agent.templates:
            if t not in names:
                raise ScheduleError(f"agent {agent.id}: unknown template {t!r}")
    # Agents alike in everything but their id form one profile, solved as counts of shifts (a model the size of
    # the patterns, not of the agents), then handed to its agents; a profile of one is exactly per agent.
    profiles: dict[tuple[str, int | None], list[Agent]] = {}
    for agent in agents:
        profiles.setdefault((agent.model_dump_json(exclude={"id"}), earliest.get(agent.id)), []).append(agent)
    model = cp_model.CpModel()
    chosen: list[tuple[int, str, Pattern, Any]] = []  # (profile, queue, pattern, count)
    cover: dict[tuple[str, int], list[Any]] = {}
    shortfalls = []
    all_paid: list[Any] = []
    groups = list(profiles.values())
    for g, ((_key, first_start), members) in enumerate(profiles.items()):
        size, like = len(members), members[0]
        serves = [q for q in queues if not like.skills or q in like.skills]
        allowed = [t for t in templates if not like.templates or t.name in like.templates]
        paid, shifts = [], []
        for day in range(7):
            if _off(like, day, grid.monday + dt.timedelta(days=day)):
                continue
            window = _window(like, day)
            if like.availability and window is None:
                continue  # availability given, not for this weekday
            today = []
            for template in allowed:
                for p in day_patterns(template, day, grid, window, first_start):
                    for q in serves:
                        n = model.new_int_var(0, size, f"g{g}_{day}_{q}_{p.template}_{p.start}_{len(chosen)}")
                        chosen.append((g, q, p, n))
                        today.append(n)
                        paid.append(p.length * n)
                        for s in p.work:
                            if s < count:  # later slots cover the next week
                                cover.setdefault((q, s), []).append(n)
            if today:
                model.add(sum(today) <= size)  # one shift a day each
                shifts += today
        for late, early in rest_conflicts([(p, n) for gg, _q, p, n in chosen if gg == g], rest):
            model.add(sum(late) + sum(early) <= size)
        all_paid += paid
        model.add(sum(shifts) <= size * like.max_days)
        model.add(sum(paid) <= size * int(like.max_hours * 3600 // step))
        if like.min_hours:
            short = model.new_int_var(0, size * count, f"g{g}_short")
            model.add(short >= size * math.ceil(like.min_hours * 3600 / step) - sum(paid))
            shortfalls.append(short)
    unders = []
    for q in queues:
        for s in range(count):
            have = sum(cover.get((q, s), []))
            need = needs[q][s]
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
    starts = [first_start for _key, first_start in profiles]
    assigned, unassigned = _assign(groups, starts, counts, step, rest)
    return _report(week, grid, requirement, carried, assigned,
                   lp_bound(needs, groups, chosen, step, rest),
                   {"status": solver.status_name(status), "objective": solver.objective_value if found else None,
                    "best_bound": solver.best_objective_bound if found else None,
                    "wall_seconds": round(wall, 3), "variables": len(chosen), "profiles": len(groups),
                    "unassigned_shifts": unassigned, "min_rest_hours": min_rest_hours})


def rest_conflicts(patterns: list[tuple[Pattern, Any]], rest: int) -> list[tuple[list[Any], list[Any]]]:
    """Pairs (shifts of a day ending at or after x, shifts of the next day starting before x + rest) for each end
    x: an agent works at most one of each pair, so their counts add up to at most the profile's size (with one
    shift a day each, this is what makes the counts assignable under the rest rule; also no overlap at rest 0)."""
    by_day: dict[int, list[tuple[Pattern, Any]]] = {}
    for p, n in patterns:
        by_day.setdefault(p.day, []).append((p, n))
    out = []
    for day, today in sorted(by_day.items()):
        tomorrow = by_day.get(day + 1, [])
        if not tomorrow:
            continue
        for x in sorted({p.start + p.length for p, _n in today}):
            early = [n for p, n in tomorrow if p.start < x + rest]
            if early:
                out.append(([n for p, n in today if p.start + p.length >= x], early))
    return out


def _assign(groups: list[list[Agent]], starts: list[int | None], counts: list[tuple[int, str, Pattern, int]],
            step: int, rest: int) -> tuple[list[tuple[Agent, str, Pattern]], int]:
    """Hand each profile's shifts to its agents: day by day, earliest start first (the agents rested enough for
    an earlier start are rested enough for every later one), to the agent with the most days and then hours
    left; a shift no agent can take is dropped and counted."""
    out: list[tuple[Agent, str, Pattern]] = []
    dropped = 0
    for g, members in enumerate(groups):
        days_left = {a.id: a.max_days for a in members}
        slots_left = {a.id: int(a.max_hours * 3600 // step) for a in members}
        opening = starts[g]
        free_from = {a.id: -(10**9) if opening is None else opening for a in members}
        busy: set[tuple[str, int]] = set()
        mine = sorted(((p.day, p.start, -p.length, q, p, n) for gg, q, p, n in counts if gg == g),
                      key=lambda x: x[:3])
        for _day, _start, _len, q, p, n in mine:
            for _ in range(n):
                free = [a for a in members if (a.id, p.day) not in busy and days_left[a.id] > 0
                        and slots_left[a.id] >= p.length and free_from[a.id] <= p.start]
                if not free:
                    dropped += 1
                    continue
                pick = max(free, key=lambda a: (days_left[a.id], slots_left[a.id], -members.index(a)))
                busy.add((pick.id, p.day))
                days_left[pick.id] -= 1
                slots_left[pick.id] -= p.length
                free_from[pick.id] = p.start + p.length + rest
                out.append((pick, q, p))
    return out, dropped


def lp_bound(requirement: dict[str, list[int]], groups: list[list[Agent]], chosen: list[tuple[int, str, Pattern, Any]],
             step: int, rest: int = 0) -> float | None:
    """The LP lower bound on paid agent-hours: the linear relaxation of the schedule (shift counts per profile
    may be fractional; one shift a day each, the rest rule, days and hours within the contracts) covering the
    requirement wherever some shift reaches; None when even that cannot cover it (too few agents)."""
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
            for late, early in rest_conflicts([(p, y) for y, p in mine], rest):
                solver.Add(solver.Sum(late) + solver.Sum(early) <= len(members))
    for q, req in requirement.items():
        for s, need in enumerate(req):
            reach = rows.get((q, s))
            if need and reach:  # an interval no shift can reach is uncovered in every schedule: left out
                solver.Add(solver.Sum(reach) >= need)
    solver.Minimize(solver.Sum([p.length * y for y, (_g, _q, p, _n) in zip(ys, chosen, strict=True)]))
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    return float(solver.Objective().Value()) * step / 3600


def _report(week: str, grid: WeekGrid, requirement: dict[str, list[int]], carried: dict[str, list[int]],
            shifts: list[tuple[Agent, str, Pattern]], lp_hours: float | None, solver: dict[str, Any]) -> dict[str, Any]:
    at = grid.at
    scheduled = {q: list(carried[q]) for q in requirement}  # the previous week's shifts reaching into this one
    out_shifts = []
    for agent, q, p in sorted(shifts, key=lambda s: (s[0].id, s[2].start)):
        for s in p.work:
            if s < grid.count:
                scheduled[q][s] += 1
        activities, cursor = [], p.start
        for kind, first, n in sorted(p.pauses, key=lambda x: x[1]):
            if first > cursor:
                activities.append({"kind": "work", "start": at(cursor), "end": at(first)})
            activities.append({"kind": kind, "start": at(first), "end": at(first + n)})
            cursor = first + n
        if cursor < p.start + p.length:
            activities.append({"kind": "work", "start": at(cursor), "end": at(p.start + p.length)})
        out_shifts.append({"agent": agent.id, "queue": q, "template": p.template,
                           "date": (grid.monday + dt.timedelta(days=p.day)).isoformat(),
                           "start": at(p.start), "end": at(p.start + p.length), "activities": activities})
    coverage, uncovered = [], []
    met = needed = 0
    for q, req in requirement.items():
        for s, need in enumerate(req):
            have = scheduled[q][s]
            coverage.append({"queue": q, "start": at(s), "required": need, "scheduled": have})
            if need:
                needed += 1
                met += have >= need
            if have < need:
                uncovered.append({"queue": q, "start": at(s), "missing": need - have})
    hours = sum(p.length for _a, _q, p in shifts) * grid.step / 3600
    return {"week": week, "time_zone": grid.tz.key, "interval_seconds": grid.step, "intervals": grid.count,
            "shifts": out_shifts, "coverage": coverage, "uncovered": uncovered,
            "summary": {"agents": len({a.id for a, _q, _p in shifts}), "shifts": len(shifts),
                        "agent_hours": round(hours, 2),
                        "required_agent_hours": round(sum(map(sum, requirement.values())) * grid.step / 3600, 2),
                        "carried_in_agent_hours": round(sum(map(sum, carried.values())) * grid.step / 3600, 2),
                        "lp_bound_hours": None if lp_hours is None else round(lp_hours, 2),
                        "hours_over_lp_bound": None if not lp_hours else round(hours / lp_hours - 1, 4),
                        "intervals_needing_agents": needed, "intervals_covered": met,
                        "coverage": round(met / needed, 4) if needed else 1.0,
                        "uncovered_agent_intervals": sum(u["missing"] for u in uncovered)},
            "solver": solver}
