"""Workforce management checks of #23: forecast accuracy on seeded synthetic weeks and a 40-agent weekly schedule.

Forecast: 8 weeks of 30-minute arrivals with a known daily and weekly shape plus Poisson noise; the model is chosen
on weeks 1-7 (backtest on week 7) and forecasts week 8. Passes when its WAPE on week 8 is at most seasonal naive's
(week 7 as the forecast) and at most 1.15x the WAPE of the true rates themselves.
Schedule: the requirement of a week (Erlang C planned at 90/20, occupancy <= 85 %, open 06:00-22:00) from a
forecast of 7 weeks of synthetic arrivals, 40 agents with
8-hour shifts (break and lunch windows), 6-hour ones (a break), 4- and 3-hour ones; passes when >= 95 % of the intervals that need agents are
covered and the agent-hours are at most 5 % above the LP lower bound. Solve time printed. Loop: the requirement
comes from a forecast of 7 weeks; the weekdays of week 8, with arrivals drawn around the true rates, run through
a queue simulation staffed by the schedule; passes when SL 80/20 is met in >= 85 % of the intervals. Then the same
through a real hub (`omnihub simulate --forecast --schedule`): Tuesday 08:00-12:00 of the forecast at 60x on SMS, the
scheduled agents logging in, taking breaks and logging out on time; passes at >= 85 % of the intervals (~5 minutes).

    python -m bench.wfm [--seeds 1,2,3] [--seconds 60] [--hub-hours 8-12|none] [--hub-speed 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from omnihub.quality.wfm import synthetic
from omnihub.quality.wfm.forecast import History, make_forecast, wape
from omnihub.quality.wfm.models import Agent, Pause, ShiftTemplate
from omnihub.quality.wfm.schedule import solve
from omnihub.quality.wfm.simulate import run_day
from omnihub.quality.wfm.staffing import requirement

STEP = 1800
PER_WEEK = 7 * 86_400 // STEP
PLAN_TARGET = 0.9  # the loop is judged at 80/20
OPEN = (6.0, 22.0)
REST_HOURS = 11.0  # between an agent's shifts (a 22:00 end allows no start before 09:00)


def forecast_check(seed: int) -> bool:
    y, rates = synthetic.arrivals(8, STEP, seed=seed)
    train = y[:-PER_WEEK]
    began = time.monotonic()
    result = make_forecast(History(0.0, STEP, train, train * 240.0, train.copy()), 1)
    took = time.monotonic() - began
    actual = y[-PER_WEEK:]
    chosen = wape(actual, result.arrivals)
    naive = wape(actual, train[-PER_WEEK:])
    truth = wape(actual, rates[-PER_WEEK:])
    ok = chosen <= naive and chosen <= 1.15 * truth
    backtests = ", ".join(f"{k} {v:.3f}" for k, v in result.backtests.items())
    print(f"seed {seed}: chosen {result.model:<20} week-8 WAPE {chosen:.3f}   seasonal naive {naive:.3f}   "
          f"true rates {truth:.3f}   ratio {chosen / truth:.3f}   {'PASS' if ok else 'FAIL'}   ({took:.1f}s; "
          f"backtest on week 7: {backtests})")
    return ok


def schedule_check(seconds: float, hub_hours: tuple[float, float] | None = None, hub_speed: float = 60.0) -> bool:
    y, true = synthetic.arrivals(8, STEP, peak=110.0, seed=4)
    train = y[:-PER_WEEK]
    fc = make_forecast(History(0.0, STEP, train, train * 240.0, train.copy()), 1)
    # Planned at 90/20 so that 80/20 holds interval by interval despite Poisson swings and forecast error; the
    # center is open 06:00-22:00 (a forecast's small night values would otherwise ask for night shifts).
    need = requirement(list(fc.arrivals), list(fc.aht), STEP, PLAN_TARGET, 20, max_occupancy=0.85)
    per_day = PER_WEEK // 7
    need = [n if OPEN[0] <= (i % per_day) * STEP / 3600 < OPEN[1] else 0 for i, n in enumerate(need)]
    templates = [
        ShiftTemplate(name="full", starts=[f"{h:02d}:{m:02d}" for h in range(6, 15) for m in (0, 30)][:-1], minutes=480,
                      breaks=[Pause(minutes=30, earliest=90, latest=150)], lunch=Pause(minutes=60, earliest=210,
                                                                                       latest=300)),
        ShiftTemplate(name="six", starts=[f"{h:02d}:{m:02d}" for h in range(6, 16) for m in (0, 30)], minutes=360,
                      breaks=[Pause(minutes=30, earliest=120, latest=210)]),
        ShiftTemplate(name="half", starts=[f"{h:02d}:{m:02d}" for h in range(6, 18) for m in (0, 30)], minutes=240),
        ShiftTemplate(name="short", starts=[f"{h:02d}:{m:02d}" for h in range(6, 19) for m in (0, 30)], minutes=180),
    ]
    agents = [Agent(id=f"agent{i:02d}", max_hours=40, max_days=5) for i in range(40)]
    began = time.monotonic()
    out = solve("2026-W50", STEP, {"support": need}, templates, agents, ZoneInfo("UTC"), seconds=seconds,
                min_rest_hours=REST_HOURS)
    took = time.monotonic() - began
    s, solver = out["summary"], out["solver"]
    ratio = s["agent_hours"] / s["lp_bound_hours"] if s["lp_bound_hours"] else float("inf")
    ok = s["coverage"] >= 0.95 and ratio <= 1.05
    print(f"requirement: peak {max(need)} agents, {s['required_agent_hours']:g} agent-hours on the phones; "
          f"{solver['variables']} shift variables")
    print(f"coverage {s['coverage']:.1%} of {s['intervals_needing_agents']} intervals "
          f"({s['uncovered_agent_intervals']} agent-intervals short)")
    print(f"agent-hours {s['agent_hours']:g}   LP lower bound {s['lp_bound_hours']}   ratio {ratio:.3f}   "
          f"{'PASS' if ok else 'FAIL'}")
    print(f"rest between shifts >= {REST_HOURS:g} h; shifts the counts could not hand out: {solver['unassigned_shifts']}")
    print(f"CP-SAT {solver['status']} objective {solver['objective']} bound {solver['best_bound']}; solve "
          f"{solver['wall_seconds']:.1f}s, with model building and the LP {took:.1f}s")
    # The loop: each weekday of week 8 with arrivals drawn around the TRUE rates, answered by the scheduled agents.
    on_duty = [c["scheduled"] for c in out["coverage"]]
    met = measured = 0
    for d in range(5):
        part = slice(d * per_day, (d + 1) * per_day)
        day = run_day(list(true[-PER_WEEK:][part]), [240.0] * per_day, on_duty[part], STEP, 20.0, seed=d + 1)
        sls = [r["service_level"] for r in day if r["service_level"] is not None]
        measured += len(sls)
        met += sum(v >= 0.8 for v in sls)
    loop_ok = measured > 0 and met / measured >= 0.85
    print(f"loop (forecast -> requirement -> schedule -> simulated weekdays at the true rates): SL 80/20 met in "
          f"{met} of {measured} intervals ({met / max(measured, 1):.1%}; pass >= 85 %)   "
          f"{'PASS' if loop_ok else 'FAIL'}")
    if hub_hours:
        loop_ok = hub_loop(fc.arrivals, fc.aht, out, hub_hours, hub_speed) and loop_ok
    return ok and loop_ok


def hub_loop(arrivals: np.ndarray, aht: np.ndarray, schedule: dict[str, Any], hours: tuple[float, float],
             speed: float) -> bool:
    """Tuesday's window of the forecast through a real hub (`omnihub simulate --forecast --schedule`): the
    scheduled agents log in, take their breaks and log out; passes when SL 80/20 is met in >= 85 % of the
    intervals that answered someone."""
    from omnihub.cli.sim.plan import day_plan, run_plan

    starts = [c["start"] for c in schedule["coverage"]]
    forecast = {"interval_seconds": STEP, "intervals": [
        {"start": t, "arrivals": round(float(a), 2), "aht": round(float(h), 1)}
        for t, a, h in zip(starts, arrivals, aht, strict=True)]}
    plan = day_plan(forecast, schedule, "2026-12-08", "support", hours)
    began = time.monotonic()
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    day = asyncio.run(run_plan(plan, "sms", 0.8, 20.0, speed, seed=5, progress=False))
    took = time.monotonic() - began
    cpu = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(
        resource.RUSAGE_CHILDREN).ru_utime - cpu
    print(f"through the hub: Tuesday {hours[0]:g}:00-{hours[1]:g}:00 at {speed:g}x on sms, {day['arrivals']} "
          f"customers, {day['answered']} answered, {len(plan.shifts)} scheduled agents; errors {day['errors'][:3]}")
    for r in day["intervals"]:
        sl = "-" if r["service_level"] is None else f"{r['service_level']:.0%}"
        print(f"  {r['start'][11:16]}  forecast {r['forecast']:6.1f}  required {r['required']:3}  scheduled "
              f"{r['scheduled']:3}  offered {r['offered']:4}  answered {r['answered']:4}  SL {sl:>5}")
    measured, met = day["intervals_measured"], day["intervals_meeting_target"]
    ok = measured > 0 and met / measured >= 0.85
    print(f"loop through the real hub: SL 80/20 met in {met} of {measured} intervals ({met / max(measured, 1):.1%}; "
          f"pass >= 85 %)   {'PASS' if ok else 'FAIL'}   ({took:.0f}s wall with the hub's start, this process' "
          f"and its reaped children's user CPU {cpu:.0f}s)")
    return ok


def main() -> None:
    """Run both checks; exit 1 when one fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--seconds", type=float, default=60.0, help="CP-SAT time limit")
    parser.add_argument("--only", choices=("forecast", "schedule"), default=None)
    parser.add_argument("--hub-hours", default="8-12",
                        help="Tuesday's hours run through a real hub after the schedule (FROM-TO; 'none': skip)")
    parser.add_argument("--hub-speed", type=float, default=60.0, help="time compression of the hub run")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = []
    if args.only != "schedule":
        print("Forecast: 8 weeks of 30-minute synthetic arrivals (daily + weekly shape, Poisson), week 8 held out")
        results += [forecast_check(int(s)) for s in args.seeds.split(",")]
    if args.only != "forecast":
        print("Schedule: one week, 30-minute requirement, 40 agents")
        lo, _, hi = args.hub_hours.partition("-")
        window = None if args.hub_hours == "none" else (float(lo), float(hi))
        results.append(schedule_check(args.seconds, window, args.hub_speed))
    print(f"load average {os.getloadavg()[0]:.1f}")
    raise SystemExit(0 if all(results) else 1)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
