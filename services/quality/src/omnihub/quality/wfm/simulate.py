"""A day run from a forecast and a schedule: a seeded discrete-event queue (first come, first served) with the
scheduled agents per interval, reporting service level per interval beside the plan."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Sequence
from typing import Any


def run_day(arrivals: Sequence[float], aht: Sequence[float], agents: Sequence[int], step: int, threshold: float,
            seed: int = 1, patience: float = 0.0) -> list[dict[str, Any]]:
    """Per interval: offered (Poisson around the forecast), answered, answered within `threshold`, abandoned (with
    exponential patience when given), service level (answered within ÷ answered; None when nothing answered) and
    the agents on duty. Agents leaving at an interval's end finish the contact in hand first."""
    if not len(arrivals) == len(aht) == len(agents):
        raise ValueError("arrivals, aht and agents need one value per interval")
    rng = random.Random(seed)
    calls: list[tuple[float, float, int]] = []  # (arrival time, handle time, interval)
    for i, (rate, handle) in enumerate(zip(arrivals, aht, strict=True)):
        t, end = float(i * step), float((i + 1) * step)
        while rate > 0:
            t += rng.expovariate(rate / step)
            if t >= end:
                break
            calls.append((t, rng.expovariate(1 / max(handle, 1.0)), i))
    stats = [{"offered": 0, "answered": 0, "within": 0, "abandoned": 0} for _ in arrivals]
    free_at: list[float] = []  # when each busy agent is next free (a heap)
    for arrival, handle, i in calls:
        stats[i]["offered"] += 1
        # agents on duty at the arrival's interval; those beyond the headcount finish and are not replaced
        on_duty = agents[i]
        while len(free_at) > on_duty and free_at and free_at[0] <= arrival:
            heapq.heappop(free_at)
        if on_duty == 0:
            start = math.inf
        elif len(free_at) < on_duty:
            start = arrival
        else:
            start = max(arrival, heapq.heappop(free_at))
        # nobody on duty when it arrives: it is not answered (counted abandoned); else it may give up waiting
        wait = start - arrival
        if math.isinf(start) or (patience and wait > rng.expovariate(1 / patience)):
            stats[i]["abandoned"] += 1
            continue
        heapq.heappush(free_at, start + handle)
        stats[i]["answered"] += 1
        stats[i]["within"] += wait <= threshold
    out = []
    for i, s in enumerate(stats):
        sl = s["within"] / s["answered"] if s["answered"] else None
        out.append({"interval": i, "agents": agents[i], "forecast": round(arrivals[i], 2), **s,
                    "service_level": None if sl is None else round(sl, 4)})
    return out


def from_plan(forecast: dict[str, Any], schedule: dict[str, Any], day: str, queue: str, threshold: float,
              seed: int = 1) -> list[dict[str, Any]]:
    """Run `day` (YYYY-MM-DD) from a forecast and a schedule as the API and `--json` give them."""
    rows = [r for r in forecast["intervals"] if r["start"].startswith(day)]
    if not rows:
        raise ValueError(f"the forecast does not cover {day}")
    step = int(forecast["interval_seconds"])
    if int(schedule["interval_seconds"]) != step:
        raise ValueError("the forecast and the schedule must have the same interval")
    on_duty = {c["start"]: c["scheduled"] for c in schedule.get("coverage", []) if c["queue"] == queue}
    if not any(k.startswith(day) for k in on_duty):
        raise ValueError(f"the schedule has no coverage of {queue} on {day}")
    result = run_day([r["arrivals"] for r in rows], [r["aht"] for r in rows],
                     [on_duty.get(r["start"], 0) for r in rows], step, threshold, seed)
    for out, r in zip(result, rows, strict=True):
        out["start"] = r["start"]
    return result
