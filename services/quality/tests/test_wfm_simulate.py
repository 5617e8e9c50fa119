"""The day simulation from a forecast and a schedule: seeded, staffing decides the service level."""

from __future__ import annotations

import pytest

from omnihub.quality.wfm.simulate import from_plan, run_day


def test_plenty_of_agents_answer_everything_at_once_and_too_few_do_not() -> None:
    plenty = run_day([20.0, 20.0], [180.0, 180.0], [30, 30], 1800, 20.0, seed=3)
    assert [r["service_level"] for r in plenty] == [1.0, 1.0]
    assert sum(r["offered"] for r in plenty) == sum(r["answered"] for r in plenty) > 20
    short = run_day([20.0, 20.0], [180.0, 180.0], [1, 1], 1800, 20.0, seed=3)
    assert short[1]["service_level"] is not None and short[1]["service_level"] < 0.3
    assert run_day([20.0, 20.0], [180.0, 180.0], [1, 1], 1800, 20.0, seed=3) == short  # seeded
    nobody = run_day([5.0], [180.0], [0], 1800, 20.0, seed=1)
    assert nobody[0]["answered"] == 0 and nobody[0]["abandoned"] == nobody[0]["offered"]
    assert nobody[0]["service_level"] is None


def test_a_day_runs_from_the_forecast_and_schedule_documents() -> None:
    forecast = {"interval_seconds": 1800, "intervals": [
        {"start": f"2026-12-07T{h:02d}:{m}:00+00:00", "arrivals": 10.0, "aht": 120.0}
        for h in range(24) for m in ("00", "30")]}
    schedule = {"interval_seconds": 1800, "coverage": [
        {"queue": "support", "start": f"2026-12-07T{h:02d}:{m}:00+00:00", "scheduled": 4 if 8 <= h < 18 else 0,
         "required": 3} for h in range(24) for m in ("00", "30")]}
    day = from_plan(forecast, schedule, "2026-12-07", "support", 20.0)
    assert len(day) == 48 and day[16]["start"] == "2026-12-07T08:00:00+00:00" and day[16]["agents"] == 4
    assert all(r["service_level"] is None for r in day[:15])  # nobody on duty at night
    assert sum(r["service_level"] is not None and r["service_level"] >= 0.8 for r in day[17:36]) >= 17
    with pytest.raises(ValueError, match="does not cover 2026-12-08"):
        from_plan(forecast, schedule, "2026-12-08", "support", 20.0)
    with pytest.raises(ValueError, match="no coverage of sales"):
        from_plan(forecast, schedule, "2026-12-07", "sales", 20.0)
