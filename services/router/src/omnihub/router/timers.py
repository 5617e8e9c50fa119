"""Wrap-up: the talk ends, the agent's slot stays held for the queue's wrap-up time, then the conversation closes."""

from __future__ import annotations

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.router.customers import Customers
from omnihub.router.offers import Offers
from omnihub.router.records import Record, RouterError, dur, secs, ts
from omnihub.router.state import RouterState
from omnihub.router.stats import Stats


class WrapUps:
    """Conversations in wrap-up and their timers (checked by the router's tick)."""

    def __init__(self, state: RouterState, offers: Offers, stats: Stats, customers: Customers) -> None:
        self.state = state
        self.offers = offers
        self.stats = stats
        self.customers = customers
        self.wrapping: set[str] = set()  # conversation ids

    def wrap_up(self, agent_id: str, conversation_id: str, disposition: str, resolved: bool,
                notes: str) -> routing_pb2.Conversation:
        """End the talk: resolve the conversation and start the queue's wrap-up timer."""
        state = self.state
        now = state.clock()
        rec = state.records.get(conversation_id)
        assigned = rec is not None and rec.conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED
        if rec is None or not assigned or rec.conv.assigned_agent != agent_id:
            raise RouterError("FAILED_PRECONDITION", "the conversation is not assigned to you")
        conv = rec.conv
        qconf = state.engine.queues[conv.queue]
        agent = state.agent(agent_id)
        before = agent.state
        rec.talk_seconds = max(0.0, now - secs(conv.answer_time))
        rec.wrap_start = now
        rec.wrap_until = now + qconf.wrap_up_seconds
        conv.routing_state = routing_pb2.ROUTING_STATE_WRAP_UP
        self.wrapping.add(conv.id)
        conv.status = routing_pb2.CONVERSATION_STATUS_RESOLVED
        conv.disposition = disposition
        conv.resolved = resolved
        conv.close_time.CopyFrom(ts(now))
        state.engine.wrap(agent_id, conv.id)
        self.customers.closed_by(conv.customer_id, agent_id, now)
        state.outbox.event(rec, conversation_wrap_up_started=event_pb2.ConversationWrapUpStarted(
            agent_id=agent_id, talk_duration=dur(rec.talk_seconds)))
        state.outbox.event(rec, conversation_resolved=event_pb2.ConversationResolved(
            agent_id=agent_id, resolved=resolved, disposition=disposition))
        state.agent_state_event(agent, before)
        rec.wrap_notes = notes
        state.save(rec)
        if qconf.wrap_up_seconds == 0:
            self.finish(rec, now)
        return conv

    def finish(self, rec: Record, now: float) -> None:
        """The wrap-up ends (its timer, or the customer wrote again): the conversation closes, the slot frees."""
        state = self.state
        self.wrapping.discard(rec.conv.id)
        conv = rec.conv
        agent_id = conv.assigned_agent
        agent = state.engine.agents.get(agent_id)
        wrap_seconds = max(0.0, now - rec.wrap_start)
        conv.routing_state = routing_pb2.ROUTING_STATE_CLOSED
        state.outbox.event(rec, conversation_wrapped_up=event_pb2.ConversationWrappedUp(
            agent_id=agent_id, disposition=conv.disposition, resolved=conv.resolved,
            wrap_up_duration=dur(wrap_seconds), talk_duration=dur(rec.talk_seconds), notes=rec.wrap_notes))
        rec.wrap_notes = ""
        self.stats.handled(conv.queue, rec.talk_seconds + wrap_seconds, now)
        state.save(rec)
        if agent is not None:
            before = agent.state
            state.engine.release(agent_id, conv.id, now)
            state.agent_state_event(agent, before)
            state.save_agent(agent)
            self.offers.route_agent(agent_id, now)

    def restore(self, rec: Record) -> None:
        """A conversation stored in wrap-up: its timer runs on, the agent's slot stays held."""
        conv = rec.conv
        self.wrapping.add(conv.id)
        self.state.engine.hold(conv.assigned_agent, conv.id, rec.routing.channel)
        self.state.engine.wrap(conv.assigned_agent, conv.id)

    def expire(self, now: float) -> None:
        """Finish every wrap-up whose time is up."""
        for cid in list(self.wrapping):
            wrapping = self.state.records.get(cid)
            if wrapping is None or wrapping.conv.routing_state != routing_pb2.ROUTING_STATE_WRAP_UP:
                self.wrapping.discard(cid)  # reopened by the customer, or gone
            elif wrapping.wrap_until <= now:
                self.finish(wrapping, now)
