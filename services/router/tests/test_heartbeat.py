"""An agent whose inbox stops sending heartbeats goes OFFLINE: un-accepted offers go back to the
queue, accepted conversations stay assigned and are flagged for a supervisor."""

from __future__ import annotations

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.bus import Bus
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore

from .conftest import CONFIG, fake_clock
from .conftest import inbound as inbound_chat
from .test_flush import stored_events

ASSIGNED, QUEUED = routing_pb2.ROUTING_STATE_ASSIGNED, routing_pb2.ROUTING_STATE_QUEUED
# offers outlast the heartbeat timeout, so only a lost heartbeat can take them back
CORE_CONFIG = CONFIG.replace("{webchat: 2,", "{webchat: 600,").replace(
    "missed_offers_before_away: 2", "missed_offers_before_away: 2\n  heartbeat_timeout_seconds: 30")


async def test_lost_heartbeats_set_offline_requeue_offers_and_flag_accepted_work(core: RouterCore, bus: Bus) -> None:
    timeout = core.config.defaults.heartbeat_timeout_seconds
    assert timeout == 30 and core.config.defaults.reservation_timeout_seconds["webchat"] == 600
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.set_presence("bob", eng.AVAILABLE)
    core.engine.set_idle(core.engine.agents["alice"], 900.0)  # alice first, then bob
    core.engine.set_idle(core.engine.agents["bob"], 950.0)

    kept, pending = inbound_chat("kept"), inbound_chat("pending")
    await core.intake([kept, pending])
    kept_id, pending_id = core.threads["webchat:kept"], core.threads["webchat:pending"]
    offers = {r.conversation_id: r for r in core.reservations.values()}
    assert offers[kept_id].agent_id == "alice" and offers[pending_id].agent_id == "bob"
    await core.accept("alice", offers[kept_id].id)

    # bob's inbox goes quiet; alice's keeps beating
    now[0] += timeout - 1
    await core.heartbeat("alice")
    now[0] += 2
    await core.tick()
    assert core.engine.agents["bob"].presence == eng.OFFLINE
    assert core.engine.agents["alice"].presence == eng.AVAILABLE
    [reoffer] = [r for r in core.reservations.values() if r.conversation_id == pending_id]
    assert reoffer.agent_id == "alice"  # bob's un-accepted offer went back and on to alice
    assert not core.records[kept_id].conv.flagged

    # now alice's inbox goes quiet too, holding one accepted chat and one offer
    now[0] += timeout + 1
    await core.tick()
    assert core.engine.agents["alice"].presence == eng.OFFLINE
    kept_conv, pending_conv = core.records[kept_id].conv, core.records[pending_id].conv
    assert kept_conv.routing_state == ASSIGNED and kept_conv.assigned_agent == "alice" and kept_conv.flagged
    assert pending_conv.routing_state == QUEUED and not core.reservations  # back in the queue, no one to offer

    events = await stored_events(bus)
    offline = [(e.agent_state_changed.agent_id, e.agent_state_changed.to_state) for e in events
               if e.WhichOneof("kind") == "agent_state_changed"
               and e.agent_state_changed.to_state == routing_pb2.AGENT_STATE_OFFLINE]
    assert offline == [("bob", routing_pb2.AGENT_STATE_OFFLINE), ("alice", routing_pb2.AGENT_STATE_OFFLINE)]
    flagged = [e for e in events if e.WhichOneof("kind") == "conversation_flagged"]
    assert [(e.conversation_id, e.conversation_flagged.agent_id, e.conversation_flagged.reason)
            for e in flagged] == [(kept_id, "alice", "heartbeat_lost")]
    withdrawn = [e.conversation_offer_ended.agent_id for e in events
                 if e.WhichOneof("kind") == "conversation_offer_ended"
                 and e.conversation_offer_ended.outcome == "withdrawn"]
    assert withdrawn == ["bob", "alice"]
