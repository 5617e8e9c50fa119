"""Workforce management questions answered from the rollups and kept in MongoDB (HTTP and CLI share it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from omnihub.quality import calendar
from omnihub.quality.queries import KpiQuery
from omnihub.quality.wfm.forecast import MAX_WEEKS_AHEAD, ForecastError, make_forecast, wape
from omnihub.quality.wfm.history import load_history
from omnihub.quality.wfm.models import ScheduleBody
from omnihub.quality.wfm.schedule import ScheduleError, solve, week_start
from omnihub.quality.wfm.staffing import requirement
from omnihub.quality.wfm.store import WfmStore

MAX_HISTORY_WEEKS = 26


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
        start = origin - history_weeks * 7 * 86_400
        history = await load_history(self.query.store, queue, channel, start, origin, step,
                                     self.holidays.get(queue, []), tz)
        horizon = weeks * 7 * 86_400 // step
        factors = {i: uplift[d] for i in range(horizon)
                   if uplift and (d := dt.datetime.fromtimestamp(origin + i * step, tz).date()) in uplift}
        async with self._cpu:
            result = await asyncio.to_thread(make_forecast, history, weeks, factors)
        doc = {"_id": f"fc_{uuid.uuid4().hex[:16]}", "queue": queue, "channel": channel, "created": now,
               "from": result.start, "to": result.start + horizon * step, "time_zone": tz.key,
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
                          max_occupancy: float = 0.85) -> list[int]:
        """Agents to schedule per interval of an ISO week from the newest forecast of the queue covering it."""
        tz = self.query.zone_for(queue)
        monday = week_start(week, tz)
        first = dt.datetime.combine(monday, dt.time(), tz).timestamp()
        per_week = 7 * 86_400 // step
        doc = await self.store.latest_forecast(queue, "", first)
        if doc is None or doc["interval_seconds"] != step or first + per_week * step > doc["to"]:
            raise ScheduleError(f"no {step // 60}-minute forecast of {queue} covers {week}; make one first "
                                f"(omnihub forecast --queue {queue} --weeks 2)")
        offset = int((first - doc["from"]) // step)
        rows = doc["intervals"][offset:offset + per_week]
        target, threshold = self.query.targets.get(queue, (0.8, 20.0))
        return requirement([r["arrivals"] for r in rows], [r["aht"] for r in rows], step, target, threshold,
                           shrinkage, max_occupancy)

    async def schedule(self, body: ScheduleBody, save: bool = True) -> dict[str, Any]:
        """Solve a week's schedule (the requirement given, or from each queue's newest forecast) and keep it."""
        step = 900 if body.interval == "15m" else 1800
        queues = body.queues or ["support"]
        needs = body.requirement or {q: await self.requirement(q, body.week, step, body.shrinkage,
                                                                body.max_occupancy) for q in queues}
        tz = self.query.zone_for(queues[0])
        async with self._cpu:
            result = await asyncio.to_thread(solve, body.week, step, needs, body.templates, body.agents, tz,
                                             body.seconds)
        now = self.clock()
        result |= {"id": f"sc_{uuid.uuid4().hex[:16]}", "created": calendar.iso(now, tz)}
        if save:
            await self.store.add_schedule({"_id": result["id"], "created_epoch": now, **result})
        return result

    async def saved_schedule(self, week: str, agent: str = "") -> dict[str, Any] | None:
        """The newest schedule of a week (only one agent's shifts when `agent` is given)."""
        doc = await self.store.schedule(week)
        if doc is None:
            return None
        doc = {k: v for k, v in doc.items() if k not in ("_id", "created_epoch")}
        if agent:
            doc["shifts"] = [s for s in doc["shifts"] if s["agent"] == agent]
        return doc


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored forecast as the API shows it (id, ISO times)."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "from", "to")}
    tz = calendar.zone(doc.get("time_zone", "UTC"))
    return {**out, "id": doc["_id"], "created": calendar.iso(doc["created"], tz),
            "from": calendar.iso(doc["from"], tz), "to": calendar.iso(doc["to"], tz)}
