"""Observed traffic of a queue and channel per interval, read from the 15-minute rollups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np

from omnihub.quality.store import QualityStore
from omnihub.quality.wfm.forecast import History


def holiday_mask(start: float, step: int, count: int, holidays: Iterable[dt.date], tz: dt.tzinfo) -> np.ndarray:
    """True for the intervals whose local date is a holiday."""
    days = set(holidays)
    if not days:
        return np.zeros(count, bool)
    return np.array([dt.datetime.fromtimestamp(start + i * step, tz).date() in days for i in range(count)])


async def load_history(store: QualityStore, queue: str, channel: str, start: float, end: float, step: int,
                       holidays: Iterable[dt.date] = (), tz: dt.tzinfo = dt.UTC) -> History:
    """Arrivals (offered), handle time and handled contacts per `step` in [start, end) of a queue (every queue
    when empty) and channel (every channel when empty)."""
    count = int((end - start) // step)
    arrivals, seconds, handled = np.zeros(count), np.zeros(count), np.zeros(count)
    for ch, _name, t, counters in await store.buckets("s", "q", start, end, queue):
        if channel and ch != channel:
            continue
        i = int((t - start) // step)
        if 0 <= i < count:
            arrivals[i] += counters.get("offered", 0)
            seconds[i] += counters.get("handle_ms", 0) / 1000.0
            handled[i] += counters.get("handled", 0)
    return History(start, step, arrivals, seconds, handled, holiday_mask(start, step, count, holidays, tz))
