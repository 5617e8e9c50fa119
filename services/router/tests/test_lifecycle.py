"""A conversation's life in the router core, driven on a fake clock: wrap-up timers, transfers to an
agent, business hours, reopening, max wait, and live queue statistics."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore

from .conftest import fake_clock, inbound
from .conftest import inbound as inbound_chat
from .test_flush import stored_events
from .test_wrap_up import kinds, offered_and_accepted

RS = routing_pb2
BERLIN = ZoneInfo("Europe/Berlin")
CORE_CONFIG = """
version: 1
defaults:
  reservation_timeout_seconds: {webchat: 600, voice: 600}
  heartbeat_timeout_seconds: 86400
queues:
  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 30, returning_agent_seconds: 20}
  - name: billing
    wrap_up_seconds: 0
    business_hours:
      time_zone: Europe/Berlin
      weekly: {mon: ["09:00-17:00"], tue: ["09:00-17:00"]}
      holidays: [2024-04-01]
    closed_message: Billing opens at 9:00, Berlin time.
  - {name: phone, max_wait_seconds: 60, wrap_up_seconds: 0}
  - {name: sales, max_wait_seconds: 60, overflow_queue: support, wrap_up_seconds: 0}
agents:
  - {id: alice, skills: {support: 8}, queues: [support, phone], capacity: {webchat: 1}}
  - {id: bob, skills: {support: 5}, queues: [support, billing]}
  - {id: carol, skills: {support: 5}, queues: [support]}
"""



def offers(core: RouterCore) -> dict[str, str]:
    """Conversation id -> agent offered it, for every offer in flight."""
    return {r.conversation_id: r.agent_id for r in core.reservations.values()}


async def accept(core: RouterCore, agent_id: str, conversation_id: str) -> None:
    [res] = [r for r in core.reservations.values() if r.conversation_id == conversation_id]
    assert res.agent_id == agent_id
    await core.accept(agent_id, res.id)


async def stored_outbound(bus: Bus) -> list[messaging_pb2.OutboundMessage]:
    info = await bus.js.stream_info(subjects.STREAM_CONTACTS_OUT)
    if not info.state.messages:
        return []
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(subjects.STREAM_CONTACTS_OUT, seq)
        out.append(messaging_pb2.OutboundMessage.FromString(msg.data or b""))
    return out


def voice_call(call_sid: str, queue: str) -> messaging_pb2.InboundMessage:
    """A call the IVR has put in `queue`."""
    msg = inbound_chat(call_sid, channel=contact_pb2.CHANNEL_VOICE, queue=queue)
    msg.ClearField("text")
    msg.voice.event = messaging_pb2.CALL_EVENT_TYPE_QUEUED
    return msg


async def test_wrap_up_holds_the_agent_for_the_queues_wrap_up_seconds(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)  # one web chat at a time
    first = await offered_and_accepted(core, "alice", "dave")
    await core.intake([inbound_chat("erin")])
    waiting = core.threads["webchat:erin"]
    alice = core.engine.agents["alice"]

    now[0] += 120
    await core.wrap_up("alice", first, "answered", True)
    now[0] += 29
    await core.tick()
    assert alice.state == eng.WRAP_UP and alice.used("webchat") == 1  # the wrap-up holds her slot
    assert not core.reservations and core.records[waiting].conv.routing_state == RS.ROUTING_STATE_QUEUED
    now[0] += 1
    await core.tick()
    assert core.records[first].conv.routing_state == RS.ROUTING_STATE_CLOSED
    assert offers(core) == {waiting: "alice"}  # freed by the timer, she takes the next chat at once

    events = await stored_events(bus)
    [wrapped] = kinds(events, "conversation_wrapped_up")
    assert (wrapped.talk_duration.seconds, wrapped.wrap_up_duration.seconds) == (120, 30)
    assert [c.to_state for c in kinds(events, "agent_state_changed") if c.agent_id == "alice"] == [
        RS.AGENT_STATE_AVAILABLE, RS.AGENT_STATE_BUSY, RS.AGENT_STATE_WRAP_UP, RS.AGENT_STATE_AVAILABLE,
        RS.AGENT_STATE_BUSY]


async def test_transfer_to_an_agent_offers_them_the_same_conversation(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    for agent_id, idle_since in (("alice", 900.0), ("carol", 950.0), ("bob", 990.0)):
        await core.set_presence(agent_id, eng.AVAILABLE)
        core.engine.set_idle(core.engine.agents[agent_id], idle_since)
    cid = await offered_and_accepted(core, "alice", "ivan")
    answered = core.records[cid].conv.answer_time.seconds
    now[0] += 60
    await core.intake([inbound_chat("ivan", "can I change my plan?")])

    await core.transfer("alice", cid, "bob", "", "plan change")
    alice = core.engine.agents["alice"]
    assert alice.state == eng.AVAILABLE and alice.used("webchat") == 0
    assert offers(core) == {cid: "bob"}  # not carol, who has been idle longer
    now[0] += 5
    await accept(core, "bob", cid)
    conv = core.records[cid].conv
    assert conv.assigned_agent == "bob" and conv.routing_state == RS.ROUTING_STATE_ASSIGNED
    assert core.threads["webchat:ivan"] == cid and conv.answer_time.seconds == answered
    assert [d.chosen_agent for d in core.explain(cid)] == ["alice", "bob"]

    events = [e for e in await stored_events(bus) if e.conversation_id == cid]
    [moved] = kinds(events, "conversation_transferred")
    assert (moved.from_agent, moved.to_agent, moved.to_queue, moved.note) == ("alice", "bob", "", "plan change")
    assert len(kinds(events, "message_created")) == 2
    assert [(a.agent_id, a.first_answer, a.wait_duration.seconds) for a in kinds(events, "conversation_assigned")] == [
        ("alice", True, 0), ("bob", False, 5)]


async def test_outside_business_hours_a_chat_waits_with_one_closed_message(core: RouterCore, bus: Bus) -> None:
    # Easter Monday is a holiday; the queue opens on Tuesday at 9:00 in Berlin (7:00 UTC)
    now = fake_clock(core, dt.datetime(2024, 4, 1, 10, 0, tzinfo=BERLIN).timestamp())
    await core.set_presence("bob", eng.AVAILABLE)
    await core.intake([inbound_chat("frank", queue="billing")])
    await core.intake([inbound_chat("frank", "hello?", queue="billing")])
    cid = core.threads["webchat:frank"]
    [stats] = core.queue_stats(RS.GetQueueStatsRequest(queues=["billing"])).stats
    assert not stats.open_now and stats.waiting == 1 and not core.reservations

    now[0] = dt.datetime(2024, 4, 2, 8, 59, 59, tzinfo=BERLIN).timestamp()
    await core.tick()
    assert not core.reservations and core.records[cid].conv.routing_state == RS.ROUTING_STATE_QUEUED
    now[0] += 1
    await core.tick()
    assert offers(core) == {cid: "bob"}

    replies = await stored_outbound(bus)
    assert [(r.conversation_id, r.kind, r.text) for r in replies] == [
        (cid, messaging_pb2.OUTBOUND_KIND_AUTO_REPLY, "Billing opens at 9:00, Berlin time.")]
    [queued] = kinds(await stored_events(bus), "conversation_queued")
    assert (queued.queue, queued.open_now) == ("billing", False)


async def test_the_customer_writing_again_reopens_the_conversation_to_the_same_agent(
        core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    for agent_id, idle_since in (("alice", 900.0), ("bob", 950.0)):
        await core.set_presence(agent_id, eng.AVAILABLE)
        core.engine.set_idle(core.engine.agents[agent_id], idle_since)
    cid = await offered_and_accepted(core, "alice", "hana")
    now[0] += 60
    await core.wrap_up("alice", cid, "answered", True)
    now[0] += 30
    await core.tick()
    assert core.records[cid].conv.routing_state == RS.ROUTING_STATE_CLOSED

    # after the close: the same conversation opens again, and goes to alice though bob idles longer
    now[0] += 10
    await core.intake([inbound_chat("hana", "it broke again")])
    conv = core.records[cid].conv
    assert core.threads["webchat:hana"] == cid and conv.status == RS.CONVERSATION_STATUS_OPEN
    assert offers(core) == {cid: "alice"}
    await accept(core, "alice", cid)

    # during the wrap-up: the wrap-up ends there and it goes straight back to alice
    now[0] += 60
    await core.wrap_up("alice", cid, "answered", True)
    now[0] += 5
    await core.intake([inbound_chat("hana", "one more thing")])
    assert offers(core) == {cid: "alice"} and not core.engine.agents["alice"].wrapping
    assert core.records[cid].conv.status == RS.CONVERSATION_STATUS_OPEN

    events = [e for e in await stored_events(bus) if e.conversation_id == cid]
    assert [r.previous_agent for r in kinds(events, "conversation_reopened")] == ["alice", "alice"]
    assert [w.wrap_up_duration.seconds for w in kinds(events, "conversation_wrapped_up")] == [30, 5]
    assert [(d.chosen_agent, d.reason) for d in core.explain(cid)] == [
        ("alice", "strategy"), ("alice", "returning_customer"), ("alice", "returning_customer")]


async def test_past_max_wait_a_call_becomes_a_callback_and_a_chat_overflows(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    await core.set_presence("bob", eng.AVAILABLE)  # in support, not in phone or sales
    await core.intake([voice_call("CA1", "phone"), inbound_chat("gina", queue="sales")])
    call, chat = core.threads["voice:CA1"], core.threads["webchat:gina"]
    now[0] += 59
    await core.tick()
    assert not core.reservations and not kinds(await stored_events(bus), "conversation_overflowed")

    now[0] += 1
    await core.tick()
    assert core.records[call].conv.callback and core.records[call].conv.queue == "phone"
    assert core.records[call].conv.routing_state == RS.ROUTING_STATE_QUEUED
    assert core.records[chat].conv.queue == "support" and not core.records[chat].conv.callback
    assert offers(core) == {chat: "bob"}
    now[0] += 120  # a callback is not overflowed twice
    await core.tick()
    await core.set_presence("alice", eng.AVAILABLE)
    await accept(core, "alice", call)

    events = await stored_events(bus)
    assert sorted((e.conversation_id, e.conversation_overflowed.from_queue, e.conversation_overflowed.to_queue,
                   e.conversation_overflowed.reason)
                  for e in events if e.WhichOneof("kind") == "conversation_overflowed") == sorted([
        (call, "phone", "", "callback"), (chat, "sales", "support", "max_wait")])
    assert [(a.agent_id, a.callback) for a in kinds(events, "conversation_assigned")] == [("alice", True)]


async def test_queue_stats_count_waiting_agents_service_level_and_estimated_wait(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("bob", eng.AWAY, "lunch")
    await core.set_presence("alice", eng.AVAILABLE)  # one web chat at a time
    [before] = core.queue_stats(RS.GetQueueStatsRequest(queues=["support"])).stats
    assert before.answered_today == 0 and not before.HasField("service_level_today")  # "—", not 100%
    first = await offered_and_accepted(core, "alice", "v1")  # answered at once
    await core.intake([inbound_chat("v2")])
    second = core.threads["webchat:v2"]
    now[0] += 100
    await core.wrap_up("alice", first, "answered", True)  # 100 s talk + 30 s wrap-up: AHT 0.9*180 + 13 = 175
    now[0] += 30
    await core.tick()
    await accept(core, "alice", second)  # answered after 130 s, past the 20 s threshold
    await core.intake([inbound_chat("v3")])
    now[0] += 20
    await core.intake([inbound_chat("v4")])
    now[0] += 10

    response = core.queue_stats(RS.GetQueueStatsRequest(queues=["support"], thread_key="v4",
                                                        channel=contact_pb2.CHANNEL_WEBCHAT))
    [stats] = response.stats
    assert (stats.waiting, stats.longest_wait.seconds, dict(stats.agents_by_state)) == (
        2, 30, {"BUSY": 1, "AWAY": 1, "OFFLINE": 1})
    assert (stats.answered_today, stats.service_level_today, stats.active, stats.open_now) == (2, 0.5, 1, True)
    assert stats.estimated_wait.seconds == 525  # a new arrival is third in line for one staffed agent
    assert (response.position, response.estimated_wait.seconds) == (2, 350)

    await core.set_presence("bob", eng.AVAILABLE)  # back from lunch: he takes both, with room for more
    [stats] = core.queue_stats(RS.GetQueueStatsRequest(queues=["support"])).stats
    assert (stats.waiting, dict(stats.agents_by_state)) == (0, {"BUSY": 2, "OFFLINE": 1})
    assert stats.estimated_wait.ToNanoseconds() == 0  # a free agent answers a new arrival at once


async def test_a_transfer_the_target_rejects_goes_to_the_queue_at_once(core: RouterCore) -> None:
    now = fake_clock(core)
    for agent_id, idle_since in (("alice", 900.0), ("carol", 950.0), ("bob", 990.0)):
        await core.set_presence(agent_id, eng.AVAILABLE)
        core.engine.set_idle(core.engine.agents[agent_id], idle_since)
    cid = await offered_and_accepted(core, "alice", "judy")
    now[0] += 30
    await core.transfer("alice", cid, "bob", "", "")
    [res] = core.reservations.values()
    await core.reject("bob", res.id)
    assert offers(core) == {cid: "carol"}  # not held for bob, and not back to him after his exclusion


async def test_a_transfer_to_an_agent_outside_the_queue_reaches_them(core: RouterCore) -> None:
    fake_clock(core)
    for agent_id in ("alice", "carol"):
        await core.set_presence(agent_id, eng.AVAILABLE)
    await core.intake([inbound_chat("kim", queue="billing")])  # billing: closed today, and bob's queue
    cid = core.threads["webchat:kim"]
    await core.transfer("", cid, "carol", "", "she speaks Korean", requested_by="sam")
    assert offers(core) == {cid: "carol"}  # carol is not in billing, and billing is closed: sent to her by name
    [decision] = core.explain(cid)
    assert (decision.chosen_agent, decision.reason) == ("carol", "transfer")


async def test_agents_keep_their_idle_time_while_their_queue_is_closed(core: RouterCore) -> None:
    now = fake_clock(core, dt.datetime(2024, 4, 1, 10, 0, tzinfo=BERLIN).timestamp())
    await core.set_presence("bob", eng.AVAILABLE)
    bob = core.engine.agents["bob"]
    core.engine.set_idle(bob, now[0] - 3_600)
    await core.intake([inbound_chat("lena", queue="billing")])
    for _ in range(3):
        now[0] += 1
        await core.tick()
    assert not core.reservations and bob.last_idle == now[0] - 3 - 3_600  # no pretend offers while closed


async def test_the_closed_message_is_sent_again_when_a_customer_returns_after_hours(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core, dt.datetime(2024, 4, 2, 8, 0, tzinfo=BERLIN).timestamp())
    await core.set_presence("bob", eng.AVAILABLE)
    await core.intake([inbound_chat("mona", queue="billing")])
    cid = core.threads["webchat:mona"]
    now[0] = dt.datetime(2024, 4, 2, 9, 0, tzinfo=BERLIN).timestamp()
    await core.tick()
    await accept(core, "bob", cid)
    await core.heartbeat("bob")
    await core.wrap_up("bob", cid, "answered", True)
    now[0] = dt.datetime(2024, 4, 2, 20, 0, tzinfo=BERLIN).timestamp()
    await core.intake([inbound_chat("mona", "one more question", queue="billing")])
    replies = [r for r in await stored_outbound(bus) if r.kind == messaging_pb2.OUTBOUND_KIND_AUTO_REPLY]
    assert [r.conversation_id for r in replies] == [cid, cid]  # the morning's and the evening's


async def test_a_text_and_a_call_from_one_number_are_one_customer(core: RouterCore) -> None:
    number = "+8613800138077"
    texted = core.customers.customer_for(inbound(number, channel=contact_pb2.CHANNEL_SMS), 1.0)
    called = core.customers.customer_for(inbound(number, channel=contact_pb2.CHANNEL_VOICE), 2.0)
    assert called == texted
    assert core.customers.customer_for(inbound(number, channel=contact_pb2.CHANNEL_SMS), 3.0) == texted
    # another number, and a web-chat visitor whose id happens to be the number, are other people
    assert core.customers.customer_for(inbound("+8613800138078", channel=contact_pb2.CHANNEL_VOICE), 4.0) != texted
    assert core.customers.customer_for(inbound(number, channel=contact_pb2.CHANNEL_WEBCHAT), 5.0) != texted
    identities = {(i.channel, i.source_id) for i in core.customers.customer_proto(texted).identities}
    assert identities == {(contact_pb2.CHANNEL_SMS, number), (contact_pb2.CHANNEL_VOICE, number)}
    assert core.customers.customers[texted]["identities"] == [f"sms:{number}", f"voice:{number}"]  # kept for a restart
