"""The center's calendar: local today and week, DST days, ISO keys with offsets."""

from __future__ import annotations

import datetime as dt

import pytest

from omnihub.quality import calendar


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_shanghai_today_starts_at_16_utc_the_day_before() -> None:
    tz = calendar.zone("Asia/Shanghai")
    start, end = calendar.period("today", utc("2026-12-03T03:00:00"), tz)  # 11:00 in Shanghai
    assert start == utc("2026-12-02T16:00:00") and end == utc("2026-12-03T16:00:00")
    assert calendar.iso(start, tz) == "2026-12-03T00:00:00+08:00"
    late = calendar.period("today", utc("2026-12-03T17:00:00"), tz)  # 01:00 the next local day
    assert late[0] == utc("2026-12-03T16:00:00")


def test_iso_week_starts_on_local_monday() -> None:
    tz = calendar.zone("Asia/Shanghai")
    start, end = calendar.period("week", utc("2026-12-03T03:00:00"), tz)  # a Thursday
    assert calendar.iso(start, tz) == "2026-11-30T00:00:00+08:00" and end - start == 7 * 86400
    last = calendar.period("last_week", utc("2026-12-03T03:00:00"), tz)
    assert last == (start - 7 * 86400, start)


def test_berlin_dst_days_are_23_and_25_hours() -> None:
    tz = calendar.zone("Europe/Berlin")
    spring = calendar.day_start(utc("2026-03-29T12:00:00"), tz)
    assert calendar.next_day(spring, tz) - spring == 23 * 3600
    autumn = calendar.day_start(utc("2026-10-25T12:00:00"), tz)
    assert calendar.next_day(autumn, tz) - autumn == 25 * 3600
    assert calendar.iso(spring, tz) == "2026-03-29T00:00:00+01:00"
    assert calendar.iso(calendar.next_day(spring, tz), tz) == "2026-03-30T00:00:00+02:00"
    # the hour after the clocks go back: both 02:00-03:00 hours are their own buckets
    first = calendar.bucket(utc("2026-10-25T00:30:00"), "1h", tz)
    second = calendar.bucket(utc("2026-10-25T01:30:00"), "1h", tz)
    assert second - first == 3600 and calendar.iso(first, tz) != calendar.iso(second, tz)


def test_months_and_parsing() -> None:
    tz = calendar.zone("Asia/Shanghai")
    start, end = calendar.period("month", utc("2026-12-31T17:00:00"), tz)  # already January 1st in Shanghai
    assert calendar.iso(start, tz) == "2027-01-01T00:00:00+08:00" and calendar.iso(end, tz) == "2027-02-01T00:00:00+08:00"
    assert calendar.parse("2026-12-03T00:00:00", tz) == utc("2026-12-02T16:00:00")  # no offset: local
    assert calendar.parse("2026-12-03T00:00:00Z", tz) == utc("2026-12-03T00:00:00")
    with pytest.raises(ValueError):
        calendar.parse("yesterday-ish", tz)
    with pytest.raises(ValueError):
        calendar.zone("Mars/Olympus")
    with pytest.raises(ValueError):
        calendar.period("fortnight", 0, tz)
