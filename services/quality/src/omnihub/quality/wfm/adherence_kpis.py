"""Adherence and conformance as KPI columns: per agent over any window (days summed), added to by-agent answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from omnihub.quality.kpis import Kpi
from omnihub.quality.queries import as_json
from omnihub.quality.wfm.adherence import Activity, day_plan, figures
from omnihub.quality.wfm.service import WfmService

MAX_DAYS = 62  # a longer window is not summed (the state history scan grows with it): the columns stay null
SECONDS = ("scheduled_seconds", "in_adherence_seconds", "scheduled_work_seconds", "worked_seconds")


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


async def window(service: WfmService, start: float, end: float, agent: str = "") -> dict[str, dict[str, float]]:
    """Each scheduled agent's seconds over [start, end) up to now: scheduled, in adherence, scheduled work, worked
    (worked time counts on days the agent had a shift, as the day figures do). Empty for windows over MAX_DAYS."""
    tz = service.query.zone_for()
    upto = min(end, service.clock())
    if upto <= start or upto - start > MAX_DAYS * 86_400:
        return {}
    day = dt.datetime.fromtimestamp(start, tz).date()
    last = dt.datetime.fromtimestamp(upto, tz).date()
    weeks: dict[str, dict[str, Any] | None] = {}
    plans: list[tuple[float, float, dict[str, list[Activity]]]] = []
    while day <= last:
        d0 = max(start, dt.datetime.combine(day, dt.time(), tz).timestamp())
        d1 = min(upto, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp())
        year, number, _ = day.isocalendar()
        week = f"{year}-W{number:02d}"
        if week not in weeks:
            weeks[week] = await service.store.schedule(week)
        plan = {k: v for k, v in day_plan(weeks[week], day).items() if not agent or k == agent}
        if plan and d1 > d0:
            plans.append((d0, d1, plan))
        day += dt.timedelta(days=1)
    if not plans:
        return {}
    initial = {d["agent"]: d["to_state"] for d in await service.query.store.last_state_before(start)}
    changes: dict[str, list[tuple[float, str]]] = {}
    for d in await service.query.store.state_changes(start, upto):
        changes.setdefault(d["agent"], []).append((float(d["time"]), d["to_state"]))
    out: dict[str, dict[str, float]] = {}
    for d0, d1, plan in plans:
        for who, acts in plan.items():
            mine = changes.get(who, [])
            before = [c for c in mine if c[0] < d0]
            state = before[-1][1] if before else initial.get(who, "OFFLINE")
            got = figures([a for a in acts if a.start < d1], [c for c in mine if c[0] >= d0], state, d0, d1)
            sums = out.setdefault(who, dict.fromkeys(SECONDS, 0.0))
            for k in SECONDS:
                sums[k] += float(got[k] or 0.0)
    return out


def _put(row: dict[str, Any], seconds: dict[str, float] | None) -> None:
    s = seconds or dict.fromkeys(SECONDS, 0.0)
    row["adherence"] = _ratio(s["in_adherence_seconds"], s["scheduled_seconds"])
    row["conformance"] = _ratio(s["worked_seconds"], s["scheduled_work_seconds"])


async def add(service: WfmService, start: float, end: float, group_by: str, agent: str, queue: str,
              rows: list[dict[str, Any]], total: dict[str, Any]) -> None:
    """Add `adherence` and `conformance` to a KPI answer grouped by agent (every row, a row for each scheduled agent
    without contacts, and the pooled total) or filtered to one agent (its total); other answers (by queue, by time,
    one queue's) get nulls: a schedule is per agent."""
    for row in [*rows, total]:
        row["adherence"] = row["conformance"] = None
    if queue or group_by not in ("agent", "") or (group_by == "" and not agent):
        return
    per_agent = await window(service, start, end, agent)
    if group_by == "agent":
        known = {r["key"] for r in rows}
        rows.extend(as_json(Kpi(key=who)) for who in sorted(set(per_agent) - known))  # scheduled, no contacts
        for row in rows:
            _put(row, per_agent.get(str(row["key"])))
    pooled = {k: sum(s[k] for s in per_agent.values()) for k in SECONDS}
    _put(total, pooled)
