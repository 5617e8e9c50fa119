"""Each registered strategy ranks by its own metric alone, whatever shortcut the engine takes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnihub.router import engine as eng
from omnihub.router.config import QueueConfig
from omnihub.router.strategies import STRATEGIES, TOP_CANDIDATES, Strategy

agents = st.lists(st.tuples(st.integers(0, 100).map(float), st.integers(0, 3), st.integers(0, 50), st.integers(1, 10)),
                  min_size=1, max_size=30)


def build(rows: list[tuple[float, int, int, int]]) -> list[eng.Agent]:
    out = []
    for i, (idle, open_work, last_offer, level) in enumerate(rows):
        agent = eng.Agent(f"a{i:02d}", {"tech": level}, frozenset({"q"}), {"webchat": 10}, last_idle=idle,
                          last_offer=last_offer)
        for n in range(open_work):
            agent.take(f"held{n}", "webchat")
        out.append(agent)
    return out


def by_metric(strategy: Strategy, pool: list[eng.Agent], w: eng.Waiting, now: float) -> list[str]:
    return [a.id for a in sorted(pool, key=lambda a: (-strategy.metric(a, w, now), a.id))][:TOP_CANDIDATES]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
@settings(max_examples=60, deadline=None)
@given(rows=agents)
def test_rank_is_the_metric_order(name: str, rows: list[tuple[float, int, int, int]]) -> None:
    strategy, pool = STRATEGIES[name], build(rows)
    w = eng.Waiting("c1", "q", "webchat", 0, 0.0, req=(("tech", 1),))
    ranked = strategy.rank(pool, w, 200.0)
    assert [c.agent_id for c in ranked] == by_metric(strategy, pool, w, 200.0)
    assert ranked[0] == strategy.candidate(pool[int(ranked[0].agent_id[1:])], w, 200.0)


@settings(max_examples=60, deadline=None)
@given(rows=agents, ready=st.sets(st.integers(0, 29)))
def test_the_longest_idle_shortcut_ranks_as_the_metric_does(rows: list[tuple[float, int, int, int]],
                                                            ready: set[int]) -> None:
    strategy, pool = STRATEGIES["longest_idle"], build(rows)
    w = eng.Waiting("c1", "q", "webchat", 0, 0.0)
    order = sorted((a.last_idle, a.id) for a in pool)
    ready_ids = {f"a{i:02d}" for i in ready}
    suitable = frozenset(a.id for a in pool)
    found = strategy.shortcut(order, {a.id: a for a in pool}, ready_ids, suitable, 200.0)
    assert found is not None
    candidates, count = found
    eligible = [a for a in pool if a.id in ready_ids]
    assert count == len(eligible)
    assert list(candidates) == (list(strategy.rank(eligible, w, 200.0)) if eligible else [])


def test_an_unknown_strategy_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown strategy 'fastest'; use longest_idle, most_skilled"):
        QueueConfig(name="q", strategy="fastest")
