"""The requirement's queueing model: Erlang A where the customers' patience is known, Erlang C otherwise."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from omnihub.erlang import predict_erlang_a
from omnihub.quality.wfm.patience import MIN_ABANDONS, estimate
from omnihub.quality.wfm.staffing import requirement


@pytest.mark.parametrize("agents", [1, 8, 10, 12])
def test_erlang_a_gives_the_exact_values_when_patience_equals_the_handle_time(agents: int) -> None:
    # With patience = AHT every customer in the system leaves at the same rate, wherever it is: the number in
    # the system is Poisson(A) (an M/M/inf queue), so P(wait) = P(K >= N) and P(abandon) = E[(K - N)+] / A.
    traffic = 10.0

    def poisson(k: int) -> float:
        return math.exp(-traffic + k * math.log(traffic) - math.lgamma(k + 1))

    pred = predict_erlang_a(100, 1800, 180, agents, 20, patience=180)
    assert pred.model == "erlang_a"
    assert pred.probability_wait == pytest.approx(1 - sum(poisson(k) for k in range(agents)), abs=1e-9)
    assert pred.abandonment == pytest.approx(sum((k - agents) * poisson(k) for k in range(agents, 120)) / traffic,
                                             abs=1e-9)


def test_the_requirement_uses_erlang_a_when_patience_is_known() -> None:
    # 100 calls in 30 minutes, AHT 180 s, 80/20 (the Erlang C textbook case: 14 agents). Customers who hang up
    # after 2 minutes on average leave the queue shorter: 11 agents reach 80 % answered within 20 s.
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0) == [14]
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0, patience=120) == [11]
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0, patience=60) == [10]
    # very patient customers: Erlang A is Erlang C
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0, patience=1e7) == [14]


def test_patience_is_estimated_from_waits_and_abandons_of_a_simulated_queue() -> None:
    rng = random.Random(5)
    lam, aht, agents, patience = 1 / 12, 180.0, 14, 90.0
    free_at, t = [0.0] * agents, 0.0
    waited_answered = waited_abandoned = 0.0
    abandons = 0
    for _ in range(20_000):
        t += rng.expovariate(lam)
        give_up = rng.expovariate(1 / patience)
        start = max(t, free_at[0])
        if start - t > give_up:
            waited_abandoned += give_up
            abandons += 1
            continue
        waited_answered += start - t
        heapq.heapreplace(free_at, start + rng.expovariate(1 / aht))
    assert abandons > 500
    assert estimate(waited_answered, waited_abandoned, abandons) == pytest.approx(patience, rel=0.1)
    assert estimate(1000.0, 500.0, MIN_ABANDONS - 1) is None  # too few abandons: patience unknown
