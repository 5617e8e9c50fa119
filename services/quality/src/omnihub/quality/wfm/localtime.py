"""Forecasting on the local clock: real-time intervals to local-time slots and back, so that the weekly pattern
stays on the clock across a change of summer time (a 23-hour day misses slots, a 25-hour day has one hour twice)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from omnihub.quality.wfm.forecast import Forecast, History


def _slot(t: float, first: dt.date, step: int, tz: dt.tzinfo) -> int:
    local = dt.datetime.fromtimestamp(t, tz)
    return (local.date() - first).days * (86_400 // step) + (local.hour * 3600 + local.minute * 60) // step


def to_local(history: History, tz: dt.tzinfo) -> History:
    """The history on local-time slots (whole local days from its start, a local midnight): the hour that comes
    twice is averaged, the skipped hour is marked like a holiday (filled from a neighbouring week, out of the
    backtest)."""
    step = history.step
    first = dt.datetime.fromtimestamp(history.start, tz).date()
    count = len(history.arrivals)
    last = dt.datetime.fromtimestamp(history.start + count * step - 1, tz).date()
    size = ((last - first).days + 1) * history.per_day if count else 0
    arrivals, seconds, handled, hits = np.zeros(size), np.zeros(size), np.zeros(size), np.zeros(size)
    holidays = np.zeros(size, bool)
    for i in range(count):
        j = _slot(history.start + i * step, first, step, tz)
        arrivals[j] += history.arrivals[i]
        seconds[j] += history.handle_seconds[i]
        handled[j] += history.handled[i]
        hits[j] += 1
        if history.holidays is not None and history.holidays[i]:
            holidays[j] = True
    seen = np.maximum(hits, 1)
    holidays |= hits == 0
    return History(history.start, step, arrivals / seen, seconds / seen, handled / seen, holidays)


def horizon(origin: float, weeks: int, step: int, tz: dt.tzinfo) -> int:
    """Real-time intervals from a local midnight to the local midnight `weeks` weeks later."""
    first = dt.datetime.fromtimestamp(origin, tz).date()
    end = dt.datetime.combine(first + dt.timedelta(days=7 * weeks), dt.time(), tz).timestamp()
    return int((end - origin) // step)


def from_local(forecast: Forecast, origin: float, weeks: int, tz: dt.tzinfo) -> Forecast:
    """A forecast made on local-time slots from the local midnight `origin`, as real-time intervals from it (the
    hour that comes twice takes its slot's values twice, the skipped hour is left out)."""
    step = forecast.step
    first = dt.datetime.fromtimestamp(origin, tz).date()
    index = np.array([_slot(origin + i * step, first, step, tz) for i in range(horizon(origin, weeks, step, tz))],
                     dtype=int)
    return dataclasses.replace(forecast, start=origin, arrivals=forecast.arrivals[index],
                               lower=forecast.lower[index], upper=forecast.upper[index], aht=forecast.aht[index])
