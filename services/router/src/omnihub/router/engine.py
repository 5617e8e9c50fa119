"""The ACD's decisions as pure functions over plain data: no I/O, no clocks, no NATS."""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Container, Iterable

from omnihub.router.config import CHANNELS, QueueConfig, RoutingConfig
from omnihub.router.model import AVAILABLE as AVAILABLE
from omnihub.router.model import AWAY as AWAY
from omnihub.router.model import BUSY as BUSY
from omnihub.router.model import OFFLINE as OFFLINE
from omnihub.router.model import VOICE as VOICE
from omnihub.router.model import WRAP_UP as WRAP_UP
from omnihub.router.model import Agent as Agent
from omnihub.router.model import Candidate as Candidate
from omnihub.router.model import Decision as Decision
from omnihub.router.model import Overflow as Overflow
from omnihub.router.model import Req as Req
from omnihub.router.model import Waiting as Waiting
from omnihub.router.strategies import STRATEGIES
from omnihub.router.strategies import TOP_CANDIDATES as TOP_CANDIDATES

HEAD_LOOKAHEAD = 64  # entries looked at past a group's head excluded or held for another agent (rare)


def requirement(queue: QueueConfig, extra: Req, waited: float) -> tuple[Req, int, str]:
    """Skills needed after `waited` seconds: (requirements, step index, overflow queue or "")."""
    req = {s.name: s.min_level for s in queue.skills}
    for name, level in extra:
        req[name] = max(level, req.get(name, 0))
    step = 0
    for i, r in enumerate(queue.relaxation, start=1):
        if waited < r.after_seconds:
            break
        step = i
        if r.skills is not None:
            req = {s.name: s.min_level for s in r.skills}
        for name in r.drop_skills:
            req.pop(name, None)
        if r.lower_levels_by:
            req = {n: max(0, lvl - r.lower_levels_by) for n, lvl in req.items()}
        if r.overflow_queue:
            return tuple(sorted(req.items())), step, r.overflow_queue
    return tuple(sorted(req.items())), step, ""


def next_step_time(queue: QueueConfig, enqueue_time: float, step: int) -> float | None:
    """When the conversation reaches its next relaxation step, if any."""
    if step < len(queue.relaxation):
        return enqueue_time + queue.relaxation[step].after_seconds
    return None


class _Group:
    """Waiting conversations sharing queue, channel and requirements, in service order."""

    __slots__ = ("channel", "heap", "queue", "req")

    def __init__(self, queue: str, channel: str, req: Req) -> None:
        self.queue = queue
        self.channel = channel
        self.req = req
        self.heap: list[tuple[int, float, int, str]] = []


class Engine:
    """Skills-based routing state and decisions. Times are seconds (floats) passed in by callers."""

    def __init__(self, config: RoutingConfig, version: str = "") -> None:
        self.config = config
        self.version = version
        self.queues = {q.name: q for q in config.queues}
        self._strategy = {q.name: STRATEGIES[q.strategy] for q in config.queues}
        self.agents: dict[str, Agent] = {}
        self.waiting: dict[str, Waiting] = {}
        self._groups: dict[tuple[str, str, Req], _Group] = {}
        self._group_of: dict[str, tuple[str, str, Req]] = {}
        self._pinned: dict[str, set[str]] = {}  # agent id -> conversations preferring them
        self.ready: set[str] = set()  # agents that could take at least one more contact
        self.ready_on: dict[str, set[str]] = {}  # channel -> agents for whom can_take(channel) holds
        self._group_version = 0
        self._agent_groups: dict[str, tuple[int, list[_Group]]] = {}
        self._suitable_cache: dict[tuple[str, Req], tuple[list[Agent], frozenset[str]]] = {}
        self.idle_order: list[tuple[float, str]] = []  # (last_idle, id) of every agent, sorted
        self._seq = itertools.count(1)
        self._offers = itertools.count(1)
        for a in config.agents:
            self.add_agent(
                Agent(
                    id=a.id,
                    skills=dict(a.skills),
                    queues=frozenset(a.queues),
                    capacity={ch: a.capacity_for(ch) for ch in CHANNELS},
                    max_concurrent=a.max_concurrent,
                )
            )

    # ---- agents -------------------------------------------------------------------------
    def add_agent(self, agent: Agent) -> None:
        """Add or replace an agent."""
        old = self.agents.get(agent.id)
        if old is not None:
            self._unorder(old)
        self.agents[agent.id] = agent
        bisect.insort(self.idle_order, (agent.last_idle, agent.id))
        self._agent_groups.pop(agent.id, None)
        self._suitable_cache.clear()
        self.touch(agent)

    def touch(self, agent: Agent) -> None:
        """Keep the ready indexes in step after the agent's presence, work or capacity changed:
        `ready_on[channel]` holds the agent exactly when `can_take(channel)` does (the
        channel-independent checks made once here), `ready` when that is so for some channel."""
        slots, aid = agent.slots, agent.id
        free = (agent.presence == AVAILABLE and not agent.live_calls
                and (not agent.max_concurrent or agent.open_work() < agent.max_concurrent))
        any_free = False
        for ch, n in agent.capacity.items():
            on = self.ready_on.get(ch)
            if on is None:
                on = self.ready_on[ch] = set()
            if free and slots.get(ch, 0) < n:
                on.add(aid)
                any_free = True
            else:
                on.discard(aid)
        if any_free:
            self.ready.add(aid)
        else:
            self.ready.discard(aid)

    def set_idle(self, agent: Agent, since: float) -> None:
        """Set when the agent's idle time counts from, keeping `idle_order` sorted."""
        self._unorder(agent)
        agent.last_idle = since
        bisect.insort(self.idle_order, (since, agent.id))

    def _unorder(self, agent: Agent) -> None:
        order, key = self.idle_order, (agent.last_idle, agent.id)
        i = bisect.bisect_left(order, key)
        if i < len(order) and order[i] == key:
            del order[i]

    def release(self, agent_id: str, conversation_id: str, now: float) -> None:
        """The agent no longer holds the conversation (rejected, timed out, transferred, ended)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        agent.drop(conversation_id)
        if not agent.handling and not agent.wrapping:
            self.set_idle(agent, now)
        self.touch(agent)

    def wrap(self, agent_id: str, conversation_id: str) -> None:
        """Move a conversation from handling to after-contact work (its slot stays used)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        agent.to_wrap(conversation_id)
        self.touch(agent)

    def hold(self, agent_id: str, conversation_id: str, channel: str) -> None:
        """Record an assignment the agent holds (transfer in, restore after restart)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        agent.take(conversation_id, channel)
        self.touch(agent)

    def set_presence(self, agent_id: str, presence: str, now: float, reason: str = "") -> Agent:
        """Change what an agent chose (AVAILABLE, AWAY, OFFLINE)."""
        agent = self.agents[agent_id]
        if presence == AVAILABLE and agent.presence != AVAILABLE and not agent.handling:
            self.set_idle(agent, now)
        agent.presence = presence
        agent.reason = reason if presence == AWAY else ""
        if presence == AVAILABLE:
            agent.missed = 0
        self.touch(agent)
        return agent

    # ---- waiting conversations --------------------------------------------------------------
    def enqueue(self, w: Waiting, now: float) -> str:
        """Put a conversation in its queue at its current relaxation step; returns overflow target."""
        queue = self.queues[w.queue]
        w.seq = next(self._seq)
        req, step, overflow = requirement(queue, w.extra_skills, now - w.enqueue_time)
        w.req, w.step = req, step
        self.waiting[w.conversation_id] = w
        key = (w.queue, w.channel, req)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(w.queue, w.channel, req)
            self._group_version += 1
        heapq.heappush(group.heap, (*w.order_key(), w.conversation_id))
        self._group_of[w.conversation_id] = key
        if w.preferred_agent and w.preferred_until > now:
            self._pinned.setdefault(w.preferred_agent, set()).add(w.conversation_id)
        return overflow

    def remove(self, conversation_id: str) -> Waiting | None:
        """Take a conversation out of the queue (offered, abandoned, transferred); lazy in heaps."""
        w = self.waiting.pop(conversation_id, None)
        self._group_of.pop(conversation_id, None)
        if w and w.preferred_agent:
            pinned = self._pinned.get(w.preferred_agent)
            if pinned:
                pinned.discard(conversation_id)
        return w

    def _head(self, group: _Group) -> Waiting | None:
        heap = group.heap
        key = (group.queue, group.channel, group.req)
        while heap:
            cid = heap[0][3]
            w = self.waiting.get(cid)
            if w is not None and self._group_of.get(cid) == key and w.seq == heap[0][2]:
                return w
            heapq.heappop(heap)
        return None

    # ---- decisions ------------------------------------------------------------------------
    def eligible(self, agent: Agent, w: Waiting, now: float) -> bool:
        """Every eligibility rule for one agent and one waiting conversation."""
        return (
            w.queue in agent.queues
            and agent.can_take(w.channel)
            and agent.meets(w.req)
            and w.excluded.get(agent.id, 0.0) <= now
        )

    def eligible_preferred(self, agent: Agent, w: Waiting, now: float) -> bool:
        """Eligibility for the agent a conversation is held for; a direct transfer needs only room."""
        if w.direct:
            return agent.can_take(w.channel) and w.excluded.get(agent.id, 0.0) <= now
        return self.eligible(agent, w, now)

    def route_conversation(self, conversation_id: str, now: float) -> Decision | None:
        """Choose an agent for one waiting conversation, or None if nobody is eligible now."""
        w = self.waiting.get(conversation_id)
        if w is None:
            return None
        queue = self.queues[w.queue]
        if w.preferred_agent and w.preferred_until > now:
            preferred = self.agents.get(w.preferred_agent)
            if preferred is not None and preferred.presence != OFFLINE:
                if self.eligible_preferred(preferred, w, now):
                    reason = "transfer" if w.direct else "returning_customer"
                    cand = Candidate(preferred.id, 0.0, reason.replace("_", " "))
                    return self._offer(w, preferred, queue.strategy, (cand,), reason, 1, now)
                return None  # hold it for the agent who knows the customer, until the window ends
        strategy, excluded = self._strategy[w.queue], w.excluded
        ready = self.ready_on.get(w.channel, _NOBODY)
        suitable, suitable_ids = self._suitable(w.queue, w.req)
        agents = self.agents
        many_ready = len(ready) * 4 >= len(suitable)
        if many_ready and not excluded:
            quick = strategy.shortcut(self.idle_order, agents, ready, suitable_ids, now)
            if quick is not None:
                candidates, count = quick
                if not count:
                    return None
                return self._offer(w, agents[candidates[0].agent_id], queue.strategy, candidates, "strategy",
                                   count, now)
        if not many_ready:  # walk the ready agents when far fewer (each check costs more)
            eligible = [agents[aid] for aid in ready if self.eligible(agents[aid], w, now)]
        elif excluded:
            eligible = [a for a in suitable if a.id in ready and excluded.get(a.id, 0.0) <= now]
        else:
            eligible = [a for a in suitable if a.id in ready]
        if not eligible:
            return None
        candidates = strategy.rank(eligible, w, now)
        return self._offer(w, agents[candidates[0].agent_id], queue.strategy, candidates, "strategy",
                           len(eligible), now)

    def _suitable(self, queue: str, req: Req) -> tuple[list[Agent], frozenset[str]]:
        """Members of `queue` holding every skill in `req`, and their ids: fixed until the agents change."""
        key = (queue, req)
        found = self._suitable_cache.get(key)
        if found is None:
            members = [a for a in self.agents.values() if queue in a.queues and a.meets(req)]
            found = self._suitable_cache[key] = (members, frozenset(a.id for a in members))
        return found

    def route_agent(self, agent_id: str, now: float, closed: Container[str] = ()) -> list[Decision]:
        """Fill a freed agent's spare capacity from the backlog, best-ordered conversation first,
        leaving out the `closed` queues (outside business hours)."""
        agent = self.agents.get(agent_id)
        decisions: list[Decision] = []
        if agent is None or agent.presence != AVAILABLE:
            return decisions
        while True:
            w = self._best_for(agent, now, closed)
            if w is None:
                return decisions
            queue = self.queues[w.queue]
            cand = self._strategy[w.queue].candidate(agent, w, now)
            mine = w.preferred_agent == agent.id
            reason = ("transfer" if w.direct else "returning_customer") if mine else "agent_freed"
            decisions.append(self._offer(w, agent, queue.strategy, (cand,), reason, 1, now))

    def _best_for(self, agent: Agent, now: float, closed: Container[str] = ()) -> Waiting | None:
        best: Waiting | None = None
        for cid in list(self._pinned.get(agent.id, ())):
            w = self.waiting.get(cid)
            if (w is not None and w.preferred_until > now and (w.direct or w.queue not in closed)
                    and self.eligible_preferred(agent, w, now)
                    and (best is None or w.order_key() < best.order_key())):
                best = w
        for group in self._groups_for(agent):
            if group.queue in closed or not agent.can_take(group.channel):
                continue
            w = self._first_routable(group, agent, now)
            if w is not None and (best is None or w.order_key() < best.order_key()):
                best = w
        return best

    def _groups_for(self, agent: Agent) -> list[_Group]:
        """Groups whose queue and skills suit the agent; cached until a new group appears."""
        cached = self._agent_groups.get(agent.id)
        if cached is not None and cached[0] == self._group_version:
            return cached[1]
        groups = [g for g in self._groups.values() if g.queue in agent.queues and agent.meets(g.req)]
        self._agent_groups[agent.id] = (self._group_version, groups)
        return groups

    def _first_routable(self, group: _Group, agent: Agent, now: float) -> Waiting | None:
        head = self._head(group)
        if head is None:
            return None
        if self._routable_by(head, agent, now):
            return head
        # Rare: the head is excluded for this agent or pinned to another; look a little deeper.
        for entry in heapq.nsmallest(HEAD_LOOKAHEAD, group.heap):
            w = self.waiting.get(entry[3])
            if w is not None and w.seq == entry[2] and self._routable_by(w, agent, now):
                return w
        return None

    def _routable_by(self, w: Waiting, agent: Agent, now: float) -> bool:
        if w.excluded.get(agent.id, 0.0) > now:
            return False
        if w.preferred_agent and w.preferred_agent != agent.id and w.preferred_until > now:
            preferred = self.agents.get(w.preferred_agent)
            if preferred is not None and preferred.presence != OFFLINE:
                return False
        return True

    def _offer(self, w: Waiting, agent: Agent, strategy: str, candidates: tuple[Candidate, ...], reason: str,
               eligible: int, now: float) -> Decision:
        self.remove(w.conversation_id)
        agent.take(w.conversation_id, w.channel)
        agent.last_offer = next(self._offers)
        self.set_idle(agent, now)  # idle time restarts with each new piece of work ("most idle agent")
        self.touch(agent)
        return Decision(w.conversation_id, agent.id, w.queue, strategy, w.step, w.req, candidates, reason, eligible)

    # ---- time ------------------------------------------------------------------------------
    def relax(self, now: float) -> tuple[list[str], list[Overflow]]:
        """Advance relaxation steps; returns (conversations whose requirements changed, overflows)."""
        changed: list[str] = []
        overflows: list[Overflow] = []
        for w in list(self.waiting.values()):
            queue = self.queues[w.queue]
            waited = now - w.enqueue_time
            if waited >= queue.max_wait_seconds and queue.max_wait_action != "none" and not w.max_wait_done:
                target = queue.overflow_queue if queue.max_wait_action == "overflow" else ""
                if target != w.queue:
                    overflows.append(Overflow(w.conversation_id, w.queue, target, "max_wait"))
                    continue
            pinned_expired = bool(w.preferred_agent) and w.preferred_until <= now
            nxt = next_step_time(queue, w.enqueue_time, w.step)
            if (nxt is None or now < nxt) and not pinned_expired:
                continue
            req, step, overflow = requirement(queue, w.extra_skills, waited)
            if overflow and overflow != w.queue:
                overflows.append(Overflow(w.conversation_id, w.queue, overflow, "relaxation"))
                continue
            if pinned_expired:
                self.remove(w.conversation_id)
                w.preferred_agent, w.direct = "", False
                self.enqueue(w, now)
                changed.append(w.conversation_id)
            elif req != w.req or step != w.step:
                self.remove(w.conversation_id)
                self.enqueue(w, now)
                changed.append(w.conversation_id)
        return changed, overflows

    # ---- statistics ------------------------------------------------------------------------
    def waiting_in(self, queue: str) -> list[Waiting]:
        """Conversations waiting in a queue, in service order."""
        return sorted((w for w in self.waiting.values() if w.queue == queue), key=Waiting.order_key)

    def agents_in(self, queue: str) -> Iterable[Agent]:
        """Members of a queue."""
        return (a for a in self.agents.values() if queue in a.queues)


_NOBODY: frozenset[str] = frozenset()
