"""Why a conversation is still waiting ("why still waiting"), read from the router's state now."""

from __future__ import annotations

from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.router import engine as eng
from omnihub.router.records import RouterError, dur, ts
from omnihub.router.state import STATE_VALUE, RouterState
from omnihub.router.stats import Stats

MAX_AGENTS = 50  # agents listed in one answer
R = routing_pb2


class WaitingExplainer:
    """Finds the first cause, in the order routing checks them, that keeps a conversation from an agent."""

    def __init__(self, state: RouterState, stats: Stats) -> None:
        self.state = state
        self.stats = stats

    def explain(self, conversation_id: str) -> routing_pb2.ExplainWaitingResponse:
        """The reason, with the facts behind it (queue members with the skills and why each is not taking it)."""
        state, engine = self.state, self.state.engine
        rec = state.records.get(conversation_id)
        if rec is None:
            raise RouterError("NOT_FOUND", f"unknown conversation {conversation_id!r}")
        out = R.ExplainWaitingResponse(conversation_id=conversation_id, queue=rec.conv.queue)
        w = engine.waiting.get(conversation_id)
        if w is None:
            out.reason = R.WAITING_REASON_NOT_WAITING
            return out
        now = state.clock()
        qconf = engine.queues[w.queue]
        out.waited.CopyFrom(dur(now - rec.first_enqueue))
        out.position = next((i for i, x in enumerate(engine.waiting_in(w.queue), 1) if x is w), 0)
        out.relaxation_step = w.step
        out.required_skills.extend(messaging_pb2.SkillRequirement(name=n, min_level=lv) for n, lv in w.req)
        nxt = eng.next_step_time(qconf, w.enqueue_time, w.step)
        if nxt is not None:
            out.next_step_time.CopyFrom(ts(nxt))
        suitable = [a for a in engine.agents_in(w.queue) if a.meets(w.req)]
        out.agents_with_skill = len(suitable)
        out.agents.extend(self._agent(a, w, now) for a in suitable[:MAX_AGENTS])
        out.reason = self._reason(w, suitable, now, open_now=self.stats.open_now(qconf, now))
        if out.reason == R.WAITING_REASON_HELD_FOR_AGENT:
            out.held_for_agent = w.preferred_agent
            out.held_until.CopyFrom(ts(w.preferred_until))
        return out

    def _reason(self, w: eng.Waiting, suitable: list[eng.Agent], now: float, open_now: bool,
                ) -> routing_pb2.WaitingReason.ValueType:
        if w.preferred_agent and w.preferred_until > now:
            preferred = self.state.engine.agents.get(w.preferred_agent)
            if preferred is not None and preferred.presence != eng.OFFLINE:
                return R.WAITING_REASON_HELD_FOR_AGENT  # the engine offers it to nobody else meanwhile
        if not open_now and not w.direct:
            return R.WAITING_REASON_QUEUE_CLOSED
        if not suitable:
            return R.WAITING_REASON_NO_AGENT_WITH_SKILL
        logged_in = [a for a in suitable if a.presence != eng.OFFLINE]
        if not logged_in:
            return R.WAITING_REASON_NONE_LOGGED_IN
        available = [a for a in logged_in if a.presence == eng.AVAILABLE]
        if not available:
            return R.WAITING_REASON_ALL_AWAY
        free = [a for a in available if a.can_take(w.channel)]
        if not free:
            return R.WAITING_REASON_ALL_AT_CAPACITY
        if all(w.excluded.get(a.id, 0.0) > now for a in free):
            return R.WAITING_REASON_EXCLUDED
        return R.WAITING_REASON_ABOUT_TO_BE_OFFERED

    @staticmethod
    def _agent(agent: eng.Agent, w: eng.Waiting, now: float) -> routing_pb2.WaitingAgent:
        out = R.WaitingAgent(agent_id=agent.id, state=STATE_VALUE[agent.state])
        until = w.excluded.get(agent.id, 0.0)
        if agent.presence == eng.OFFLINE:
            out.cause = out.detail = "offline"
        elif agent.presence == eng.AWAY:
            out.cause, out.away_reason = "away", agent.reason
            out.detail = f"away: {agent.reason}" if agent.reason else "away"
        elif agent.live_calls:
            out.cause, out.detail = "on_call", "on a call"
        elif agent.max_concurrent and agent.open_work() >= agent.max_concurrent:
            out.cause, out.used, out.max = "at_capacity", agent.open_work(), agent.max_concurrent
            out.detail = f"at capacity {out.used}/{out.max}"
        elif not agent.can_take(w.channel):
            out.cause, out.used, out.max = "at_capacity", agent.used(w.channel), agent.capacity.get(w.channel, 0)
            out.detail = f"at capacity {out.used}/{out.max} on {w.channel}"
        elif until > now:
            out.cause = "excluded"
            out.excluded_until.CopyFrom(ts(until))
            out.detail = f"excluded for {round(until - now)} s (rejected or missed it)"
        else:
            out.cause = out.detail = "free"
        return out
