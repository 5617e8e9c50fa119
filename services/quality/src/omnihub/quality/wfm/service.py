"""Workforce management questions answered from the rollups and kept in MongoDB (HTTP and CLI share it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from omnihub.quality import calendar
from omnihub.quality.queries import KpiQuery
from omnihub.quality.wfm.adherence import Activity, day_plan, figures, out_of_adherence
from omnihub.quality.wfm.forecast import MAX_WEEKS_AHEAD, ForecastError, make_forecast, wape
from omnihub.quality.wfm.history import load_history
from omnihub.quality.wfm.localtime import from_local, to_local
from omnihub.quality.wfm.models import ChannelRule, ScheduleBody
from omnihub.quality.wfm.patience import Patience, measured
from omnihub.quality.wfm.schedule import ScheduleError, WeekGrid, solve
from omnihub.quality.wfm.staffing import ChannelDemand, blended, requirement
from omnihub.quality.wfm.store import WfmStore

MAX_HISTORY_WEEKS = 26
PATIENCE_WEEKS = 4  # abandons and waits of the last weeks measure the customers' patience


class WfmService:
    """Forecasts per queue and channel (stored with their creation time) and their comparison with actuals."""

    def __init__(self, query: KpiQuery, store: WfmStore, holidays: Mapping[str, list[dt.date]] | None = None) -> None:
        self.query = query
        self.store = store
        self.holidays = dict(holidays or {})  # queue -> holidays of its business calendar
        self.clock: Callable[[], float] = time.time
        self._cpu = asyncio.Semaphore(1)  # model fits are CPU-bound: one at a time beside ingest

    async def forecast(self, queue: str, channel: str = "", weeks: int = 2, step: int = 1800,
                       history_weeks: int = 8, uplift: Mapping[dt.date, float] | None = None,
                       save: bool = True) -> dict[str, Any]:
        """Forecast from today's local midnight for `weeks` weeks; ForecastError says what is wrong or missing."""
        if step not in (900, 1800):
            raise ForecastError("interval must be 15m or 30m")
        if not 1 <= weeks <= MAX_WEEKS_AHEAD:
            raise ForecastError(f"weeks must be between 1 and {MAX_WEEKS_AHEAD}; got {weeks}")
        if not 3 <= history_weeks <= MAX_HISTORY_WEEKS:
            raise ForecastError(f"history_weeks must be between 3 and {MAX_HISTORY_WEEKS}; got {history_weeks}")
        for day, factor in (uplift or {}).items():
            if not 0 <= factor <= 10:
                raise ForecastError(f"the uplift of {day} must be a factor between 0 and 10; got {factor}")
        tz = self.query.zone_for(queue)
        now = self.clock()
        origin = calendar.day_start(now, tz)
        today = dt.datetime.fromtimestamp(origin, tz).date()
        start = dt.datetime.combine(today - dt.timedelta(days=7 * history_weeks), dt.time(), tz).timestamp()
        history = to_local(await load_history(self.query.store, queue, channel, start, origin, step,
                                              self.holidays.get(queue, []), tz), tz)
        per_day = 86_400 // step
        factors = {i: uplift[d] for i in range(weeks * 7 * per_day)
                   if uplift and (d := today + dt.timedelta(days=i // per_day)) in uplift}
        async with self._cpu:
            local = await asyncio.to_thread(make_forecast, history, weeks, factors)
        result = from_local(local, origin, weeks, tz)  # local-time slots back to real-time intervals
        doc = {"_id": f"fc_{uuid.uuid4().hex[:16]}", "queue": queue, "channel": channel, "created": now,
               "from": result.start, "to": result.start + len(result.arrivals) * step, "time_zone": tz.key,
               "uplift": {d.isoformat(): f for d, f in (uplift or {}).items()}, **result.as_json(tz)}
        if save:
            await self.store.add_forecast(doc)
        return public(doc)

    async def accuracy(self, forecast_id: str) -> dict[str, Any] | None:
        """A stored forecast beside what has happened since (actual arrivals per elapsed interval, WAPE so far)."""
        doc = await self.store.forecast(forecast_id)
        if doc is None:
            return None
        step, start = int(doc["interval_seconds"]), float(doc["from"])
        now = self.clock()
        upto = min(float(doc["to"]), now - now % step)  # whole intervals only
        elapsed = max(0, int((upto - start) // step))
        actual = (await load_history(self.query.store, doc["queue"], doc["channel"], start, start + elapsed * step,
                                     step)).arrivals if elapsed else np.zeros(0)
        rows = doc["intervals"]
        for i, a in enumerate(actual):
            rows[i]["actual"] = float(a)
        predicted = np.array([r["arrivals"] for r in rows[:elapsed]])
        so_far = wape(actual, predicted) if elapsed else float("nan")
        out = public(doc)
        out["elapsed_intervals"] = elapsed
        out["wape_so_far"] = None if np.isnan(so_far) else round(so_far, 4)
        return out

    async def requirement(self, queue: str, week: str, step: int, shrinkage: float = 0.0,
                          max_occupancy: float = 0.85, patience: float | None = None) -> list[int]:
        """Agents to schedule per interval of an ISO week from the newest forecast of the queue covering it."""
        return list((await self.requirement_detail(queue, week, step, shrinkage, max_occupancy, patience))["agents"])

    async def requirement_detail(self, queue: str, week: str, step: int, shrinkage: float = 0.0,
                                 max_occupancy: float = 0.85, patience: float | None = None,
                                 channels: Sequence[ChannelRule] = ()) -> dict[str, Any]:
        """The requirement with the model used: Erlang A with the queue's patience (configured, else measured
        over the 4 weeks before the forecast from the stored waits and abandons), Erlang C when it is unknown.

        With `channels`, each channel's own newest forecast gives its demand (live channels by Erlang, chats
        `concurrency` at a time, deferred ones by workload within their response time), summed per interval."""
        target, threshold = self.query.targets.get(queue, (0.8, 20.0))
        if channels:
            return await self._per_channel(queue, week, step, shrinkage, max_occupancy, patience, channels)
        doc, rows = await self._forecast_rows(queue, "", week, step)
        known = await self.patience(queue, doc["channel"], float(doc["from"]), patience)
        need = requirement([r["arrivals"] for r in rows], [r["aht"] for r in rows], step, target, threshold,
                           shrinkage, max_occupancy, known.seconds or 0.0)
        return {"queue": queue, "forecast_id": doc["_id"], "agents": need, "target": target,
                "threshold_seconds": threshold, **known.as_json()}

    async def _per_channel(self, queue: str, week: str, step: int, shrinkage: float, max_occupancy: float,
                           patience: float | None, channels: Sequence[ChannelRule]) -> dict[str, Any]:
        target, threshold = self.query.targets.get(queue, (0.8, 20.0))
        demands, used = [], {}
        for rule in channels:
            doc, rows = await self._forecast_rows(queue, rule.channel, week, step)
            info: dict[str, Any] = {"forecast_id": doc["_id"], "concurrency": rule.concurrency}
            seconds = 0.0
            if rule.response_seconds:
                info |= {"model": "deferred", "response_seconds": rule.response_seconds}
            else:
                known = await self.patience(queue, rule.channel, float(doc["from"]), patience)
                seconds = known.seconds or 0.0
                info |= {**known.as_json(), "target": rule.target or target,
                         "threshold_seconds": threshold if rule.threshold_seconds is None else rule.threshold_seconds}
            demands.append(ChannelDemand(rule.channel, [r["arrivals"] for r in rows], [r["aht"] for r in rows],
                                         rule.concurrency, rule.response_seconds, rule.target or target,
                                         threshold if rule.threshold_seconds is None else rule.threshold_seconds,
                                         seconds))
            used[rule.channel] = info
        need, parts = blended(demands, step, shrinkage, max_occupancy)
        for name, part in parts.items():
            used[name] |= {"peak_agents": round(max(part, default=0.0), 2),
                           "agent_hours": round(sum(part) * step / 3600, 1)}
        return {"queue": queue, "agents": need, "model": "per_channel", "channels": used}

    async def _forecast_rows(self, queue: str, channel: str, week: str,
                             step: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The newest forecast of a queue and channel covering a week, and its rows of that week (from local
        Monday 00:00 to the next: 334, 336 or 338 half-hours as the clocks change)."""
        grid = WeekGrid.of(week, step, self.query.zone_for(queue))
        doc = await self.store.latest_forecast(queue, channel, grid.first)
        if doc is None or doc["interval_seconds"] != step or grid.first + grid.count * step > doc["to"]:
            which = f"{queue}/{channel}" if channel else queue
            option = f" --channel {channel}" if channel else ""
            raise ScheduleError(f"no {step // 60}-minute forecast of {which} covers {week}; make one first "
                                f"(omnihub forecast --queue {queue}{option} --weeks 2)")
        offset = int((grid.first - doc["from"]) // step)
        return doc, doc["intervals"][offset:offset + grid.count]

    async def patience(self, queue: str, channel: str, before: float, configured: float | None = None) -> Patience:
        """A queue's patience: the configured one, else measured over the 4 weeks before `before`."""
        if configured:
            return Patience(configured, "configured")
        return await measured(self.query.store, queue, channel, before - PATIENCE_WEEKS * 7 * 86_400, before,
                              self.query.short_abandon)

    async def schedule(self, body: ScheduleBody, save: bool = True) -> dict[str, Any]:
        """Solve a week's schedule (the requirement given, or from each queue's newest forecast) and keep it."""
        step = 900 if body.interval == "15m" else 1800
        queues = body.queues or ["support"]
        if body.requirement:
            needs, models = body.requirement, {q: {"model": "given"} for q in body.requirement}
        else:
            details = [await self.requirement_detail(q, body.week, step, body.shrinkage, body.max_occupancy,
                                                     body.patience.get(q), body.channels) for q in queues]
            needs = {d["queue"]: d.pop("agents") for d in details}
            models = {d.pop("queue"): d for d in details}
        tz = self.query.zone_for(queues[0])
        carried, rested = await self._carried(body.week, step, tz, list(needs))
        async with self._cpu:
            result = await asyncio.to_thread(solve, body.week, step, needs, body.templates, body.agents, tz,
                                             body.seconds, 2, body.min_rest_hours, carried, rested)
        now = self.clock()
        result |= {"id": f"sc_{uuid.uuid4().hex[:16]}", "created": calendar.iso(now, tz), "requirement": models}
        if save:
            # the agents' contracts stay with it: the schedule editor checks edits against them
            await self.store.add_schedule({"_id": result["id"], "created_epoch": now, **result,
                                           "agents": [a.model_dump(mode="json") for a in body.agents],
                                           "min_rest_hours": body.min_rest_hours})
        return result

    async def _carried(self, week: str, step: int, tz: ZoneInfo,
                       queues: list[str]) -> tuple[dict[str, list[int]], dict[str, float]]:
        """What the previous week's schedule brings into this one: agents per queue and interval still working
        on shifts that cross into Monday, and each agent's last shift end (for the rest rule)."""
        grid = WeekGrid.of(week, step, tz)
        before = grid.monday - dt.timedelta(days=7)
        year, number, _ = before.isocalendar()
        doc = await self.store.schedule(f"{year}-W{number:02d}")
        carried = {q: [0] * grid.count for q in queues}
        rested: dict[str, float] = {}
        for shift in (doc or {}).get("shifts", []):
            end = dt.datetime.fromisoformat(shift["end"]).timestamp()
            rested[shift["agent"]] = max(end, rested.get(shift["agent"], end))
            if end <= grid.first or shift["queue"] not in carried:
                continue
            for act in shift["activities"]:
                if act["kind"] != "work":
                    continue
                lo = dt.datetime.fromisoformat(act["start"]).timestamp()
                hi = dt.datetime.fromisoformat(act["end"]).timestamp()
                for s in range(max(0, int((lo - grid.first) // step)), min(grid.count, math.ceil((hi - grid.first) / step))):
                    carried[shift["queue"]][s] += 1
        return carried, rested

    async def saved_schedule(self, week: str, agent: str = "") -> dict[str, Any] | None:
        """The newest schedule of a week (only one agent's shifts when `agent` is given)."""
        doc = await self.store.schedule(week)
        if doc is None:
            return None
        doc = {k: v for k, v in doc.items() if k not in ("_id", "created_epoch")}
        if agent:
            doc["shifts"] = [s for s in doc["shifts"] if s["agent"] == agent]
            doc["agents"] = [a for a in doc.get("agents", []) if a["id"] == agent]
        return doc

    async def _day(self, day: dt.date, tz: dt.tzinfo) -> tuple[float, float, dict[str, list[Activity]]]:
        """[start, end) of a local day and each scheduled agent's activities in it (from the week's schedule)."""
        start = dt.datetime.combine(day, dt.time(), tz).timestamp()
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).timestamp()
        year, week, _ = day.isocalendar()
        doc = await self.store.schedule(f"{year}-W{week:02d}")
        return start, end, day_plan(doc, day)

    async def _states(self, start: float, end: float) -> tuple[dict[str, str], dict[str, list[tuple[float, str]]]]:
        initial = {d["agent"]: d["to_state"] for d in await self.query.store.last_state_before(start)}
        changes: dict[str, list[tuple[float, str]]] = {}
        for d in await self.query.store.state_changes(start, end):
            changes.setdefault(d["agent"], []).append((float(d["time"]), d["to_state"]))
        return initial, changes

    async def adherence(self, day: dt.date, agent: str = "") -> dict[str, Any]:
        """Adherence and conformance per scheduled agent for a local day (up to now when it is today)."""
        tz = self.query.zone_for()
        start, end, plan = await self._day(day, tz)
        upto = min(end, self.clock())
        initial, changes = await self._states(start, upto)
        rows = []
        for who in sorted(plan):
            if agent and who != agent:
                continue
            acts = [a for a in plan[who] if a.start < upto]
            rows.append({"agent": who, **figures(acts, changes.get(who, []), initial.get(who, "OFFLINE"), start,
                                                 upto)})
        return {"day": day.isoformat(), "time_zone": tz.key, "agents": rows}

    async def alerts(self, threshold_seconds: float) -> list[dict[str, Any]]:
        """Agents out of adherence right now for more than the threshold."""
        tz = self.query.zone_for()
        now = self.clock()
        day = dt.datetime.fromtimestamp(now, tz).date()
        start, _end, plan = await self._day(day, tz)
        initial, changes = await self._states(start, now)
        out = []
        for who in sorted(plan):
            alert = out_of_adherence(plan[who], changes.get(who, []), initial.get(who, "OFFLINE"), start, now,
                                     threshold_seconds)
            if alert:
                out.append({"agent": who, "since": calendar.iso(float(alert["since"]), tz),
                            "minutes": round(float(alert["seconds"]) / 60, 1), "scheduled": alert["scheduled"],
                            "state": alert["state"]})
        return out

    async def intraday(self, queue: str, shrinkage: float = 0.0, max_occupancy: float = 0.85) -> dict[str, Any]:
        """Today's actual arrivals beside the forecast, the rest of today re-scaled by actual ÷ forecast so far,
        and the staffing gap (scheduled − required) per remaining interval."""
        tz = self.query.zone_for(queue)
        now = self.clock()
        today = dt.datetime.fromtimestamp(now, tz).date()
        start = dt.datetime.combine(today, dt.time(), tz).timestamp()
        doc = await self.store.latest_forecast(queue, "", start)
        if doc is None:
            raise ForecastError(f"no forecast of {queue} covers today; make one first "
                                f"(omnihub forecast --queue {queue})")
        step = int(doc["interval_seconds"])
        tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tz).timestamp()
        per_day = int((tomorrow - start) // step)  # 46 or 50 half-hours when the clocks change
        offset = int((start - doc["from"]) // step)
        rows = doc["intervals"][offset:offset + per_day]
        elapsed = max(0, min(per_day, int((now - start) // step)))
        actual = (await load_history(self.query.store, queue, "", start, start + elapsed * step, step)).arrivals
        planned_so_far = sum(r["arrivals"] for r in rows[:elapsed])
        # Too little seen yet says nothing: keep the forecast until 20 contacts were expected; bound the factor.
        factor = float(np.clip(actual.sum() / planned_so_far, 0.25, 4.0)) if planned_so_far >= 20 else 1.0
        rest = rows[elapsed:]
        target, threshold = self.query.targets.get(queue, (0.8, 20.0))
        known = await self.patience(queue, doc["channel"], float(doc["from"]))
        need = requirement([r["arrivals"] * factor for r in rest], [r["aht"] for r in rest], step, target,
                           threshold, shrinkage, max_occupancy, known.seconds or 0.0)
        year, week, _ = today.isocalendar()
        plan = await self.store.schedule(f"{year}-W{week:02d}")
        scheduled = {c["start"]: c["scheduled"] for c in (plan or {}).get("coverage", []) if c["queue"] == queue}
        out = []
        for i, r in enumerate(rows):
            row = {"start": r["start"], "forecast": r["arrivals"], "lower": r["lower"], "upper": r["upper"]}
            if i < elapsed:
                row["actual"] = float(actual[i])
            else:
                have = scheduled.get(dt.datetime.fromisoformat(r["start"]).isoformat(), 0)
                row |= {"reforecast": round(r["arrivals"] * factor, 2), "required": need[i - elapsed],
                        "scheduled": have, "gap": have - need[i - elapsed]}
            out.append(row)
        return {"queue": queue, "day": today.isoformat(), "interval_seconds": step, "forecast_id": doc["_id"],
                "factor": round(factor, 4), "actual_so_far": float(actual.sum()),
                "forecast_so_far": round(planned_so_far, 2), "schedule_id": (plan or {}).get("id"),
                "model": known.as_json()["model"], "patience_seconds": known.as_json()["patience_seconds"],
                "intervals": out}


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored forecast as the API shows it (id, ISO times)."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "from", "to")}
    tz = calendar.zone(doc.get("time_zone", "UTC"))
    return {**out, "id": doc["_id"], "created": calendar.iso(doc["created"], tz),
            "from": calendar.iso(doc["from"], tz), "to": calendar.iso(doc["to"], tz)}
