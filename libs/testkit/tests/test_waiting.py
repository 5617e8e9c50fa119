"""eventually(), read_messages()/read_events() and barrier() against a real nats-server."""

from __future__ import annotations

import asyncio

import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery, new_event
from omnihub.testkit.waiting import barrier, eventually, read_events, read_messages

SMS = contact_pb2.CHANNEL_SMS


def assigned(agent: str) -> event_pb2.Event:
    return new_event("test", conversation_id=f"cnv_{agent}", conversation_assigned=event_pb2.ConversationAssigned(agent_id=agent))


def sent(message_id: str) -> event_pb2.Event:
    return new_event("test", conversation_id="cnv_1", message_sent=event_pb2.MessageSent(message_id=message_id))


async def test_eventually_returns_the_first_truthy_value_of_a_sync_or_async_predicate() -> None:
    calls = 0

    def sync() -> int:
        nonlocal calls
        calls += 1
        return calls if calls >= 3 else 0

    async def asynchronous() -> str:
        return "yes"

    assert await eventually(sync, interval=0.001) == 3
    assert await eventually(asynchronous) == "yes"


async def test_eventually_fails_with_its_message_and_the_last_value() -> None:
    queue = [1, 2]
    with pytest.raises(AssertionError, match=r"a big one arrives: not true within 0.1s; last value: \[\]"):
        await eventually(lambda: [x for x in queue if x > 5], timeout=0.1, message="a big one arrives")


async def test_eventually_reports_the_last_assertion_and_propagates_other_errors() -> None:
    def check() -> bool:
        assert 1 + 1 == 3, "arithmetic"
        return True

    with pytest.raises(AssertionError, match="last assertion: arithmetic"):
        await eventually(check, timeout=0.1)

    def broken() -> bool:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        await eventually(broken, timeout=5)


async def test_read_events_reads_what_is_stored_by_kind_and_leaves_no_consumer(bus: Bus) -> None:
    assert await read_events(bus, "conversation_assigned") == []
    for agent in ("alice", "bob"):
        await bus.publish_event(assigned(agent))
    await bus.publish_event(sent("out_1"))
    got = await read_events(bus, "conversation_assigned")
    assert [e.conversation_assigned.agent_id for e in got] == ["alice", "bob"]
    both = await read_events(bus, "conversation_assigned", "message_sent")
    assert len(both) == 3
    assert len(await read_events(bus)) == 3
    assert len(await read_events(bus, "contacts.events.message.>")) == 1
    info = await bus.js.stream_info(subjects.STREAM_EVENTS)
    assert info.state.consumer_count == 0


async def test_read_events_waits_for_a_count_or_a_predicate(bus: Bus) -> None:
    async def later() -> None:
        await asyncio.sleep(0.3)
        await bus.publish_event(sent("out_late"))

    task = asyncio.create_task(later())
    got = await read_events(bus, "message_sent", count=1, timeout=5)
    await task
    assert [e.message_sent.message_id for e in got] == ["out_late"]
    got = await read_events(bus, "message_sent", until=lambda evs: evs[0].message_sent.message_id == "out_late")
    assert len(got) == 1


async def test_read_events_fails_clearly_when_the_count_never_comes(bus: Bus) -> None:
    await bus.publish_event(sent("out_1"))
    with pytest.raises(AssertionError, match=r"2 messages.*read 1: \['contacts.events.message.sent'\]"):
        await read_events(bus, "message_sent", count=2, timeout=0.3)


async def test_read_messages_spans_streams(bus: Bus) -> None:
    msg = messaging_pb2.InboundMessage(id="m1", channel=SMS)
    await bus.publish(subjects.inbound(SMS), msg, msg_id="m1")
    await bus.publish_event(sent("out_1"))
    got = await read_messages(bus, "contacts.>")
    assert sorted(m.subject for m in got) == ["contacts.events.message.sent", "contacts.inbound.sms"]
    assert messaging_pb2.InboundMessage.FromString(
        (await read_messages(bus, subjects.INBOUND_ALL))[0].data
    ).id == "m1"


async def test_barrier_waits_until_the_consumer_has_processed_what_was_stored(bus: Bus) -> None:
    handled: list[str] = []
    release = asyncio.Event()

    async def slow(delivery: Delivery[messaging_pb2.InboundMessage]) -> None:
        await release.wait()
        handled.append(delivery.message.id)

    consumer = await bus.consume(
        stream=subjects.STREAM_CONTACTS_IN,
        durable="slow",
        subjects=[subjects.INBOUND_ALL],
        message_type=messaging_pb2.InboundMessage,
        handler=slow,
    )
    try:
        for i in range(3):
            await bus.publish(subjects.inbound(SMS), messaging_pb2.InboundMessage(id=f"m{i}"), msg_id=f"m{i}")
        with pytest.raises(AssertionError, match="consumer slow on CONTACTS_IN to process up to seq 3"):
            await barrier(bus, "slow", timeout=0.3)
        release.set()
        await barrier(bus, "slow", stream=subjects.STREAM_CONTACTS_IN)
        assert handled == ["m0", "m1", "m2"]
    finally:
        await consumer.stop()
