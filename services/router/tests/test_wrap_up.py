"""Wrap-up: the queue's timer holds the agent in WRAP_UP and then frees them, and the agent's notes go
out with `conversation_wrapped_up` when it ends. A customer who writes again during wrap-up reopens
the conversation: the wrap-up ends there (the slot is freed, its time recorded) and the conversation
is routed again, first to the same agent."""

from __future__ import annotations

from typing import Any

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.bus import Bus
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore

from .conftest import fake_clock
from .conftest import inbound as inbound_chat
from .test_flush import stored_events

CORE_CONFIG = """
version: 1
defaults:
  reservation_timeout_seconds: {webchat: 600}
  heartbeat_timeout_seconds: 3600
queues:
  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 30, returning_agent_seconds: 20}
agents:
  - {id: alice, skills: {support: 8}, queues: [support]}
  - {id: bob, skills: {support: 5}, queues: [support]}
"""



async def offered_and_accepted(core: RouterCore, agent_id: str, visitor: str) -> str:
    """A new chat from `visitor`, accepted by `agent_id` (the only available agent); its id."""
    await core.intake([inbound_chat(visitor)])
    cid = core.threads[f"webchat:{visitor}"]
    [offer] = [r for r in core.reservations.values() if r.conversation_id == cid]
    assert offer.agent_id == agent_id
    await core.accept(agent_id, offer.id)
    return cid


def kinds(events: list[event_pb2.Event], kind: str) -> list[Any]:
    return [getattr(e, kind) for e in events if e.WhichOneof("kind") == kind]


async def test_the_wrap_up_timer_holds_the_agent_then_frees_them_and_sends_the_notes(
        core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    cid = await offered_and_accepted(core, "alice", "dave")
    now[0] += 120
    await core.wrap_up("alice", cid, "refund", True, "refunded order 1142")
    alice = core.engine.agents["alice"]
    now[0] += 29
    await core.tick()
    assert alice.state == eng.WRAP_UP and core.records[cid].conv.routing_state == routing_pb2.ROUTING_STATE_WRAP_UP
    now[0] += 2
    await core.tick()
    assert alice.state == eng.AVAILABLE and core.records[cid].conv.routing_state == routing_pb2.ROUTING_STATE_CLOSED

    events = await stored_events(bus)
    [wrapped] = kinds(events, "conversation_wrapped_up")
    assert (wrapped.agent_id, wrapped.disposition, wrapped.resolved, wrapped.notes) == (
        "alice", "refund", True, "refunded order 1142")
    assert (wrapped.talk_duration.seconds, wrapped.wrap_up_duration.seconds) == (120, 31)
    states = [c.to_state for c in kinds(events, "agent_state_changed") if c.agent_id == "alice"]
    assert states[-3:] == [routing_pb2.AGENT_STATE_BUSY, routing_pb2.AGENT_STATE_WRAP_UP,
                           routing_pb2.AGENT_STATE_AVAILABLE]


async def test_writing_during_wrap_up_ends_it_and_reopens_to_the_same_agent_first(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    cid = await offered_and_accepted(core, "alice", "carol")
    await core.set_presence("bob", eng.AVAILABLE)
    await core.wrap_up("alice", cid, "answered", True)
    alice = core.engine.agents["alice"]
    assert alice.state == eng.WRAP_UP

    await core.set_presence("alice", eng.AWAY, "lunch")  # goes on a break during her wrap-up
    now[0] += 5
    await core.intake([inbound_chat("carol", "one more thing")])
    conv = core.records[cid].conv
    assert conv.status == routing_pb2.CONVERSATION_STATUS_OPEN
    assert conv.routing_state == routing_pb2.ROUTING_STATE_QUEUED  # held for alice, the agent who knows it
    assert alice.used("webchat") == 0 and not alice.wrapping  # her wrap-up ended when carol wrote

    now[0] += 21  # alice's turn has passed: the next eligible agent takes it
    await core.tick()
    [reoffer] = core.reservations.values()
    assert reoffer.agent_id == "bob" and reoffer.conversation_id == cid
    await core.set_presence("alice", eng.AVAILABLE)
    assert alice.state == eng.AVAILABLE

    events = await stored_events(bus)
    assert [(w.agent_id, w.wrap_up_duration.seconds) for w in kinds(events, "conversation_wrapped_up")] == [
        ("alice", 5)]
    assert [r.previous_agent for r in kinds(events, "conversation_reopened")] == ["alice"]


async def test_the_agent_view_carries_the_time_in_state_and_the_wrap_up_deadline(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    alice = core.engine.agents["alice"]
    view = core.agent_proto(alice)
    assert view.state_time.ToSeconds() == 1_000 and not view.HasField("wrap_up_end_time")
    now[0] += 5
    cid = await offered_and_accepted(core, "alice", "erin")
    assert core.agent_proto(alice).state_time.ToSeconds() == 1_005  # BUSY since the offer
    now[0] += 60
    await core.wrap_up("alice", cid, "refund", True)
    view = core.agent_proto(alice)
    assert view.state == routing_pb2.AGENT_STATE_WRAP_UP
    assert (view.state_time.ToSeconds(), view.wrap_up_end_time.ToSeconds()) == (1_065, 1_095)  # queue: 30 s
    now[0] += 31
    await core.tick()
    view = core.agent_proto(alice)
    assert view.state == routing_pb2.AGENT_STATE_AVAILABLE and view.state_time.ToSeconds() == 1_096
    assert not view.HasField("wrap_up_end_time")
