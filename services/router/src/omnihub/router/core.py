"""The router's coordinator: one entry per request, each a change under the outbox's lock, handed to its job."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.bus import Bus
from omnihub.common.logging import get_logger
from omnihub.router import engine as eng
from omnihub.router.config import LoadedConfig, RoutingConfig
from omnihub.router.customers import Customers
from omnihub.router.intake import Intake
from omnihub.router.offers import Offers
from omnihub.router.outbox import Outbox, Watcher
from omnihub.router.presence import Presence
from omnihub.router.records import Record, Reservation, RouterError, secs, ts
from omnihub.router.state import RouterState
from omnihub.router.stats import Stats
from omnihub.router.store import StateStore
from omnihub.router.timers import WrapUps
from omnihub.router.transfers import Transfers
from omnihub.router.waiting import WaitingExplainer

__all__ = ["Record", "RouterCore", "RouterError", "log", "ts"]

log = get_logger("omnihub.router")
PURGE_EVERY_SECONDS = 60.0  # how often closed records past their retention are looked for
_CLOSED = (routing_pb2.ROUTING_STATE_CLOSED, routing_pb2.ROUTING_STATE_ABANDONED)


class RouterCore:
    """Owns conversations, agents and offers; every change runs under the outbox's lock and returns once
    it is written and published (group commit). Each job lives in its own module (see docs/architecture.md)."""

    def __init__(self, loaded: LoadedConfig, bus: Bus, store: StateStore,
                 clock: Callable[[], float] = time.time, timezone: str = "UTC", short_abandon: float = 5.0) -> None:
        self.outbox = Outbox(bus, store, lambda: self.state.clock())  # read at each event: tests swap the clock
        self.state = RouterState(loaded, store, self.outbox, clock)
        self.stats = Stats(self.state, timezone, short_abandon)
        self.customers = Customers(self.state)
        self.offers = Offers(self.state, self.stats)
        self.presence = Presence(self.state, self.offers)
        self.wrapups = WrapUps(self.state, self.offers, self.stats, self.customers)
        self.transfers = Transfers(self.state, self.offers)
        self.intakes = Intake(self.state, self.customers, self.offers, self.wrapups, self.stats)
        self.waiting = WaitingExplainer(self.state, self.stats)
        self._next_purge = 0.0

    # ---- what tests and the app read -----------------------------------------------------
    @property
    def clock(self) -> Callable[[], float]:
        """Seconds since the epoch; every job and every event time reads this one clock."""
        return self.state.clock

    @clock.setter
    def clock(self, clock: Callable[[], float]) -> None:
        self.state.clock = clock

    @property
    def config(self) -> RoutingConfig:
        """The routing configuration."""
        return self.state.config

    @property
    def engine(self) -> eng.Engine:
        """The pure routing engine."""
        return self.state.engine

    @property
    def store(self) -> StateStore:
        """The KV state store."""
        return self.state.store

    @property
    def records(self) -> dict[str, Record]:
        """Conversation id -> record."""
        return self.state.records

    @property
    def reservations(self) -> dict[str, Reservation]:
        """Reservation id -> offer in flight."""
        return self.state.reservations

    @property
    def threads(self) -> dict[str, str]:
        """"channel:thread key" -> conversation id."""
        return self.customers.threads

    @property
    def identities(self) -> dict[str, str]:
        """"channel:source id" -> customer id."""
        return self.customers.identities

    # ---- persistence ----------------------------------------------------------------------
    async def restore(self) -> None:
        """Load state from KV and rebuild the engine's queues and agents."""
        state, engine = self.state, self.state.engine
        data = await state.store.load()
        now = state.clock()
        for key, value in data.items():
            kind = key.split(".", 1)[0]
            if kind == "c":
                rec = Record.load(value)
                state.records[rec.conv.id] = rec
            elif kind == "a" and value.get("id") in engine.agents:
                self.presence.restore(engine.agents[value["id"]], value, now)
            elif kind == "u":
                self.customers.restore(value)
            elif kind == "s":
                self.stats.restore(value)
        for rec in sorted(state.records.values(), key=lambda r: secs(r.conv.create_time)):
            conv = rec.conv
            self.customers.threads[f"{rec.routing.channel}:{conv.thread_key}"] = conv.id
            if rec.reservation is not None:
                state.reservations[rec.reservation.id] = rec.reservation
            if conv.routing_state == routing_pb2.ROUTING_STATE_QUEUED:
                self.offers.enqueue(rec, now, restore=True)
            elif conv.routing_state in (routing_pb2.ROUTING_STATE_OFFERED, routing_pb2.ROUTING_STATE_ASSIGNED):
                engine.hold(conv.assigned_agent, conv.id, rec.routing.channel)
            elif conv.routing_state == routing_pb2.ROUTING_STATE_WRAP_UP:
                self.wrapups.restore(rec)
        for agent in engine.agents.values():
            engine.touch(agent)
        log.info("router.restored", conversations=len(state.records), reservations=len(state.reservations),
                 waiting=len(engine.waiting))

    # ---- changes --------------------------------------------------------------------------
    async def intake(self, messages: list[messaging_pb2.InboundMessage]) -> None:
        """Attach a batch of inbound messages to conversations, route, persist, publish."""
        async with self.outbox.changing():
            self.intakes.intake(messages)

    async def set_presence(self, agent_id: str, presence: str, reason: str = "",
                           forced_by: str = "") -> routing_pb2.Agent:
        """Login (AVAILABLE/AWAY), SetState and Logout (OFFLINE) all land here."""
        async with self.outbox.changing():
            return self.presence.set_presence(agent_id, presence, reason, forced_by)

    async def heartbeat(self, agent_id: str) -> int:
        """Record that the agent's client is alive; returns the timeout in seconds."""
        return self.presence.alive(agent_id)

    async def accept(self, agent_id: str, reservation_id: str) -> routing_pb2.Conversation:
        """Accept an offer: the conversation is assigned to the agent."""
        async with self.outbox.changing():
            return self.offers.accept(agent_id, reservation_id, self.state.clock())

    async def reject(self, agent_id: str, reservation_id: str, outcome: str = "rejected") -> None:
        """Reject (or time out) an offer: the conversation goes to the next agent."""
        async with self.outbox.changing():
            self.offers.end_offer(agent_id, reservation_id, outcome, self.state.clock())

    async def transfer(self, agent_id: str, conversation_id: str, to_agent: str, to_queue: str,
                       note: str = "", requested_by: str = "") -> routing_pb2.Conversation:
        """Move an assigned (or waiting) conversation to another agent or queue, keeping history."""
        async with self.outbox.changing():
            return self.transfers.transfer(agent_id, conversation_id, to_agent, to_queue, note, requested_by)

    async def wrap_up(self, agent_id: str, conversation_id: str, disposition: str, resolved: bool,
                      notes: str = "") -> routing_pb2.Conversation:
        """End the talk: resolve the conversation and start the queue's wrap-up timer."""
        async with self.outbox.changing():
            return self.wrapups.wrap_up(agent_id, conversation_id, disposition, resolved, notes)

    async def merge_customers(self, agent_id: str, keep: str, merged: str, identity: contact_pb2.Identity | None,
                              ) -> contact_pb2.Customer:
        """Fold one customer record into another: identities, conversations and history follow."""
        async with self.outbox.changing():
            return self.customers.merge(agent_id, keep, merged, identity)

    async def erase_customer(self, customer_id: str) -> dict[str, int]:
        """Forget one customer (`Customers.erase`) durably; counts of what went."""
        async with self.outbox.changing():
            return self.customers.erase(customer_id, _CLOSED)

    async def tick(self) -> None:
        """Expire offers, heartbeats and wrap-ups; relax requirements; overflow long waits."""
        async with self.outbox.changing():
            state = self.state
            now = state.clock()
            self.offers.expire(now)
            self.presence.expire(now)
            self.wrapups.expire(now)
            changed, overflows = state.engine.relax(now)
            for o in overflows:
                self.offers.overflow(o, now)
            for cid in changed:
                rec = state.records[cid]
                rec.conv.relaxation_step = rec.routing.step  # the engine moved it a step on
                state.save(rec)
                self.offers.route_conversation(cid, now)
            self.offers.route_ready(now)
            self._purge(now)

    def _purge(self, now: float) -> None:
        if now < self._next_purge:  # a scan of every record: once a minute is enough
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        retention = self.state.defaults.closed_retention_seconds
        for cid, rec in list(self.state.records.items()):
            if rec.conv.routing_state in _CLOSED and now - secs(rec.conv.close_time) > retention:
                del self.state.records[cid]
                self.state.store.delete(f"c.{cid}")

    # ---- watching an agent ----------------------------------------------------------------
    def watch(self, agent_id: str) -> Watcher:
        """A queue of the agent's notices from now on (NOT_FOUND for an unknown agent); `unwatch` it."""
        self.state.agent(agent_id)
        return self.outbox.watch(agent_id)

    def unwatch(self, agent_id: str, queue: Watcher) -> None:
        """Stop delivering the agent's notices to `queue`."""
        self.outbox.unwatch(agent_id, queue)

    def alive(self, agent_id: str) -> None:
        """The agent's client is connected (a watch stream counts as a heartbeat)."""
        self.presence.heartbeats[agent_id] = self.state.clock()

    def snapshot_for(self, agent_id: str) -> list[routing_pb2.AgentNotice]:
        """What the agent holds now, as notices, so a reconnecting client catches up: the agent, each
        offer pending for them, each conversation assigned to them."""
        state = self.state
        out = [routing_pb2.AgentNotice(agent=state.agent_proto(state.agent(agent_id)))]
        for res in state.reservations.values():
            if res.agent_id == agent_id:
                conv = state.records[res.conversation_id].conv
                out.append(routing_pb2.AgentNotice(offer=routing_pb2.Offer(
                    reservation_id=res.id, conversation=conv, expire_time=ts(res.expire), reason="pending")))
        for rec in state.records.values():
            if rec.conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED and rec.conv.assigned_agent == agent_id:
                out.append(routing_pb2.AgentNotice(assigned=rec.conv))
        return out

    # ---- queries --------------------------------------------------------------------------
    def has_agent(self, agent_id: str) -> bool:
        """True for an agent in the configuration."""
        return agent_id in self.state.engine.agents

    def agents(self, queue: str = "") -> list[routing_pb2.Agent]:
        """Every agent (of `queue` when given), as the public view."""
        return [self.state.agent_proto(a) for a in self.state.engine.agents.values() if not queue or queue in a.queues]

    def agent_proto(self, agent: eng.Agent) -> routing_pb2.Agent:
        """The public view of an agent."""
        return self.state.agent_proto(agent)

    def held_by(self, conversation_id: str) -> str:
        """The agent holding the conversation now (assigned, or wrapping up), or ""."""
        return self.state.held_by(conversation_id)

    def has_conversation(self, conversation_id: str) -> bool:
        """True for a conversation the router knows."""
        return conversation_id in self.state.records

    def merge_refusal(self, agent_id: str, keep: str, merged: str, identity: contact_pb2.Identity | None) -> str:
        """Why an agent (not a supervisor) may not merge these customers, or "" when they may."""
        return self.customers.merge_refusal(agent_id, keep, merged, identity)

    def conversation(self, conversation_id: str) -> routing_pb2.Conversation:
        """One conversation, or NOT_FOUND."""
        rec = self.state.records.get(conversation_id)
        if rec is None:
            raise RouterError("NOT_FOUND", "unknown conversation")
        return rec.conv

    def customer_proto(self, customer_id: str) -> contact_pb2.Customer:
        """A customer with every identity resolved to it."""
        return self.customers.customer_proto(customer_id)

    def queue_stats(self, request: routing_pb2.GetQueueStatsRequest) -> routing_pb2.GetQueueStatsResponse:
        """Live statistics per queue, and the position of one conversation when asked."""
        return self.stats.queue_stats(request, self.customers.threads)

    def list_conversations(self, agent_id: str = "", queue: str = "", include_closed: bool = False,
                           customer_id: str = "") -> list[routing_pb2.Conversation]:
        """Conversations known to the router, newest first."""
        out = []
        for rec in self.state.records.values():
            c = rec.conv
            if agent_id and c.assigned_agent != agent_id:
                continue
            if queue and c.queue != queue:
                continue
            if customer_id and c.customer_id != customer_id:
                continue
            if not include_closed and c.routing_state in _CLOSED:
                continue
            out.append(c)
        out.sort(key=lambda c: secs(c.create_time), reverse=True)
        return out

    def explain(self, conversation_id: str) -> list[routing_pb2.RoutingDecision]:
        """Every routing decision behind a conversation, oldest first."""
        rec = self.state.records.get(conversation_id)
        if rec is None:
            raise RouterError("NOT_FOUND", f"unknown conversation {conversation_id!r}")
        return [routing_pb2.RoutingDecision.FromString(base64.b64decode(d)) for d in rec.decisions]

    def explain_waiting(self, conversation_id: str) -> routing_pb2.ExplainWaitingResponse:
        """Why a conversation is still waiting, from the state now (NOT_FOUND for an unknown one)."""
        return self.waiting.explain(conversation_id)
