"""The routing YAML: good files load, bad ones name the file, field and reason."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omnihub.router.config import BusinessHours, RoutingConfigError, parse_routing_config

ROOT = Path(__file__).resolve().parents[3]


def test_demo_config_loads() -> None:
    loaded = parse_routing_config((ROOT / "config/demo/routing.yaml").read_text())
    assert {q.name for q in loaded.config.queues} >= {"support", "sales"}
    assert len(loaded.version) == 12


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("queues: [{name: a, skills: [{name: x, min_level: 11}]}]", "queues.0.skills.0.min_level"),
        ("queues: [{name: a, overflow_queue: nope}]", "unknown queue 'nope'"),
        ("queues: [{name: a}]\nagents: [{id: x, queues: [b]}]", "unknown queue 'b'"),
        ("queues: [{name: a, business_hours: {time_zone: Mars/Base}}]", "unknown time zone"),
        ("queues: [{name: a, strategy: fastest}]", "queues.0.strategy"),
        ("queues: [{name: a, colour: red}]", "queues.0.colour"),
        ("queues: [", "not valid YAML"),
        ("queues: [{name: a}]\nagents: [{id: x, queues: [a], auto_accept: [fax]}]", "agents.0.auto_accept"),
    ],
)
def test_bad_config_names_field_and_reason(text: str, needle: str) -> None:
    with pytest.raises(RoutingConfigError) as exc:
        parse_routing_config(text, "routing.yaml")
    assert str(exc.value).startswith("routing.yaml:")
    assert needle in str(exc.value)


def test_router_refuses_to_start_with_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "routing.yaml"
    bad.write_text("queues: [{name: a, skills: [{name: x, min_level: 42}]}]")
    env = {**os.environ, "OMNIHUB_ROUTER_CONFIG_FILE": str(bad)}
    result = subprocess.run([sys.executable, "-m", "omnihub.router"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert str(bad) in result.stderr and "min_level" in result.stderr


def test_business_hours_with_holidays_and_time_zone() -> None:
    hours = BusinessHours(time_zone="Asia/Shanghai", weekly={"mon": ["09:00-18:00"]},
                          holidays=[dt.date(2026, 11, 30)])
    monday_10_shanghai = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
    assert hours.is_open(monday_10_shanghai)
    assert not hours.is_open(monday_10_shanghai + dt.timedelta(hours=9))
    assert not hours.is_open(dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC))  # holiday
