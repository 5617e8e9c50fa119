"""The KPI test vectors (tests/kpis/*.yaml) against the wallboard's live figures: each vector's query of today
(the local day of its `now`) by queue must equal the router's answered, abandoned and service level today."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import yaml

from omnihub.api.routing.v1 import routing_pb2
from omnihub.router.config import parse_routing_config
from omnihub.router.outbox import Outbox
from omnihub.router.state import RouterState
from omnihub.router.stats import Stats
from omnihub.router.store import StateStore
from tests.kpis.events import when

VECTORS = sorted((Path(__file__).resolve().parents[3] / "tests" / "kpis").glob("*.yaml"))


def today_queries(vector: dict[str, Any]) -> list[dict[str, Any]]:
    """The vector's queries by queue whose window is exactly the local day of `now`."""
    tz = ZoneInfo(vector.get("timezone", "UTC"))
    day = dt.datetime.fromtimestamp(when(vector["now"]), tz).date()
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return [spec for spec in vector["queries"] if spec["query"].get("group_by") == "queue"
            and not spec["query"].get("agent") and when(spec["query"]["from"]) == start.timestamp()
            and when(spec["query"]["to"]) == end.timestamp()]


WITH_TODAY = [p for p in VECTORS if today_queries(yaml.safe_load(p.read_text()))]


def live_stats(vector: dict[str, Any]) -> Stats:
    """The router's live statistics fed the vector's answers and abandons, in time order."""
    thresholds = vector.get("thresholds") or {"support": 20}
    queues = ", ".join(f"{{name: {q}, service_level: {{threshold_seconds: {t}}}}}" for q, t in thresholds.items())
    loaded = parse_routing_config(f"queues: [{queues}]")
    now = when(vector["now"])
    state = RouterState(loaded, StateStore(cast(Any, None)), cast(Outbox, None), lambda: now)  # nothing is flushed
    stats = Stats(state, vector.get("timezone", "UTC"), float(vector.get("short_abandon", 5)))
    for spec in sorted(vector["events"], key=lambda s: when(s["at"])):
        queue = str(spec.get("queue", "support"))
        if spec["kind"] == "assigned" and spec.get("first", True):
            stats.answered(queue, float(spec.get("wait", 0)), when(spec["at"]))
        elif spec["kind"] == "abandoned":
            stats.abandoned(queue, when(spec["at"]), float(spec.get("wait", 0)))
    return stats


@pytest.mark.parametrize("path", WITH_TODAY, ids=[p.stem for p in WITH_TODAY])
def test_live_figures_equal_the_vectors_today(path: Path) -> None:
    vector = yaml.safe_load(path.read_text())
    stats = live_stats(vector)
    answer = stats.queue_stats(routing_pb2.GetQueueStatsRequest(), {})
    live = {s.queue: s for s in answer.stats}
    for spec in today_queries(vector):
        for queue, expected in spec["rows"].items():
            got = live[queue]
            where = f"{path.stem} {queue}"
            if "answered" in expected:
                assert got.answered_today == expected["answered"], where
            if "abandoned" in expected:
                assert got.abandoned_today == expected["abandoned"], where
            if "service_level_b" in expected:
                if expected["service_level_b"] is None:
                    assert not got.HasField("service_level_today"), f"{where}: service level shown, nothing answered"
                else:
                    assert got.service_level_today == pytest.approx(expected["service_level_b"], abs=1e-4), where


def test_vectors_with_a_today_query_include_a_shanghai_center() -> None:
    zones = {yaml.safe_load(p.read_text()).get("timezone") for p in WITH_TODAY}
    assert "Asia/Shanghai" in zones and "UTC" in zones
