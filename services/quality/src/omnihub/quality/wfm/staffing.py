"""Agents to schedule per interval from a forecast: Erlang C (or A with patience), occupancy cap, shrinkage; and
the agent demand of several channels (live, concurrent chats, deferred e-mail) summed per interval."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from omnihub import erlang

QUIET = 0.05  # less than one contact in twenty intervals: nobody needs to wait for it
DEFAULT_AHT = 180.0


def requirement(arrivals: Sequence[float], aht: Sequence[float], step: int, target: float, threshold: float,
                shrinkage: float = 0.0, max_occupancy: float = 0.85, patience: float = 0.0) -> list[int]:
    """Agents to schedule per interval (0 where nothing is expected); StaffingError for bad parameters."""
    return [erlang.with_shrinkage(n, shrinkage)
            for n in live_agents(arrivals, aht, step, target, threshold, max_occupancy, patience)]


def live_agents(arrivals: Sequence[float], aht: Sequence[float], step: int, target: float, threshold: float,
                max_occupancy: float = 0.85, patience: float = 0.0, concurrency: int = 1) -> list[int]:
    """Agents on the phones (before shrinkage) for a live channel per interval.

    With `concurrency` c (an agent holds up to c chats at once) each agent is c slots: the slots a chat waits
    for are sized by Erlang at the channel's handle time (a chat holds its slot that long), then ceil(slots / c)."""
    out = []
    for a, h in zip(arrivals, aht, strict=True):
        if a < QUIET:
            out.append(0)
            continue
        slots = erlang.required_agents(a, step, h or DEFAULT_AHT, target, threshold, max_occupancy, patience).agents
        out.append(math.ceil(slots / concurrency))
    return out


def deferred_workload(arrivals: Sequence[float], aht: Sequence[float], step: int, response_seconds: float,
                      max_occupancy: float = 0.85) -> list[float]:
    """Agents (fractional) per interval for deferred work such as e-mail: each interval's work (arrivals × AHT)
    must be done within the response-time target, so it is spread evenly over the intervals from its arrival to
    the target (at least its own; cut at the end of the horizon, where it lands in what is left)."""
    count = len(arrivals)
    window = max(1, int(response_seconds // step))
    out = [0.0] * count
    for i, (a, h) in enumerate(zip(arrivals, aht, strict=True)):
        if a <= 0:
            continue
        span = range(i, min(count, i + window))
        share = a * (h or DEFAULT_AHT) / step / max_occupancy / len(span)
        for j in span:
            out[j] += share
    return out


@dataclass(frozen=True, slots=True)
class ChannelDemand:
    """One channel's forecast and how its contacts are worked."""

    channel: str
    arrivals: Sequence[float]
    aht: Sequence[float]
    concurrency: int = 1
    response_seconds: float = 0.0  # > 0: deferred work answered within this target (e-mail)
    target: float = 0.8
    threshold: float = 20.0
    patience: float = 0.0


def blended(demands: Sequence[ChannelDemand], step: int, shrinkage: float = 0.0,
            max_occupancy: float = 0.85) -> tuple[list[int], dict[str, list[float]]]:
    """Agents to schedule per interval for agents who work every channel: each live channel's agents by Erlang
    (no pooling between channels is counted, so the sum errs on the safe side) plus the deferred workload,
    rounded up, then shrinkage; and each channel's own demand per interval (before shrinkage)."""
    if not demands:
        return [], {}
    count = len(demands[0].arrivals)
    parts: dict[str, list[float]] = {}
    for d in demands:
        if len(d.arrivals) != count or len(d.aht) != count:
            raise ValueError(f"the forecast of {d.channel} does not cover the same intervals as the others")
        if d.response_seconds > 0:
            parts[d.channel] = deferred_workload(d.arrivals, d.aht, step, d.response_seconds, max_occupancy)
        else:
            parts[d.channel] = [float(n) for n in live_agents(d.arrivals, d.aht, step, d.target, d.threshold,
                                                              max_occupancy, d.patience, d.concurrency)]
    total = [math.ceil(round(sum(p[i] for p in parts.values()), 9)) for i in range(count)]
    return [erlang.with_shrinkage(n, shrinkage) for n in total], parts
