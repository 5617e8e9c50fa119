"""Erlang C/A against published tables."""

from __future__ import annotations

import pytest

from omnihub.erlang import erlang_b, erlang_c, predict, predict_erlang_a, required_agents, with_shrinkage


def test_erlang_b_matches_the_classic_table() -> None:
    # Erlang B table (e.g. any teletraffic handbook, ITU-T E.500 series): A=10 E, N=15 -> B = 0.0365.
    assert erlang_b(10, 15) == pytest.approx(0.0365, abs=5e-4)
    # A=2 E, N=5 -> B = 0.0367.
    assert erlang_b(2, 5) == pytest.approx(0.0367, abs=5e-4)


def test_call_centre_helper_worked_example() -> None:
    # Call Centre Helper, "Erlang C formula - made simple": 100 calls in 30 min, AHT 180 s,
    # target 80/20. Traffic = 10 E. Its table: 12 agents 64.0%, 13 agents 79.6%, 14 agents 88.8%
    # (Pw = 17.4%, ASA 7.8 s, occupancy 71.4%), 15 agents 94.2%.
    p = predict(arrivals=100, interval=1800, aht=180, agents=14, threshold=20)
    assert p.traffic == pytest.approx(10.0)
    assert p.probability_wait == pytest.approx(0.1741, abs=1e-3)
    assert p.service_level == pytest.approx(0.888, abs=1e-3)
    assert p.asa == pytest.approx(7.8, abs=0.1)
    assert p.occupancy == pytest.approx(0.714, abs=1e-3)
    # ... and 13 agents give 79.6%, so 14 is the minimum for 80/20.
    assert predict(100, 1800, 180, 13, 20).service_level == pytest.approx(0.796, abs=1e-3)
    assert predict(100, 1800, 180, 12, 20).service_level == pytest.approx(0.640, abs=1e-3)
    assert predict(100, 1800, 180, 15, 20).service_level == pytest.approx(0.942, abs=1e-3)
    assert required_agents(100, 1800, 180, 0.8, 20).agents == 14


def test_erlang_c_is_one_when_understaffed_and_stable_for_large_n() -> None:
    assert erlang_c(10, 10) == 1.0
    big = erlang_c(900, 960)  # factorials of 960 would overflow; the recursion does not
    assert 0 < big < 1


def test_occupancy_cap_and_shrinkage() -> None:
    capped = required_agents(100, 1800, 180, 0.8, 20, max_occupancy=0.65)
    assert capped.occupancy <= 0.65 and capped.agents == 16
    assert with_shrinkage(14, 0.3) == 20


def test_erlang_a_abandonment_lowers_waits() -> None:
    c = predict(100, 1800, 180, 12, 20)
    a = predict_erlang_a(100, 1800, 180, 12, 20, patience=120)
    assert 0 < a.abandonment < 0.2
    assert a.service_level > c.service_level
    # with near-infinite patience Erlang A tends to Erlang C
    inf = predict_erlang_a(100, 1800, 180, 14, 20, patience=1e9)
    assert inf.probability_wait == pytest.approx(predict(100, 1800, 180, 14, 20).probability_wait, abs=2e-3)


def _simulate_mmnm(lam: float, aht: float, agents: int, patience: float, threshold: float, n: int = 40_000,
                   ) -> tuple[float, float]:
    """A plain M/M/N+M queue, FCFS: (answered within T ÷ answered, abandoned ÷ arrivals)."""
    import heapq
    import random

    rng = random.Random(3)
    free_at = [0.0] * agents
    t = 0.0
    answered = within = abandoned = 0
    for _ in range(n):
        t += rng.expovariate(lam)
        give_up = t + rng.expovariate(1 / patience)
        start = max(t, free_at[0])
        if start > give_up:
            abandoned += 1
            continue
        heapq.heapreplace(free_at, start + rng.expovariate(1 / aht))
        answered += 1
        within += start - t <= threshold
    return within / answered, abandoned / n


@pytest.mark.parametrize(("agents", "patience"), [(3, 60.0), (12, 120.0), (10, 300.0)])
def test_erlang_a_service_level_and_abandonment_match_a_simulated_queue(agents: int, patience: float) -> None:
    arrivals, interval, aht = (36, 360, 60) if agents == 3 else (100, 1800, 180)
    pred = predict_erlang_a(arrivals, interval, aht, agents, 20, patience)
    sl, abandon = _simulate_mmnm(arrivals / interval, aht, agents, patience, 20)
    assert pred.service_level == pytest.approx(sl, abs=0.03)
    assert pred.abandonment == pytest.approx(abandon, abs=0.02)


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    assert predict_erlang_a(100, 1800, 180, 14, 20, 1e9).service_level == pytest.approx(
        predict(100, 1800, 180, 14, 20).service_level, abs=1e-4)
