"""Schedules with CP-SAT: coverage against the requirement, breaks, contracts, days off, too few agents."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from omnihub.quality.wfm.models import Agent, Pause, ShiftTemplate
from omnihub.quality.wfm.schedule import ScheduleError, WeekGrid, solve
from omnihub.quality.wfm.staffing import requirement

STEP = 3600 * 2  # two-hour slots keep the model tiny; the maths does not care
PER_DAY = 12
UTC = ZoneInfo("UTC")
SHIFT = ShiftTemplate(name="day", starts=["08:00", "10:00"], minutes=480,
                      lunch=Pause(minutes=120, earliest=240, latest=240))


def _week(day: list[int]) -> list[int]:
    return day * 5 + [0] * PER_DAY * 2


def test_a_feasible_week_is_covered_with_lunches_inside_their_window_and_no_waste() -> None:
    need = _week([0, 0, 0, 0, 1, 2, 1, 1, 1, 0, 0, 0])  # 08-10 one, 10-12 two, 12-18 one (lunches apart)
    agents = [Agent(id=f"a{i}", max_hours=40, max_days=5) for i in range(3)]
    out = solve("2026-W50", STEP, {"support": need}, [SHIFT], agents, UTC, seconds=10)
    summary = out["summary"]
    assert out["solver"]["status"] == "OPTIMAL" and out["uncovered"] == []
    assert summary["coverage"] == 1.0 and summary["lp_bound_hours"] == 80.0  # 2 shifts a weekday
    assert summary["agent_hours"] == 80.0 and summary["hours_over_lp_bound"] == 0.0
    first = out["shifts"][0]
    assert first["date"] == "2026-12-07" and [a["kind"] for a in first["activities"]] == ["work", "lunch", "work"]
    lunch = first["activities"][1]
    assert lunch["start"][11:16] in ("12:00", "14:00")  # four hours after an 08:00 or 10:00 start
    assert sum(1 for c in out["coverage"] if c["scheduled"] > c["required"]) == 0


def test_too_few_agents_give_the_best_schedule_and_list_what_is_uncovered() -> None:
    need = _week([0, 0, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0])
    agents = [Agent(id="solo", max_hours=40, max_days=5, days_off=["fri"])]
    out = solve("2026-W50", STEP, {"support": need}, [SHIFT], agents, UTC, seconds=10)
    assert out["solver"]["status"] == "OPTIMAL"
    assert {s["date"] for s in out["shifts"]} == {"2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10"}
    assert out["summary"]["uncovered_agent_intervals"] == 5 * 12 - 4 * 3  # 3 of 12 per worked day, all of Friday
    friday = [u for u in out["uncovered"] if u["start"].startswith("2026-12-11")]
    assert [u["missing"] for u in friday] == [3, 3, 3, 3]


def test_skills_and_availability_decide_who_covers_what() -> None:
    sales = _week([0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0])  # a 10:00 start, lunch 14-16
    support = _week([0, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0])  # an 08:00 start, lunch 12-14
    agents = [Agent(id="s1", skills=["sales"]), Agent(id="p1", skills=["support"], availability={
        d: "07:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")})]  # no 10:00-18:00 shift for p1
    out = solve("2026-W50", STEP, {"sales": sales, "support": support}, [SHIFT], agents, UTC, seconds=10)
    assert out["uncovered"] == []
    assert {(s["agent"], s["queue"]) for s in out["shifts"]} == {("s1", "sales"), ("p1", "support")}
    assert {(s["agent"], s["start"][11:16]) for s in out["shifts"]} == {("s1", "10:00"), ("p1", "08:00")}


def test_requirement_from_a_forecast_uses_erlang_c_shrinkage_and_the_occupancy_cap() -> None:
    assert requirement([100.0, 0.0], [180.0, 180.0], 1800, 0.8, 20, shrinkage=0.3, max_occupancy=1.0) == [20, 0]
    assert requirement([2.0], [180.0], 1800, 0.8, 20, max_occupancy=0.09) == [3]  # 0.2 Erlangs: two are 10 % busy


BERLIN = ZoneInfo("Europe/Berlin")
HALF = 1800


def test_a_berlin_dst_week_has_the_intervals_its_days_really_have() -> None:
    spring, autumn, plain = (WeekGrid.of(w, HALF, BERLIN) for w in ("2026-W13", "2026-W43", "2026-W50"))
    assert (spring.count, autumn.count, plain.count) == (334, 338, 336)  # Sunday 23 hours, Sunday 25 hours
    assert spring.days == (0, 48, 96, 144, 192, 240, 288, 334)
    assert spring.slot(6, 150) is None  # 02:30 on 29 March 2026 does not exist in Berlin
    # a four-hour shift from 01:00 on the spring Sunday ends at 06:00 summer time: four real hours
    need = [0] * 334
    first = spring.slot(6, 60)
    assert first == 290
    need[first:first + 8] = [1] * 8
    template = ShiftTemplate(name="early", starts=["01:00", "02:30"], minutes=240)
    out = solve("2026-W13", HALF, {"support": need}, [template], [Agent(id="a")], BERLIN, seconds=5)
    assert out["intervals"] == 334 and out["uncovered"] == []
    (shift,) = out["shifts"]
    assert (shift["start"], shift["end"]) == ("2026-03-29T01:00:00+01:00", "2026-03-29T06:00:00+02:00")
    starts = [c["start"] for c in out["coverage"]][first + 1:first + 3]
    assert starts == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00"]
    with pytest.raises(ScheduleError, match=r"needs 334 values \(one per interval of 2026-W13 in Europe/Berlin\)"):
        solve("2026-W13", HALF, {"support": [0] * 336}, [template], [Agent(id="a")], BERLIN)
    # in autumn 02:00-03:00 comes twice: both hours are intervals of the week
    times = [autumn.at(s) for s in range(autumn.days[6], autumn.days[7])]
    assert len(times) == 50 and "2026-10-25T02:00:00+02:00" in times and "2026-10-25T02:00:00+01:00" in times


def test_night_shifts_cross_midnight_and_the_week_end() -> None:
    need = [0] * 336
    for day in range(7):  # 22:00-06:00 every night; Sunday's night runs into the next week
        need[day * 48 + 44:day * 48 + 60] = [1] * 16
    need = need[:336]
    night = ShiftTemplate(name="night", starts=["22:00"], minutes=480)
    agents = [Agent(id=f"n{i}", max_days=4) for i in range(2)]
    out = solve("2026-W50", HALF, {"support": need}, [night], agents, UTC, seconds=5, min_rest_hours=11)
    assert out["uncovered"] == [] and len(out["shifts"]) == 7
    monday = next(s for s in out["shifts"] if s["date"] == "2026-12-07")
    assert (monday["start"], monday["end"]) == ("2026-12-07T22:00:00+00:00", "2026-12-08T06:00:00+00:00")
    sunday = next(s for s in out["shifts"] if s["date"] == "2026-12-13")
    assert sunday["end"] == "2026-12-14T06:00:00+00:00" and out["summary"]["agent_hours"] == 56.0
    # but Monday 00:00-06:00 needs last week's Sunday night: without it nobody is there
    early = [1] * 12 + [0] * 324
    alone = solve("2026-W50", HALF, {"support": early}, [night], agents, UTC, seconds=5)
    assert alone["summary"]["uncovered_agent_intervals"] == 12
    carried = solve("2026-W50", HALF, {"support": early}, [night], agents, UTC, seconds=5,
                    carried={"support": [1] * 12 + [0] * 324})
    assert carried["uncovered"] == [] and carried["shifts"] == [] and carried["coverage"][0]["scheduled"] == 1


def test_the_rest_between_two_shifts_is_kept() -> None:
    need = [0] * 336
    need[28:44] = [1] * 16  # Monday 14:00-22:00
    need[60:76] = [1] * 16  # Tuesday 06:00-14:00: 8 hours after Monday's late shift
    day = ShiftTemplate(name="day", starts=["06:00", "14:00"], minutes=480)
    one = [Agent(id="solo")]
    tight = solve("2026-W50", HALF, {"support": need}, [day], one, UTC, seconds=5, min_rest_hours=11)
    assert len(tight["shifts"]) == 1 and tight["summary"]["uncovered_agent_intervals"] == 16
    assert tight["solver"]["min_rest_hours"] == 11
    loose = solve("2026-W50", HALF, {"support": need}, [day], one, UTC, seconds=5, min_rest_hours=8)
    assert len(loose["shifts"]) == 2 and loose["uncovered"] == []
    # alike agents are solved as counts: the rest rule holds for each of them once handed out
    twins = [Agent(id=f"t{i}") for i in range(2)]
    both = solve("2026-W50", HALF, {"support": [2 * n for n in need]}, [day], twins, UTC, seconds=5,
                 min_rest_hours=11)
    assert both["summary"]["uncovered_agent_intervals"] == 32 and both["solver"]["unassigned_shifts"] == 0
    shifts = sorted(both["shifts"], key=lambda s: (s["agent"], s["start"]))
    for a, b in itertools.pairwise(shifts):
        if a["agent"] == b["agent"]:
            gap = dt.datetime.fromisoformat(b["start"]) - dt.datetime.fromisoformat(a["end"])
            assert gap >= dt.timedelta(hours=11)
    # a night shift and an early start the next day never overlap, even without a rest rule
    night = ShiftTemplate(name="night", starts=["22:00"], minutes=480)
    early = ShiftTemplate(name="early", starts=["05:00"], minutes=240)
    need = [0] * 336
    need[44:60] = [1] * 16
    need[58:66] = [1] * 8
    out = solve("2026-W50", HALF, {"support": need}, [night, early], one, UTC, seconds=5)
    assert len(out["shifts"]) == 1


def test_the_previous_week_s_last_shift_delays_the_first_start() -> None:
    need = [0] * 336
    need[12:28] = [1] * 16  # Monday 06:00-14:00
    day = ShiftTemplate(name="day", starts=["06:00"], minutes=480)
    monday = dt.datetime(2026, 12, 7, tzinfo=dt.UTC).timestamp()
    rested = solve("2026-W50", HALF, {"support": need}, [day], [Agent(id="a")], UTC, seconds=5, min_rest_hours=11,
                   rested={"a": monday})  # worked until Sunday midnight: not before 11:00
    assert rested["shifts"] == [] and rested["summary"]["uncovered_agent_intervals"] == 16
    fresh = solve("2026-W50", HALF, {"support": need}, [day], [Agent(id="a")], UTC, seconds=5, min_rest_hours=11,
                  rested={"a": monday - 11 * 3600})
    assert len(fresh["shifts"]) == 1
