"""Agents to schedule per interval from a forecast: Erlang C (or A with patience), occupancy cap, shrinkage."""

from __future__ import annotations

from collections.abc import Sequence

from omnihub import erlang


def requirement(arrivals: Sequence[float], aht: Sequence[float], step: int, target: float, threshold: float,
                shrinkage: float = 0.0, max_occupancy: float = 0.85, patience: float = 0.0) -> list[int]:
    """Agents to schedule per interval (0 where nothing is expected); StaffingError for bad parameters."""
    out = []
    for a, h in zip(arrivals, aht, strict=True):
        if a < 0.05:  # less than one contact in twenty intervals: nobody needs to wait for it
            out.append(0)
            continue
        pred = erlang.required_agents(a, step, h or 180.0, target, threshold, max_occupancy, patience)
        out.append(erlang.with_shrinkage(pred.agents, shrinkage))
    return out
