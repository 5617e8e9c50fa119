"""Seeded synthetic arrivals with a known daily and weekly shape (tests, bench and demos)."""

from __future__ import annotations

import numpy as np

WEEKDAY_FACTORS = (1.25, 1.1, 1.0, 1.0, 1.15, 0.6, 0.45)  # Monday .. Sunday


def day_shape(slots_per_day: int) -> np.ndarray:
    """Relative arrivals over a day: closed at night, a morning peak near 10:00 and an afternoon one near 15:00."""
    hours = (np.arange(slots_per_day) + 0.5) * 24.0 / slots_per_day
    shape = 0.9 * np.exp(-((hours - 10.0) ** 2) / 4.0) + 0.7 * np.exp(-((hours - 15.0) ** 2) / 5.0)
    return np.where((hours >= 7.0) & (hours < 21.0), 0.08 + shape, 0.02 * ((hours >= 6.0) & (hours < 22.0)))


def true_rates(weeks: int, step: int = 1800, peak: float = 40.0, growth: float = 0.0) -> np.ndarray:
    """Expected arrivals per interval for `weeks` weeks starting on a Monday (growth: relative per week)."""
    per_day = 86_400 // step
    shape = day_shape(per_day)
    days = []
    for d in range(weeks * 7):
        days.append(peak * WEEKDAY_FACTORS[d % 7] * (1 + growth) ** (d / 7) * shape)
    return np.concatenate(days)


def arrivals(weeks: int, step: int = 1800, peak: float = 40.0, seed: int = 7, growth: float = 0.0,
             ) -> tuple[np.ndarray, np.ndarray]:
    """(Poisson arrivals, the true rates they were drawn from), reproducible for a seed."""
    rates = true_rates(weeks, step, peak, growth)
    rng = np.random.default_rng(seed)
    return rng.poisson(rates).astype(float), rates


def handle_times(counts: np.ndarray, mean: float = 240.0, seed: int = 11) -> np.ndarray:
    """Total handle seconds per interval: each contact's handle time is exponential around `mean`."""
    rng = np.random.default_rng(seed)
    return np.array([rng.exponential(mean, int(n)).sum() if n else 0.0 for n in counts])
