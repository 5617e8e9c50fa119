"""Inter-rater agreement: Krippendorff's alpha with the interval metric."""

from __future__ import annotations

from itertools import permutations


def krippendorff_alpha_interval(units: dict[str, dict[str, float]]) -> float:
    """Alpha over units (conversation -> evaluator -> score); units with one rating are not pairable."""
    pairable = [list(ratings.values()) for ratings in units.values() if len(ratings) >= 2]
    values = [v for unit in pairable for v in unit]
    n = len(values)
    if n < 2:
        raise ValueError("need at least one conversation scored by two evaluators")
    observed = sum(sum((a - b) ** 2 for a, b in permutations(unit, 2)) / (len(unit) - 1) for unit in pairable) / n
    expected = sum((a - b) ** 2 for a, b in permutations(values, 2)) / (n * (n - 1))
    if expected == 0:
        return 1.0
    return 1.0 - observed / expected
