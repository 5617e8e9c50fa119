"""The center's calendar: local days, ISO weeks and months in an IANA time zone (DST included), ISO 8601 keys."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SLOT = 900  # rollup interval: 15 minutes (every time zone's offset is a multiple of it)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA name; ValueError for an unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai") from None


def _local(t: float, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz)


def _midnight(d: dt.date, tz: ZoneInfo) -> float:
    """The first instant of local date `d` (a midnight skipped by DST starts when the day does)."""
    return dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()


@lru_cache(maxsize=200_000)
def day_start(t: float, tz: ZoneInfo) -> float:
    """Start of the local day holding `t`."""
    return _midnight(_local(t, tz).date(), tz)


def next_day(day: float, tz: ZoneInfo) -> float:
    """Start of the local day after the one starting at `day` (23, 24 or 25 hours later)."""
    return _midnight(_local(day, tz).date() + dt.timedelta(days=1), tz)


def week_start(t: float, tz: ZoneInfo) -> float:
    """Start of the ISO week (Monday, local midnight) holding `t`."""
    d = _local(t, tz).date()
    return _midnight(d - dt.timedelta(days=d.weekday()), tz)


def month_start(t: float, tz: ZoneInfo) -> float:
    """Start of the local month holding `t`."""
    return _midnight(_local(t, tz).date().replace(day=1), tz)


def next_week(week: float, tz: ZoneInfo) -> float:
    """Start of the ISO week after the one starting at `week`."""
    return _midnight(_local(week, tz).date() + dt.timedelta(days=7), tz)


def next_month(month: float, tz: ZoneInfo) -> float:
    """Start of the month after the one starting at `month`."""
    d = _local(month, tz).date()
    return _midnight(dt.date(d.year + d.month // 12, d.month % 12 + 1, 1), tz)


def period(name: str, now: float, tz: ZoneInfo) -> tuple[float, float]:
    """[from, to) of 'today', 'yesterday', 'week' (ISO, from Monday), 'last_week', 'month' or 'last_month'."""
    if name in ("today", "yesterday"):
        start = day_start(now, tz)
        return (start, next_day(start, tz)) if name == "today" else (day_start(start - 1, tz), start)
    if name in ("week", "last_week"):
        start = week_start(now, tz)
        return (start, next_week(start, tz)) if name == "week" else (week_start(start - 1, tz), start)
    if name in ("month", "last_month"):
        start = month_start(now, tz)
        return (start, next_month(start, tz)) if name == "month" else (month_start(start - 1, tz), start)
    raise ValueError(f"unknown period {name!r}; use today, yesterday, week, last_week, month or last_month")


PERIODS = ("today", "yesterday", "week", "last_week", "month", "last_month")


@lru_cache(maxsize=200_000)
def iso(t: float, tz: ZoneInfo) -> str:
    """ISO 8601 with the local offset, e.g. 2026-12-03T00:00:00+08:00."""
    return _local(t, tz).isoformat()


@lru_cache(maxsize=200_000)
def bucket(t: float, width: str, tz: ZoneInfo) -> float:
    """Start of the local 15m/30m/1h interval, day or month holding `t`."""
    if width == "day":
        return day_start(t, tz)
    if width == "month":
        return month_start(t, tz)
    minutes = {"15m": 15, "30m": 30, "1h": 60}[width]
    local = _local(t, tz)
    return local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0).timestamp()


def parse(value: str, tz: ZoneInfo) -> float:
    """ISO 8601 (a time without an offset is local to `tz`) or epoch seconds; ValueError otherwise."""
    try:
        seconds = float(value)
    except ValueError:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        seconds = parsed.timestamp()
    if not 0 <= seconds < 1e11:  # also refuses nan and infinities
        raise ValueError(f"bad time {value!r}: it must be finite and after 1970")
    return seconds
