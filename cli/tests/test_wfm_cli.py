"""`omnihub forecast` and `omnihub schedule` against a real quality store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from omnihub.cli.main import app


@pytest.fixture
def quality_env(mongo_url: str, mongo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OMNIHUB_MONGO_URL", mongo_url)
    monkeypatch.setenv("OMNIHUB_QUALITY_DB", mongo_db)
    monkeypatch.setenv("OMNIHUB_CONFIG_DIR", str(tmp_path))
    return tmp_path


def test_forecast_without_history_says_how_much_is_needed(quality_env: Path) -> None:
    result = CliRunner().invoke(app, ["forecast", "--queue", "support", "--weeks", "2"])
    assert result.exit_code == 2 and "at least 3 weeks of history" in result.output
    bad = CliRunner().invoke(app, ["forecast", "--uplift", "christmas"])
    assert bad.exit_code == 2 and "DATE=FACTOR" in bad.output


def test_schedule_prints_coverage_and_bounds_and_lists_what_is_uncovered(quality_env: Path) -> None:
    need = [0] * 336
    need[18:22] = [1, 1, 1, 1]  # Monday 09:00-11:00: one agent
    need[66:70] = [2, 2, 2, 2]  # Tuesday 09:00-11:00: two, but only one agent exists
    plan = {"queues": ["support"], "requirement": {"support": need}, "seconds": 10,
            "templates": [{"name": "short", "starts": ["09:00"], "minutes": 120}], "agents": [{"id": "alice"}]}
    (quality_env / "wfm.yaml").write_text(yaml.safe_dump(plan))
    result = CliRunner().invoke(app, ["schedule", "--week", "2026-W50", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["agent_hours"] == 4.0 and doc["summary"]["lp_bound_hours"] is None  # cannot cover it all
    assert [u["missing"] for u in doc["uncovered"]] == [1, 1, 1, 1]
    text = CliRunner().invoke(app, ["schedule", "--week", "2026-W50"])
    assert text.exit_code == 0 and "Coverage            50.0% of 8 intervals" in text.output
    assert "LP lower bound —" in text.output and "Uncovered: 4 intervals" in text.output
    assert "Requirement support given in the plan" in text.output
    bad = CliRunner().invoke(app, ["schedule", "--week", "2026-50"])
    assert bad.exit_code == 2 and "week" in bad.output
    # the loop: a day of a forecast answered by that schedule's agents
    (quality_env / "schedule.json").write_text(result.stdout)
    forecast = {"interval_seconds": 1800, "intervals": [
        {"start": f"2026-12-07T{h:02d}:{m}:00+00:00", "arrivals": 3.0 if 9 <= h < 11 else 0.0, "aht": 60.0}
        for h in range(24) for m in ("00", "30")]}
    (quality_env / "forecast.json").write_text(json.dumps(forecast))
    files = ["--forecast", str(quality_env / "forecast.json"), "--schedule", str(quality_env / "schedule.json"),
             "--queue-model"]
    ran = CliRunner().invoke(app, ["simulate", *files, "--json"])
    assert ran.exit_code == 0, ran.output
    day = json.loads(ran.stdout)
    assert day["day"] == "2026-12-07" and [r["agents"] for r in day["intervals"][18:22]] == [1, 1, 1, 1]
    assert sum(r["offered"] for r in day["intervals"]) == sum(r["offered"] for r in day["intervals"][18:22])
    text = CliRunner().invoke(app, ["simulate", *files])
    assert text.exit_code == 0 and "service level target 80%/20s met in" in text.output
    alone = CliRunner().invoke(app, ["simulate", "--forecast", str(quality_env / "forecast.json")])
    assert alone.exit_code == 2 and "go together" in alone.output
    # through the hub (the default; tests/e2e/test_simulation.py runs one): bad windows are refused first
    hub = files[:-1]
    for hours, why in (("14-8", "--hours must be FROM-TO"), ("0-8", "no shift of support in that window")):
        refused = CliRunner().invoke(app, ["simulate", *hub, "--hours", hours])
        assert refused.exit_code == 2 and why in refused.output, refused.output


def test_the_requirement_line_names_each_channels_model() -> None:
    from omnihub.cli.wfm import _model

    used = {"model": "per_channel", "channels": {
        "voice": {"model": "erlang_a", "patience_seconds": 60.0, "patience_source": "measured", "abandons": 20},
        "webchat": {"model": "erlang_c", "concurrency": 3},
        "email": {"model": "deferred", "response_seconds": 3600.0, "peak_agents": 1.5}}}
    assert _model(used) == ("per channel: voice Erlang A, patience 60s (measured, 20 abandons); webchat Erlang C "
                            "(patience unknown), 3 at a time; email deferred, answered within 3600s (peak 1.5 agents)")
