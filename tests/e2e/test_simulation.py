"""A short seeded simulation through the real hub: nothing lost, and service level as Erlang C predicts."""

from __future__ import annotations

from pathlib import Path

from omnihub.cli.sim.model import SimConfig
from omnihub.cli.sim.runner import run


async def test_single_skill_pool_matches_erlang_c(tmp_path: Path) -> None:
    cfg = SimConfig(arrivals_per_minute=3.0, agents=5, aht_seconds=60, minutes=30, speed=30, seed=11)
    result = await run(cfg, tmp_path, progress=False)
    assert result["arrivals"] > 50
    assert result["conversations"] == result["arrivals"] and result["lost_or_duplicated"] == 0
    assert result["measured"]["handled"] == result["arrivals"]
    measured, predicted = result["measured"]["service_level"], result["erlang_c"]["service_level"]
    assert abs(measured - predicted) <= result["tolerance"], (measured, predicted, result["tolerance"])
    assert (tmp_path / "report.html").read_text().count("Erlang C") >= 3
