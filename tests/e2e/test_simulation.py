"""A seeded simulation through the real hub on every channel: nothing lost, abandonment counted.

The model checks (service level against Erlang C, routing strategies compared) run minutes each and live in
bench/simulation.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omnihub.cli.sim import model
from omnihub.cli.sim.plan import day_plan, run_plan
from omnihub.cli.sim.runner import run

pytestmark = pytest.mark.slow


async def test_every_channel_with_abandonment_loses_nothing(tmp_path: Path) -> None:
    sc = model.Scenario(
        queues=(model.QueueSpec("support"), model.QueueSpec("sales", threshold_seconds=30)),
        agents=(model.AgentGroup("sup", 3, ("support",)), model.AgentGroup("sal", 2, ("sales",))),
        streams=(model.Stream("support", "voice", 1.2, 150, patience_seconds=40),
                 model.Stream("support", "webchat", 1.0, 120, patience_seconds=40),
                 model.Stream("support", "email", 0.4, 120),
                 model.Stream("sales", "sms", 0.8, 60),
                 model.Stream("sales", "telegram", 0.8, 60),
                 model.Stream("sales", "whatsapp", 0.5, 60),
                 model.Stream("sales", "wechat", 0.5, 60)),
        minutes=6, speed=40, seed=3, interval_minutes=3, name="every channel")
    result = await run(sc, tmp_path, progress=False)
    (only,) = result["runs"]
    people = model.customers(sc)
    assert {c.stream.channel for c in people} == {"voice", "webchat", "email", "sms", "telegram", "whatsapp", "wechat"}
    assert only["lost_or_duplicated"] == 0, only["problems"]
    assert only["conversations"] == only["arrivals"] == len(people) and not only["errors"]
    # every customer who was answered on a text channel received the agent's reply on that channel
    assert only["replies_expected"] > 0 and only["replies_delivered"] == only["replies_expected"]
    # the overloaded support queue loses impatient callers and visitors, and quality counts them
    support, sales = only["queues"]
    assert only["abandoned_customers"] > 0
    assert abs(support["measured"]["abandoned"] - only["abandoned_customers"]) <= 1
    assert sales["measured"]["abandoned"] == 0
    handled = support["measured"]["handled"] + sales["measured"]["handled"]
    assert abs(handled - only["answered_customers"]) <= 1
    assert support["predicted"]["model"] == "erlang_c" and support["predicted"]["overloaded"]
    page = (tmp_path / "report.html").read_text()  # the report a person reads: charts and the model named
    assert page.count("<svg") >= 2 and "Erlang C" in page and "every channel" in page


def _plan_files() -> tuple[dict[str, Any], dict[str, Any]]:
    """Half an hour of 15-minute forecast intervals and four shifts: one all along, one with a break in the second
    interval, one ending after the first, one starting with the second."""
    rows = [{"start": f"2026-12-07T{h:02d}:{m:02d}:00+00:00", "arrivals": 8.0 if h == 9 else 0.0, "aht": 120.0}
            for h in range(24) for m in (0, 15, 30, 45)]

    def shift(agent: str, *spans: tuple[str, str, str]) -> dict[str, Any]:
        acts = [{"kind": k, "start": f"2026-12-07T{a}:00+00:00", "end": f"2026-12-07T{b}:00+00:00"}
                for k, a, b in spans]
        return {"agent": agent, "queue": "support", "date": "2026-12-07", "start": acts[0]["start"],
                "end": acts[-1]["end"], "activities": acts}

    shifts = [shift("ann", ("work", "08:00", "12:00")),
              shift("ben", ("work", "08:00", "09:15"), ("break", "09:15", "09:30"), ("work", "09:30", "12:00")),
              shift("cat", ("work", "06:00", "09:15")), shift("dan", ("work", "09:15", "13:00"))]
    coverage = [{"queue": "support", "start": r["start"], "required": 2 if r["arrivals"] else 0, "scheduled": 3}
                for r in rows]
    return {"interval_seconds": 900, "intervals": rows}, {"interval_seconds": 900, "shifts": shifts,
                                                         "coverage": coverage}


async def test_a_planned_half_hour_runs_through_the_hub_with_agents_on_their_schedule() -> None:
    forecast, schedule = _plan_files()
    plan = day_plan(forecast, schedule, "2026-12-07", "support", (9.0, 9.5))
    assert [r["start"][11:16] for r in plan.rows] == ["09:00", "09:15"]
    result = await run_plan(plan, "sms", 0.8, 20.0, speed=150, seed=3, progress=False)
    assert not result["errors"] and result["hub"]
    first, second = result["intervals"]
    assert (first["forecast"], first["required"], first["scheduled"]) == (8.0, 2, 3)
    assert first["offered"] + second["offered"] == result["arrivals"] > 0  # every customer reached the router
    assert first["answered"] + second["answered"] == result["answered"]
    # the router saw each agent as scheduled: ben away at minute 15, cat gone at 15, dan there from 15 only
    states = result["states"]
    away = [m for m, s in states["ben"] if s == "AWAY"]
    assert len(away) == 1 and 14 <= away[0] <= 17
    assert states["cat"][-1][1] == "OFFLINE" and 14 <= states["cat"][-1][0] <= 25  # after the contact in hand
    assert states["dan"][0][1] == "AVAILABLE" and 14 <= states["dan"][0][0] <= 17
    assert not [s for _m, s in states["ann"] if s in ("AWAY", "OFFLINE")]
