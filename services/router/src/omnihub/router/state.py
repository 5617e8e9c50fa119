"""What every router job shares: configuration, the engine, conversation records, offers in flight, the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import timestamp_pb2

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.router import engine as eng
from omnihub.router.config import LoadedConfig
from omnihub.router.outbox import Outbox
from omnihub.router.records import Record, Reservation, RouterError, ts
from omnihub.router.store import StateStore

STATE_VALUE = {
    eng.OFFLINE: routing_pb2.AGENT_STATE_OFFLINE,
    eng.AVAILABLE: routing_pb2.AGENT_STATE_AVAILABLE,
    eng.BUSY: routing_pb2.AGENT_STATE_BUSY,
    eng.WRAP_UP: routing_pb2.AGENT_STATE_WRAP_UP,
    eng.AWAY: routing_pb2.AGENT_STATE_AWAY,
}

_HELD = (routing_pb2.ROUTING_STATE_ASSIGNED, routing_pb2.ROUTING_STATE_WRAP_UP)


class RouterState:
    """The state the router's jobs change under the outbox's lock, and how each change is staged."""

    def __init__(self, loaded: LoadedConfig, store: StateStore, outbox: Outbox, clock: Callable[[], float]) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.defaults = loaded.config.defaults
        self.engine = eng.Engine(self.config, loaded.version)
        self.store = store
        self.outbox = outbox
        self.clock = clock
        self.records: dict[str, Record] = {}
        self.reservations: dict[str, Reservation] = {}
        self.agent_conf = {a.id: a for a in self.config.agents}

    def save(self, rec: Record) -> None:
        """Stage the conversation record for the next write."""
        self.store.put(f"c.{rec.conv.id}", rec.dump)  # encoded once, at the flush

    def save_agent(self, agent: eng.Agent) -> None:
        """Stage the agent's presence and idle time for the next write."""
        def dump() -> dict[str, Any]:
            return {"id": agent.id, "presence": agent.presence, "reason": agent.reason,
                    "last_idle": agent.last_idle, "missed": agent.missed, "since": agent.since}

        self.store.put(f"a.{agent.id}", dump)

    def agent(self, agent_id: str) -> eng.Agent:
        """The agent, or NOT_FOUND."""
        agent = self.engine.agents.get(agent_id)
        if agent is None:
            raise RouterError("NOT_FOUND", f"unknown agent {agent_id!r}")
        return agent

    def end_reservation(self, rec: Record) -> Reservation | None:
        """Drop the conversation's offer in flight from its record and the index; returns it."""
        res, rec.reservation = rec.reservation, None
        if res is not None:
            self.reservations.pop(res.id, None)
        return res

    def held_by(self, conversation_id: str) -> str:
        """The agent holding the conversation now (assigned, or wrapping up), or ""."""
        rec = self.records.get(conversation_id)
        held = rec is not None and rec.conv.routing_state in _HELD
        return rec.conv.assigned_agent if rec is not None and held else ""

    def agent_proto(self, agent: eng.Agent) -> routing_pb2.Agent:
        """The public view of an agent."""
        conf = self.agent_conf.get(agent.id)
        return routing_pb2.Agent(
            id=agent.id, display_name=conf.display_name if conf else agent.id,
            skills=[routing_pb2.Skill(name=n, level=v) for n, v in sorted(agent.skills.items())],
            capacity=[routing_pb2.ChannelCapacity(channel=subjects.channel_from_token(ch), max=n,  # type: ignore[arg-type]
                                                   used=agent.used(ch))
                      for ch, n in agent.capacity.items()],
            state=STATE_VALUE[agent.state], state_reason=agent.reason, queues=sorted(agent.queues),
            voice_destination=(conf.voice_destination if conf else "") or f"client:{agent.id}",
            last_idle_time=ts(agent.last_idle), missed_offers=agent.missed,
            conversation_ids=sorted([*agent.handling, *agent.wrapping]),
            state_time=ts(agent.since) if agent.since else None, wrap_up_end_time=self._wrap_up_end(agent))

    def _wrap_up_end(self, agent: eng.Agent) -> timestamp_pb2.Timestamp | None:
        """The latest wrap-up deadline of the agent's conversations in wrap-up, or None."""
        ends = [rec.wrap_until for cid in agent.wrapping if (rec := self.records.get(cid)) is not None]
        return ts(max(ends)) if ends else None

    def agent_state_event(self, agent: eng.Agent, before: str, forced_by: str = "") -> None:
        """Stage agent_state_changed (and the watchers' notice) when the agent's reported state moved."""
        if agent.state == before:
            return
        agent.since = self.clock()
        self.save_agent(agent)  # the time in state survives a restart
        self.outbox.event(None, agent_state_changed=event_pb2.AgentStateChanged(
            agent_id=agent.id, from_state=STATE_VALUE[before], to_state=STATE_VALUE[agent.state],
            reason=agent.reason, forced_by=forced_by, active_conversations=agent.open_work()))
        if self.outbox.watched(agent.id):
            self.outbox.notify(agent.id, agent=self.agent_proto(agent))
