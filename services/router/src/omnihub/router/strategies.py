"""Agent-selection strategies: each is one metric over an eligible agent (Asterisk app_queue's calc_metric)."""

from __future__ import annotations

import heapq
import operator
from collections.abc import Mapping, Sequence, Set
from typing import ClassVar

from omnihub.router.model import Agent, Candidate, Waiting

TOP_CANDIDATES = 10  # candidates kept in a decision record; the count of all eligible is kept too


class Strategy:
    """How a queue chooses among eligible agents: `metric` scores one agent (higher wins; ties go to the
    lower agent id), `detail` says what the figure is for the decision record. A subclass may override
    `rank` or `shortcut` to be cheaper, never to decide differently from `metric`."""

    name: ClassVar[str]

    def metric(self, agent: Agent, w: Waiting, now: float) -> float:
        """One eligible agent's score for the waiting conversation; higher wins."""
        raise NotImplementedError

    def detail(self, agent: Agent, value: float) -> str:
        """The figure behind a score, as the decision record shows it."""
        raise NotImplementedError

    def candidate(self, agent: Agent, w: Waiting, now: float) -> Candidate:
        """One eligible agent, scored, for the decision record."""
        value = self.metric(agent, w, now)
        return Candidate(agent.id, value, self.detail(agent, value))

    def rank(self, eligible: Sequence[Agent], w: Waiting, now: float) -> tuple[Candidate, ...]:
        """The best TOP_CANDIDATES of `eligible` (not empty), best first."""
        scored = [(-self.metric(a, w, now), a.id, a) for a in eligible]
        return tuple([self.candidate(a, w, now) for _, _, a in heapq.nsmallest(TOP_CANDIDATES, scored)])

    def shortcut(self, idle_order: Sequence[tuple[float, str]], agents: Mapping[str, Agent], ready: Set[str],
                 suitable: Set[str], now: float) -> tuple[tuple[Candidate, ...], int] | None:
        """A cheaper way to rank when many suitable agents are ready and nobody is excluded: (the best
        candidates, how many are eligible), or None when the strategy has none (then `rank` is used)."""
        return None


def _tiebreak(idle: float) -> float:
    """A tiny bonus for idle time so equal scores go to the longest-idle agent."""
    return min(idle, 86_400.0) / 1e7


_IDLE_ORDER = operator.attrgetter("last_idle", "id")


class LongestIdle(Strategy):
    """The agent idle longest since their latest new work ("most idle agent")."""

    name = "longest_idle"

    def metric(self, agent: Agent, w: Waiting, now: float) -> float:
        return now - agent.last_idle

    def detail(self, agent: Agent, value: float) -> str:
        return f"idle {value:.0f}s"

    def candidate(self, agent: Agent, w: Waiting, now: float) -> Candidate:
        idle = now - agent.last_idle
        return Candidate(agent.id, idle, f"idle {idle:.0f}s")

    def rank(self, eligible: Sequence[Agent], w: Waiting, now: float) -> tuple[Candidate, ...]:
        ranked = sorted(eligible, key=_IDLE_ORDER)[:TOP_CANDIDATES]  # a C sort beats nsmallest here
        return tuple([self.candidate(a, w, now) for a in ranked])

    def shortcut(self, idle_order: Sequence[tuple[float, str]], agents: Mapping[str, Agent], ready: Set[str],
                 suitable: Set[str], now: float) -> tuple[tuple[Candidate, ...], int] | None:
        """The first eligible agents in the engine's sorted `idle_order`, without sorting them all for
        each conversation (the common case, kept cheap)."""
        both = suitable & ready
        count = len(both)
        if not count:
            return (), 0
        if count * 8 < len(idle_order):  # eligible agents are sparse in the order: sorting them is cheaper
            ranked = sorted([agents[aid] for aid in both], key=_IDLE_ORDER)[:TOP_CANDIDATES]
        else:
            want = min(count, TOP_CANDIDATES)
            ranked = []
            for _, aid in idle_order:
                if aid in both:
                    ranked.append(agents[aid])
                    if len(ranked) == want:
                        break
        return tuple([Candidate(a.id, now - a.last_idle, f"idle {now - a.last_idle:.0f}s") for a in ranked]), count


class MostSkilled(Strategy):
    """The agent with the highest levels in the required skills (all skills when none are required)."""

    name = "most_skilled"

    def metric(self, agent: Agent, w: Waiting, now: float) -> float:
        total = sum(agent.skills.get(n, 0) for n, _ in w.req) or sum(agent.skills.values())
        return total + _tiebreak(now - agent.last_idle)

    def detail(self, agent: Agent, value: float) -> str:
        return f"skill {int(value)}"


class LeastOccupied(Strategy):
    """The agent holding the fewest conversations (handling or wrapping up)."""

    name = "least_occupied"

    def metric(self, agent: Agent, w: Waiting, now: float) -> float:
        return -agent.open_work() + _tiebreak(now - agent.last_idle)

    def detail(self, agent: Agent, value: float) -> str:
        return f"open {agent.open_work()}"


class RoundRobin(Strategy):
    """The agent whose latest offer is the oldest."""

    name = "round_robin"

    def metric(self, agent: Agent, w: Waiting, now: float) -> float:
        return -float(agent.last_offer)

    def detail(self, agent: Agent, value: float) -> str:
        return f"last offer #{agent.last_offer}"


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (LongestIdle(), MostSkilled(), LeastOccupied(), RoundRobin())}
