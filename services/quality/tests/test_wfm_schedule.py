"""Schedules with CP-SAT: coverage against the requirement, breaks, contracts, days off, too few agents."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from omnihub.quality.wfm.models import Agent, Pause, ShiftTemplate
from omnihub.quality.wfm.schedule import solve
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
