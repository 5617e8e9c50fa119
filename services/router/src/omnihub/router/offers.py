"""Queueing and offers: a conversation queued, offered to the engine's choice, accepted, rejected or overflowed."""

from __future__ import annotations

import base64
import contextlib

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects, wire
from omnihub.common.bus import new_id
from omnihub.router import engine as eng
from omnihub.router.model import Candidate
from omnihub.router.records import Record, Reservation, RouterError, dur, secs, ts
from omnihub.router.state import RouterState
from omnihub.router.stats import Stats

_CANDIDATE_TAG = wire.key(routing_pb2.RoutingDecision.DESCRIPTOR.fields_by_name["candidates"].number, 2)
CANDIDATE_CACHE = 4096  # encoded candidates kept: the same agents, scored at the same time, recur in a batch


class Offers:
    """Puts conversations in their queues and offers them to agents; every offer in flight is a reservation."""

    def __init__(self, state: RouterState, stats: Stats) -> None:
        self.state = state
        self.stats = stats
        self.engine = state.engine
        self.outbox = state.outbox
        self.records = state.records
        self.reservations = state.reservations
        self._candidate_bytes: dict[Candidate, bytes] = {}

    def enqueue(self, rec: Record, now: float, reason: str = "", restore: bool = False) -> None:
        """Queue the conversation (its record's own `routing` entry) and route it; `restore` re-queues stored
        state silently (no events, no routing)."""
        conv = rec.conv
        qconf = self.engine.queues[conv.queue]
        w = rec.routing  # where it waits comes from the conversation (a transfer or overflow moves it)
        w.queue, w.priority = conv.queue, conv.priority
        w.enqueue_time = secs(conv.enqueue_time) if restore else now
        overflow = self.engine.enqueue(w, now)
        if not restore:
            conv.enqueue_time.CopyFrom(ts(now))
        conv.routing_state = routing_pb2.ROUTING_STATE_QUEUED
        conv.relaxation_step = w.step
        conv.assigned_agent = ""
        del conv.required_skills[:]
        conv.required_skills.extend(messaging_pb2.SkillRequirement(name=n, min_level=lv) for n, lv in w.req)
        self.state.save(rec)
        if restore:
            return
        open_now = self.stats.open_now(qconf, now)
        self.outbox.event(rec, conversation_queued=event_pb2.ConversationQueued(
            queue=conv.queue, priority=conv.priority, reason=reason, open_now=open_now))
        if not open_now and not rec.closed_hours_notified and conv.channel != contact_pb2.CHANNEL_VOICE:
            rec.closed_hours_notified = True
            self._auto_reply(rec, qconf.closed_message)
        if overflow:
            self.overflow(eng.Overflow(conv.id, conv.queue, overflow, "relaxation"), now)
            return
        self.route_conversation(conv.id, now)

    def _auto_reply(self, rec: Record, text: str) -> None:
        conv = rec.conv
        self.outbox.outbound(messaging_pb2.OutboundMessage(
            id=new_id("out"), channel=conv.channel, identity=conv.identity, conversation_id=conv.id,
            thread_key=conv.thread_key, text=text, kind=messaging_pb2.OUTBOUND_KIND_AUTO_REPLY,
            create_time=ts(self.state.clock())))

    def route_conversation(self, conversation_id: str, now: float) -> None:
        """Offer a waiting conversation to the engine's choice, if its queue is open (or it is sent to an agent by name)."""
        rec = self.records[conversation_id]
        qconf = self.engine.queues[rec.conv.queue]
        if not rec.routing.direct and not self.stats.open_now(qconf, now):  # sent to an agent by name: hours do not apply
            return
        decision = self.engine.route_conversation(conversation_id, now)
        if decision is not None:
            self._apply(decision, now)

    def route_agent(self, agent_id: str, now: float) -> None:
        """Fill a freed agent's spare capacity from the backlog of their open queues."""
        agent = self.engine.agents.get(agent_id)
        if agent is None:
            return
        closed = [q for q in agent.queues if not self.stats.open_now(self.engine.queues[q], now)]
        for decision in self.engine.route_agent(agent_id, now, closed):  # none from a closed queue
            self._apply(decision, now)

    def route_ready(self, now: float) -> None:
        """Give idle capacity a chance (queues that opened, exclusions that ended)."""
        if not self.engine.waiting:
            return
        for agent_id in list(self.engine.ready):
            self.route_agent(agent_id, now)

    def _apply(self, d: eng.Decision, now: float) -> None:
        rec = self.records[d.conversation_id]
        conv = rec.conv
        agent = self.engine.agents[d.agent_id]
        before = eng.AVAILABLE if len(agent.handling) == 1 and not agent.wrapping else agent.state
        defaults = self.state.defaults
        timeout = defaults.reservation_timeout_seconds.get(
            subjects.channel_token(conv.channel), defaults.other_reservation_timeout_seconds)
        res = Reservation(new_id("res"), conv.id, agent.id, now + timeout)
        self.reservations[res.id] = res
        rec.reservation = res
        conv.routing_state = routing_pb2.ROUTING_STATE_OFFERED
        conv.assigned_agent = agent.id
        self.state.save(rec)
        decision = routing_pb2.RoutingDecision(
            conversation_id=conv.id, queue=d.queue, strategy=d.strategy, relaxation_step=d.step,
            required_skills=[messaging_pb2.SkillRequirement(name=n, min_level=lv) for n, lv in d.req],
            chosen_agent=agent.id, reason=d.reason, config_version=self.state.loaded.version,
            decide_time=ts(now), eligible_count=d.eligible)
        # once, for the record and the event; the candidates follow as encoded fields (protobuf appends
        # a repeated field's elements wherever they come)
        encoded = decision.SerializeToString() + self._encode_candidates(d.candidates)
        rec.decisions.append(base64.b64encode(encoded).decode())
        self.outbox.event(rec, routing_decided=encoded)
        conf = self.state.agent_conf.get(agent.id)
        auto = conf is not None and conf.auto_accepts(subjects.channel_token(conv.channel))
        self.outbox.event(rec, conversation_offered=event_pb2.ConversationOffered(
            agent_id=agent.id, reservation_id=res.id, expire_time=ts(res.expire), auto_accepted=auto))
        if not auto and self.outbox.watched(agent.id):
            self.outbox.notify(agent.id, offer=routing_pb2.Offer(
                reservation_id=res.id, conversation=conv, expire_time=ts(res.expire),
                reason=f"{d.reason}: {d.strategy}, step {d.step}"))
        self.state.agent_state_event(agent, before)
        self.state.save_agent(agent)
        if auto:
            self.assign(rec, res, now)

    def _encode_candidates(self, candidates: tuple[Candidate, ...]) -> bytes:
        """`RoutingDecision.candidates` fields for `candidates`, each encoded once while it recurs:
        within an intake batch the same agents come up with the same scores, one new per decision."""
        cache = self._candidate_bytes
        out = []
        for c in candidates:
            encoded = cache.get(c)
            if encoded is None:
                if len(cache) >= CANDIDATE_CACHE:
                    cache.clear()
                encoded = cache[c] = wire.length_delimited(_CANDIDATE_TAG, routing_pb2.CandidateScore(
                    agent_id=c.agent_id, score=c.score, detail=c.detail).SerializeToString())
            out.append(encoded)
        return b"".join(out)

    def withdraw(self, rec: Record, now: float, outcome: str, exclude: bool = False, why: str = "") -> str:
        """End the conversation's offer (`outcome`) and free the agent; `exclude` keeps it from them for
        `offer_exclusion_seconds`; `why` tells the agent's screen (the outcome when empty). Returns the agent's id."""
        conv = rec.conv
        res = self.state.end_reservation(rec)
        agent_id = conv.assigned_agent
        if res is not None:
            self.outbox.event(rec, conversation_offer_ended=event_pb2.ConversationOfferEnded(
                agent_id=res.agent_id, reservation_id=res.id, outcome=outcome))
            # why first: a client that knows offer_ended shows the reason; offer_withdrawn stays for older ones
            self.outbox.notify(res.agent_id, offer_ended=routing_pb2.OfferEnded(
                reservation_id=res.id, reason=why or outcome))
            self.outbox.notify(res.agent_id, offer_withdrawn=res.id)
        agent = self.engine.agents.get(agent_id)
        if agent is not None:
            before = agent.state
            self.engine.release(agent_id, conv.id, now)
            self.state.agent_state_event(agent, before)
        if exclude and agent_id:
            rec.routing.excluded[agent_id] = now + self.state.defaults.offer_exclusion_seconds
        conv.assigned_agent = ""
        return agent_id

    def overflow(self, o: eng.Overflow, now: float) -> None:
        """Move a waiting conversation to its overflow queue, or mark it a callback in its own."""
        rec = self.records[o.conversation_id]
        conv = rec.conv
        self.engine.remove(conv.id)
        if not o.to_queue:
            conv.callback = conv.channel == contact_pb2.CHANNEL_VOICE
            self.outbox.event(rec, conversation_overflowed=event_pb2.ConversationOverflowed(
                from_queue=o.from_queue, to_queue="", reason="callback" if conv.callback else o.reason))
            rec.routing.max_wait_done = True
            self.enqueue(rec, now, restore=True)  # stays in its queue, marked as a callback
            return
        self.outbox.event(rec, conversation_overflowed=event_pb2.ConversationOverflowed(
            from_queue=o.from_queue, to_queue=o.to_queue, reason=o.reason))
        conv.queue = o.to_queue
        self.enqueue(rec, now, reason="overflow")

    def assign(self, rec: Record, res: Reservation, now: float) -> routing_pb2.Conversation:
        """The offer is accepted (by the agent, or at once for an auto-accepting agent)."""
        agent_id = res.agent_id
        conv = rec.conv
        self.state.end_reservation(rec)
        agent = self.state.agent(agent_id)
        agent.missed = 0
        conv.routing_state = routing_pb2.ROUTING_STATE_ASSIGNED
        conv.assigned_agent = agent_id
        conv.flagged = False
        first = not rec.answered_once
        if first:
            rec.answered_once = True
            conv.answer_time.CopyFrom(ts(now))
            waited = now - rec.first_enqueue
            self.stats.answered(conv.queue, waited, now)
        else:
            waited = now - secs(conv.enqueue_time)
        conf = self.state.agent_conf.get(agent_id)
        self.state.save(rec)
        self.state.save_agent(agent)
        self.outbox.event(rec, conversation_assigned=event_pb2.ConversationAssigned(
            agent_id=agent_id, queue=conv.queue, wait_duration=dur(waited), first_answer=first,
            agent_destination=(conf.voice_destination if conf else "") or f"client:{agent_id}",
            callback=conv.callback))
        if self.outbox.watched(agent_id):
            self.outbox.notify(agent_id, assigned=conv)
        return conv

    def end_offer(self, agent_id: str, reservation_id: str, outcome: str, now: float) -> None:
        """The agent rejected the offer or let it time out: re-queue it (not to them for a while); missed
        offers past the limit set the agent AWAY."""
        res = self.reservations.get(reservation_id)
        if res is None or res.agent_id != agent_id:
            raise RouterError("FAILED_PRECONDITION", "the offer is no longer valid")
        rec = self.records[res.conversation_id]
        agent = self.state.agent(agent_id)
        self.withdraw(rec, now, outcome, exclude=True)
        w = rec.routing
        if w.preferred_agent == agent_id:  # the agent it was held for said no: the queue takes it
            w.preferred_agent, w.preferred_until, w.direct = "", 0.0, False
        if outcome == "timeout":
            agent.missed += 1
            if agent.missed >= self.state.defaults.missed_offers_before_away:
                before = agent.state
                self.engine.set_presence(agent_id, eng.AWAY, now, "missed_offers")
                self.state.agent_state_event(agent, before)
        self.state.save_agent(agent)
        self.enqueue(rec, now, reason=outcome)
        self.route_agent(agent_id, now)


    def accept(self, agent_id: str, reservation_id: str, now: float) -> routing_pb2.Conversation:
        """Accept an offer: the conversation is assigned to the agent (a copy of it is returned)."""
        res = self.reservations.get(reservation_id)
        if res is None or res.agent_id != agent_id:
            raise RouterError("FAILED_PRECONDITION", "the offer is no longer valid")
        conv = self.assign(self.records[res.conversation_id], res, now)
        out = routing_pb2.Conversation()
        out.CopyFrom(conv)
        return out

    def expire(self, now: float) -> None:
        """Offers not answered in time go to the next agent (`timeout`)."""
        for res in [r for r in self.reservations.values() if r.expire <= now]:
            with contextlib.suppress(RouterError):
                self.end_offer(res.agent_id, res.id, "timeout", now)
