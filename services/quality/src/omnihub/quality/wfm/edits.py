"""A supervisor's edit of a saved schedule: set (add or move) or remove one agent's shift of a day and its breaks,
checked against the agent's contract, availability and other shifts, with coverage and summary recomputed."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Literal

from pydantic import Field, field_validator

from omnihub.common.jsonbody import Body
from omnihub.quality.wfm.models import DAYS, Agent, minutes

MAX_SHIFT_MINUTES = 14 * 60  # as the longest shift template
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class EditError(ValueError):
    """An edit the schedule cannot take: `code` and `params` let the page say it in the user's language."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params = params

    def as_json(self) -> dict[str, Any]:
        """The refusal's body: code, English message, parameters."""
        return {"code": self.code, "message": str(self), "params": self.params}


def _hhmm(value: str) -> str:
    minutes(value)
    return value


class PauseEdit(Body):
    """A break or lunch inside the shift, local HH:MM."""

    kind: Literal["break", "lunch"]
    start: str = Field(max_length=5)
    end: str = Field(max_length=5)

    _times = field_validator("start", "end")(_hhmm)


class ShiftEdit(Body):
    """POST /api/wfm/schedules/{week}/edits: set (add, or move within or across days) or remove an agent's shift."""

    base: str = Field(min_length=1, max_length=40, description="id of the schedule edited; a newer one answers 409")
    action: Literal["set", "remove"]
    agent: str = Field(min_length=1, max_length=64)
    date: dt.date
    from_date: dt.date | None = Field(default=None, description="set: move the agent's shift of this day")
    queue: str = Field(default="", max_length=64, description="set: empty keeps the shift's queue")
    start: str = Field(default="", max_length=5, description="set: local HH:MM")
    end: str = Field(default="", max_length=5, description="set: local HH:MM; at or before the start: the next day")
    pauses: list[PauseEdit] = Field(default_factory=list, max_length=6)

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        return _hhmm(value) if value else value


def _at(day: dt.date, mins: int, tz: dt.tzinfo) -> str:
    return dt.datetime.combine(day + dt.timedelta(days=mins // 1440), dt.time(), tz).replace(
        hour=(mins % 1440) // 60, minute=mins % 60).isoformat()


def _ts(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def _hours(shift: dict[str, Any]) -> float:
    return (_ts(shift["end"]) - _ts(shift["start"])) / 3600


def _shift(edit: ShiftEdit, queue: str, template: str, step_min: int, tz: dt.tzinfo) -> dict[str, Any]:
    """The new shift with its activities (work between the pauses), or EditError."""
    if not edit.start or not edit.end:
        raise EditError("times", "a shift needs a start and an end (HH:MM)")
    start, end = minutes(edit.start), minutes(edit.end)
    for value in [start, end] + [minutes(t) for p in edit.pauses for t in (p.start, p.end)]:
        if value % step_min:
            raise EditError("grid", f"times must be on the schedule's {step_min}-minute grid", minutes=step_min)
    if end <= start:  # over midnight
        end += 1440
    if end - start > MAX_SHIFT_MINUTES:
        raise EditError("length", f"a shift lasts at most {MAX_SHIFT_MINUTES // 60} hours",
                        hours=MAX_SHIFT_MINUTES // 60)

    def after_start(value: str) -> int:  # a pause time past midnight of an overnight shift
        mins = minutes(value)
        return mins + 1440 if mins < start else mins

    acts: list[dict[str, Any]] = []
    cursor = start
    for p in sorted(edit.pauses, key=lambda x: after_start(x.start)):
        p0, p1 = after_start(p.start), after_start(p.end)
        if p1 <= p0 or p0 < cursor or p1 > end:
            raise EditError("pause", f"the {p.kind} {p.start}-{p.end} must lie inside the shift and not overlap "
                            "another break", kind=p.kind, start=p.start, end=p.end)
        if p0 > cursor:
            acts.append({"kind": "work", "start": _at(edit.date, cursor, tz), "end": _at(edit.date, p0, tz)})
        acts.append({"kind": p.kind, "start": _at(edit.date, p0, tz), "end": _at(edit.date, p1, tz)})
        cursor = p1
    if cursor < end:
        acts.append({"kind": "work", "start": _at(edit.date, cursor, tz), "end": _at(edit.date, end, tz)})
    return {"agent": edit.agent, "queue": queue, "template": template, "date": edit.date.isoformat(),
            "start": _at(edit.date, start, tz), "end": _at(edit.date, end, tz), "activities": acts}


def _check_contract(agent: Agent, new: dict[str, Any], others: list[dict[str, Any]], edit: ShiftEdit,
                    min_rest: float) -> None:
    """Skills, days off, availability, overlap with and rest between the agent's other shifts, weekly hours and
    days."""
    who, day = agent.id, edit.date
    weekday = DAYS[day.weekday()]
    if agent.skills and new["queue"] not in agent.skills:
        raise EditError("skill", f"{who} does not serve {new['queue']} (skills: {', '.join(agent.skills)})",
                        agent=who, queue=new["queue"], skills=", ".join(agent.skills))
    if weekday in agent.days_off or day.isoformat() in agent.days_off:
        raise EditError("day_off", f"{day.isoformat()} ({WEEKDAYS[day.weekday()]}) is a day off of {who}",
                        agent=who, date=day.isoformat())
    window = agent.availability.get(weekday)
    if window:
        lo, _, hi = window.partition("-")
        length = (_ts(new["end"]) - _ts(new["start"])) / 60
        if minutes(edit.start) < minutes(lo) or minutes(edit.start) + length > minutes(hi):
            raise EditError("availability", f"{who} is available on {WEEKDAYS[day.weekday()]} {window} only",
                            agent=who, date=day.isoformat(), window=window)
    mine = [s for s in others if s["agent"] == who]
    for s in mine:
        if _ts(s["start"]) < _ts(new["end"]) and _ts(new["start"]) < _ts(s["end"]):
            raise EditError("overlap", f"{who} already works {s['start'][11:16]}-{s['end'][11:16]} on {s['date']}",
                            agent=who, date=s["date"], start=s["start"][11:16], end=s["end"][11:16])
        if s["date"] == new["date"]:
            raise EditError("one_a_day", f"{who} already has a shift on {s['date']}", agent=who, date=s["date"])
        rest = min(abs(_ts(new["start"]) - _ts(s["end"])), abs(_ts(s["start"]) - _ts(new["end"]))) / 3600
        if rest < min_rest:
            raise EditError("rest", f"{who} would rest only {rest:g} hours after or before the shift of {s['date']}; "
                            f"the plan asks for {min_rest:g}", agent=who, date=s["date"], hours=round(rest, 2),
                            limit=min_rest)
    hours = sum(_hours(s) for s in mine) + _hours(new)
    if hours > agent.max_hours + 1e-9:
        raise EditError("max_hours", f"{who} would work {hours:g} hours this week; the contract allows at most "
                        f"{agent.max_hours:g}", agent=who, hours=round(hours, 2), limit=agent.max_hours)
    if len(mine) + 1 > agent.max_days:
        raise EditError("max_days", f"{who} would work {len(mine) + 1} days this week; the contract allows at most "
                        f"{agent.max_days}", agent=who, days=len(mine) + 1, limit=agent.max_days)


def recount(doc: dict[str, Any]) -> None:
    """Coverage (scheduled per queue and interval), uncovered intervals and the summary, from the shifts."""
    step = int(doc["interval_seconds"])
    rows = {(c["queue"], _ts(c["start"])): c for c in doc.get("coverage", [])}
    for c in rows.values():
        c["scheduled"] = 0
    for s in doc["shifts"]:
        for a in s["activities"]:
            if a["kind"] != "work":
                continue
            t, end = _ts(a["start"]), _ts(a["end"])
            while t < end:
                row = rows.get((s["queue"], t))
                if row is not None:
                    row["scheduled"] += 1
                t += step
    doc["uncovered"] = [{"queue": c["queue"], "start": c["start"], "missing": c["required"] - c["scheduled"]}
                        for c in doc.get("coverage", []) if c["scheduled"] < c["required"]]
    needed = [c for c in doc.get("coverage", []) if c["required"]]
    met = sum(c["scheduled"] >= c["required"] for c in needed)
    hours = round(sum(_hours(s) for s in doc["shifts"]), 2)
    summary = doc.setdefault("summary", {})
    lp = summary.get("lp_bound_hours")
    summary |= {"agents": len({s["agent"] for s in doc["shifts"]}), "shifts": len(doc["shifts"]), "agent_hours": hours,
                "hours_over_lp_bound": round(hours / lp - 1, 4) if lp else None,
                "intervals_needing_agents": len(needed), "intervals_covered": met,
                "coverage": round(met / len(needed), 4) if needed else 1.0,
                "uncovered_agent_intervals": sum(u["missing"] for u in doc["uncovered"])}


def apply(doc: dict[str, Any], edit: ShiftEdit, tz: dt.tzinfo) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                                         dict[str, Any] | None]:
    """(the edited schedule, the shift before, the shift after): a copy of `doc` with the edit made and its
    coverage recounted, or EditError saying why not."""
    out = copy.deepcopy(doc)
    year, _, number = out["week"].partition("-W")
    monday = dt.date.fromisocalendar(int(year), int(number), 1)
    for day in (edit.date, edit.from_date):
        if day is not None and not monday <= day < monday + dt.timedelta(days=7):
            raise EditError("week", f"{day.isoformat()} is not in {out['week']}", date=day.isoformat(),
                            week=out["week"])
    old_day = (edit.from_date or edit.date).isoformat()
    old = next((s for s in out["shifts"] if s["agent"] == edit.agent and s["date"] == old_day), None)
    if old is None and (edit.action == "remove" or edit.from_date is not None):
        raise EditError("no_shift", f"{edit.agent} has no shift on {old_day}", agent=edit.agent, date=old_day)
    others = [s for s in out["shifts"] if s is not old]
    new = None
    if edit.action == "set":
        queues = sorted({c["queue"] for c in out.get("coverage", [])})
        plan = {a["id"]: Agent.model_validate(a) for a in out.get("agents", [])}
        skilled = [q for q in queues if edit.agent in plan and q in plan[edit.agent].skills]
        queue = edit.queue or (old["queue"] if old else (skilled or queues or ["support"])[0])
        if queues and queue not in queues:
            raise EditError("queue", f"this schedule staffs {', '.join(queues)}, not {queue}", queue=queue,
                            queues=", ".join(queues))
        new = _shift(edit, queue, old["template"] if old else "edited", int(out["interval_seconds"]) // 60, tz)
        if plan and edit.agent not in plan:
            raise EditError("unknown_agent", f"{edit.agent} is not in this week's plan", agent=edit.agent)
        _check_contract(plan.get(edit.agent) or Agent(id=edit.agent, max_hours=80, max_days=7), new, others, edit,
                        float(out.get("min_rest_hours", 0.0)))
        others.append(new)
    out["shifts"] = sorted(others, key=lambda s: (s["agent"], s["start"]))
    recount(out)
    return out, old, new
