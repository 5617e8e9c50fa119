"""Transfers: an assigned or waiting conversation moves to another agent (by name) or queue, keeping its history."""

from __future__ import annotations

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.router.offers import Offers
from omnihub.router.records import RouterError
from omnihub.router.state import RouterState


class Transfers:
    """Moves conversations on request of their agent or a supervisor."""

    def __init__(self, state: RouterState, offers: Offers) -> None:
        self.state = state
        self.offers = offers

    def transfer(self, agent_id: str, conversation_id: str, to_agent: str, to_queue: str, note: str,
                 requested_by: str) -> routing_pb2.Conversation:
        """Move the conversation; an agent named is offered it (whatever their queues) for the transfer
        hold, else the queue takes it."""
        state, engine = self.state, self.state.engine
        now = state.clock()
        rec = state.records.get(conversation_id)
        if rec is None:
            raise RouterError("NOT_FOUND", f"unknown conversation {conversation_id!r}")
        conv = rec.conv
        if to_queue and to_queue not in engine.queues:
            raise RouterError("INVALID_ARGUMENT", f"unknown queue {to_queue!r}")
        if to_agent and to_agent not in engine.agents:
            raise RouterError("INVALID_ARGUMENT", f"unknown agent {to_agent!r}")
        if conv.status == routing_pb2.CONVERSATION_STATUS_RESOLVED:
            raise RouterError("FAILED_PRECONDITION", "the conversation is closed")
        holder = conv.assigned_agent
        if holder and holder != agent_id and not requested_by:
            raise RouterError("PERMISSION_DENIED", "the conversation is held by another agent")
        if conv.routing_state == routing_pb2.ROUTING_STATE_OFFERED:
            self.offers.withdraw(rec, now, "withdrawn", why="transferred")
        elif holder:
            agent = engine.agents[holder]
            before = agent.state
            engine.release(holder, conv.id, now)
            state.agent_state_event(agent, before)
            state.outbox.notify(holder, unassigned=conv.id)
        else:
            engine.remove(conv.id)
        state.outbox.event(rec, conversation_transferred=event_pb2.ConversationTransferred(
            from_agent=holder, to_agent=to_agent, to_queue=to_queue, note=note, requested_by=requested_by))
        if to_queue:
            conv.queue = to_queue
        w = rec.routing
        w.preferred_agent, w.direct = to_agent, bool(to_agent)
        w.preferred_until = now + (state.defaults.transfer_hold_seconds if to_agent else 0.0)
        w.excluded.pop(to_agent, None)
        self.offers.enqueue(rec, now, reason="transfer")
        if holder:
            self.offers.route_agent(holder, now)
        return conv
