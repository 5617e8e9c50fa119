"""Agent presence: login, state changes and logout, heartbeats, and what happens to an agent's work when they go."""

from __future__ import annotations

from typing import Any

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.router import engine as eng
from omnihub.router.offers import Offers
from omnihub.router.state import RouterState


class Presence:
    """What each agent chose, and when their client was last heard from."""

    def __init__(self, state: RouterState, offers: Offers) -> None:
        self.state = state
        self.offers = offers
        self.heartbeats: dict[str, float] = {}

    def restore(self, agent: eng.Agent, value: dict[str, Any], now: float) -> None:
        """An agent's stored presence and idle time."""
        agent.presence = value.get("presence", eng.OFFLINE)
        agent.reason = value.get("reason", "")
        self.state.engine.set_idle(agent, value.get("last_idle", now))
        agent.missed = value.get("missed", 0)
        agent.since = value.get("since", 0.0)
        self.heartbeats[agent.id] = now  # a fresh grace period after a restart

    def set_presence(self, agent_id: str, presence: str, reason: str, forced_by: str) -> routing_pb2.Agent:
        """Login (AVAILABLE/AWAY), SetState and Logout (OFFLINE) all land here."""
        state = self.state
        now = state.clock()
        agent = state.agent(agent_id)
        before = agent.state
        if presence == eng.OFFLINE:
            self._agent_gone(agent, now, "logout")
        state.engine.set_presence(agent_id, presence, now, reason)
        self.heartbeats[agent_id] = now
        state.agent_state_event(agent, before, forced_by)
        state.save_agent(agent)
        if presence == eng.AVAILABLE:
            self.offers.route_agent(agent_id, now)
        return state.agent_proto(agent)

    def _agent_gone(self, agent: eng.Agent, now: float, why: str) -> None:
        """Set the agent OFFLINE, re-queue their un-accepted offers (to others: the agent is offline
        first) and flag their accepted conversations for a supervisor."""
        state = self.state
        offered = [state.records[r.conversation_id] for r in state.reservations.values() if r.agent_id == agent.id]
        for held in offered:
            self.offers.withdraw(held, now, "withdrawn", why="agent_offline")
        state.engine.set_presence(agent.id, eng.OFFLINE, now)
        for held in offered:
            self.offers.enqueue(held, now, reason="agent_offline")
        for cid in list(agent.handling):
            rec = state.records.get(cid)
            if rec is not None and rec.conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED:
                rec.conv.flagged = True
                state.save(rec)
                state.outbox.event(rec, conversation_flagged=event_pb2.ConversationFlagged(
                    agent_id=agent.id, reason=why))

    def alive(self, agent_id: str) -> int:
        """Record that the agent's client is alive; returns the timeout in seconds."""
        self.state.agent(agent_id)
        self.heartbeats[agent_id] = self.state.clock()
        return self.state.defaults.heartbeat_timeout_seconds

    def expire(self, now: float) -> None:
        """Agents whose client went silent past the heartbeat timeout go OFFLINE (`heartbeat_lost`)."""
        state = self.state
        timeout = state.defaults.heartbeat_timeout_seconds
        for agent in state.engine.agents.values():
            if agent.presence != eng.OFFLINE and now - self.heartbeats.get(agent.id, now) > timeout:
                before = agent.state
                self._agent_gone(agent, now, "heartbeat_lost")
                state.agent_state_event(agent, before)
                state.save_agent(agent)
