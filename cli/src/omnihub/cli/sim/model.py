"""The simulation's randomness: seeded Poisson arrivals with a daily curve, handle times and outcomes."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Relative arrival intensity by hour of the day: a morning peak and a lunch dip.
DAILY_CURVE = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.3, 1.5, 1.4, 1.2,
               0.8, 0.9, 1.2, 1.3, 1.2, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2]


@dataclass(frozen=True)
class SimConfig:
    """One scenario: arrivals per minute, staffing, handle time, targets and time compression."""

    arrivals_per_minute: float = 2.0
    agents: int = 5
    aht_seconds: float = 120.0
    minutes: float = 30.0
    threshold_seconds: float = 20.0
    target: float = 0.8
    fcr_rate: float = 0.8
    speed: float = 30.0
    seed: int = 7
    start_hour: float | None = None  # None: a flat rate; an hour applies the daily curve from then on
    strategy: str = "longest_idle"


def curve(hour: float) -> float:
    """Arrival intensity multiplier at an hour of the day (linear between hours)."""
    lo = int(hour) % 24
    frac = hour - math.floor(hour)
    return DAILY_CURVE[lo] * (1 - frac) + DAILY_CURVE[(lo + 1) % 24] * frac


def arrivals(cfg: SimConfig) -> list[float]:
    """Arrival times in simulated seconds: a Poisson process, thinned by the daily curve when set."""
    rng = random.Random(cfg.seed)
    peak = max(DAILY_CURVE) if cfg.start_hour is not None else 1.0
    rate = cfg.arrivals_per_minute / 60 * peak
    t = 0.0
    out: list[float] = []
    while True:
        t += rng.expovariate(rate)
        if t >= cfg.minutes * 60:
            return out
        if cfg.start_hour is None or rng.random() < curve(cfg.start_hour + t / 3600) / peak:
            out.append(t)


def handle_times(cfg: SimConfig, n: int) -> list[float]:
    """Exponential handle times (the M/M/N assumption of Erlang C), seeded."""
    rng = random.Random(cfg.seed + 1)
    return [rng.expovariate(1 / cfg.aht_seconds) for _ in range(n)]


def resolved_flags(cfg: SimConfig, n: int) -> list[bool]:
    """Whether each contact is resolved at first contact."""
    rng = random.Random(cfg.seed + 2)
    return [rng.random() < cfg.fcr_rate for _ in range(n)]


def tolerance(predicted: float, n: int, z: float = 3.0) -> float:
    """Half-width of a z-sigma binomial interval around a predicted proportion for n contacts."""
    return z * math.sqrt(max(predicted * (1 - predicted), 0.01) / max(n, 1)) + 0.05
