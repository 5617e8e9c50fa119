"""Forecasts on the local clock across summer-time changes (Europe/Berlin 2026: 29 March, 25 October)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

from omnihub.quality.wfm.forecast import History, make_forecast
from omnihub.quality.wfm.localtime import from_local, horizon, to_local

BERLIN = ZoneInfo("Europe/Berlin")
STEP = 1800


def _midnight(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time(), BERLIN).timestamp()


def _history(first: dt.date, last: dt.date) -> History:
    """Real-time half-hours between two local midnights: 10 contacts at local 10:00-10:30, else 1; the hour
    that comes twice in autumn has 4 the first time and 6 the second."""
    start, end = _midnight(first), _midnight(last)
    values = []
    for i in range(int((end - start) // STEP)):
        local = dt.datetime.fromtimestamp(start + i * STEP, BERLIN)
        if local.hour == 10 and local.minute == 0:
            values.append(10.0)
        elif local.date() == dt.date(2026, 10, 25) and local.hour == 2:
            values.append(4.0 if local.utcoffset() == dt.timedelta(hours=2) else 6.0)
        else:
            values.append(1.0)
    y = np.array(values)
    return History(start, STEP, y, y * 200.0, y.copy())


def test_the_hour_that_comes_twice_is_averaged_and_the_skipped_one_filled() -> None:
    autumn = _history(dt.date(2026, 10, 19), dt.date(2026, 10, 26))
    assert len(autumn.arrivals) == 7 * 48 + 2  # a 25-hour Sunday
    local = to_local(autumn, BERLIN)
    assert len(local.arrivals) == 7 * 48 and list(local.arrivals[6 * 48 + 4:6 * 48 + 6]) == [5.0, 5.0]
    assert all(local.arrivals[d * 48 + 20] == 10.0 for d in range(7))  # 10:00 stays 10:00 every day
    assert local.holidays is not None and not local.holidays.any()
    spring = to_local(_history(dt.date(2026, 3, 23), dt.date(2026, 3, 30)), BERLIN)
    assert spring.holidays is not None and list(np.flatnonzero(spring.holidays)) == [6 * 48 + 4, 6 * 48 + 5]
    assert spring.arrivals[6 * 48 + 20] == 10.0


def test_a_forecast_week_with_a_25_hour_sunday_keeps_the_peak_on_the_clock() -> None:
    history = to_local(_history(dt.date(2026, 9, 28), dt.date(2026, 10, 19)), BERLIN)  # three ordinary weeks
    origin = _midnight(dt.date(2026, 10, 19))
    local = make_forecast(history, 1, models={})  # seasonal naive: the last week again, on the clock
    result = from_local(local, origin, 1, BERLIN)
    assert result.start == origin and len(result.arrivals) == horizon(origin, 1, STEP, BERLIN) == 338
    rows = result.as_json(BERLIN)["intervals"]
    peaks = [r["start"] for r in rows if r["arrivals"] == 10.0]
    assert peaks == [f"2026-10-{d}T10:00:00+0{2 if d < 25 else 1}:00" for d in range(19, 26)]
    sunday = [r for r in rows if r["start"].startswith("2026-10-25")]
    assert len(sunday) == 50  # 02:00 and 02:30 twice, once in summer time, once in winter time
