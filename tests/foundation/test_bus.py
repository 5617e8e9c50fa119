"""The bus: dedupe by Nats-Msg-Id, batched publishing, dead-lettering and retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery, Reject, Retry, kv_key, new_event
from omnihub.common.errors import BusError
from omnihub.common.outgoing import Outgoing
from omnihub.testkit.waiting import barrier, eventually, read_messages

SMS = contact_pb2.CHANNEL_SMS


def inbound(i: int) -> messaging_pb2.InboundMessage:
    return messaging_pb2.InboundMessage(
        id=f"msg_{i}",
        channel=SMS,
        identity=contact_pb2.Identity(channel=SMS, source_id="+15550001111"),
        provider_message_id=f"SM{i}",
        text=messaging_pb2.TextPayload(text=f"hello {i}"),
    )


async def stream_count(bus: Bus, stream: str) -> int:
    info = await bus.js.stream_info(stream)
    return int(info.state.messages)


async def test_same_msg_id_twice_stores_one_message(bus: Bus) -> None:
    first = await bus.publish(subjects.inbound(SMS), inbound(1), msg_id="sms:SM1")
    second = await bus.publish(subjects.inbound(SMS), inbound(1), msg_id="sms:SM1")
    assert not first.duplicate
    assert second.duplicate
    assert await stream_count(bus, subjects.STREAM_CONTACTS_IN) == 1


async def test_batch_publish_acks_all_and_dedupes(bus: Bus) -> None:
    async with bus.batch() as batch:
        for i in range(500):
            await batch.publish(subjects.inbound(SMS), inbound(i), msg_id=f"sms:SM{i}")
        for i in range(100):  # a retry storm of the first 100
            await batch.publish(subjects.inbound(SMS), inbound(i), msg_id=f"sms:SM{i}")
    assert await stream_count(bus, subjects.STREAM_CONTACTS_IN) == 500


async def test_event_goes_to_its_subject(bus: Bus) -> None:
    evt = new_event(
        "test",
        conversation_id="cnv_1",
        conversation_assigned=event_pb2.ConversationAssigned(agent_id="alice"),
    )
    ack = await bus.publish_event(evt)
    assert ack.stream == subjects.STREAM_EVENTS
    msg = await bus.js.get_msg(subjects.STREAM_EVENTS, ack.seq)
    assert msg.subject == "contacts.events.conversation.assigned"
    assert event_pb2.Event.FromString(msg.data or b"").conversation_assigned.agent_id == "alice"


async def consume_all(bus: Bus, handler, **kw: object):  # type: ignore[no-untyped-def]
    return await bus.consume(
        stream=subjects.STREAM_CONTACTS_IN,
        durable="test",
        subjects=[subjects.INBOUND_ALL],
        message_type=messaging_pb2.InboundMessage,
        handler=handler,
        **kw,  # type: ignore[arg-type]
    )


async def dead_letters(bus: Bus, expected: int) -> list[Any]:  # nats Msg, headers read without None checks
    return await read_messages(bus, subjects.DEADLETTER_ALL, count=expected, timeout=20)


async def test_failing_message_is_dead_lettered_after_max_deliver_and_next_goes_on(bus: Bus) -> None:
    seen: list[str] = []
    attempts = {"poison": 0}

    async def handler(d: Delivery[messaging_pb2.InboundMessage]) -> None:
        if d.message.id == "msg_0":
            attempts["poison"] += 1
            raise Retry("provider down", delay=0.05)
        seen.append(d.message.id)

    await bus.publish(subjects.inbound(SMS), inbound(0), msg_id="sms:SM0")
    await bus.publish(subjects.inbound(SMS), inbound(1), msg_id="sms:SM1")
    consumer = await consume_all(bus, handler, max_deliver=3)
    dlq = await dead_letters(bus, 1)
    await consumer.stop()
    assert seen == ["msg_1"]
    assert attempts["poison"] == 3
    assert len(dlq) == 1
    headers = dlq[0].headers
    assert "provider down" in headers[subjects.HEADER_DLQ_REASON]
    assert headers[subjects.HEADER_DLQ_SUBJECT] == "contacts.inbound.sms"
    assert messaging_pb2.InboundMessage.FromString(dlq[0].data).id == "msg_0"


async def test_malformed_proto_is_dead_lettered_with_reason(bus: Bus) -> None:
    await bus.js.publish(subjects.inbound(SMS), b"\xff\xff\xff not a proto")
    await bus.publish(subjects.inbound(SMS), inbound(7), msg_id="sms:SM7")
    seen: list[str] = []

    async def handler(d: Delivery[messaging_pb2.InboundMessage]) -> None:
        seen.append(d.message.id)

    consumer = await consume_all(bus, handler)
    dlq = await dead_letters(bus, 1)
    await eventually(lambda: seen)
    await consumer.stop()
    assert seen == ["msg_7"]
    assert dlq[0].headers[subjects.HEADER_DLQ_REASON].startswith("decode:")


async def test_reject_dead_letters_at_once(bus: Bus) -> None:
    calls = 0

    async def handler(d: Delivery[messaging_pb2.InboundMessage]) -> None:
        nonlocal calls
        calls += 1
        raise Reject("body over 1600 characters")

    await bus.publish(subjects.inbound(SMS), inbound(3), msg_id="sms:SM3")
    consumer = await consume_all(bus, handler, max_deliver=5)
    dlq = await dead_letters(bus, 1)
    await consumer.stop()
    assert calls == 1
    assert dlq[0].headers[subjects.HEADER_DLQ_REASON] == "body over 1600 characters"


async def test_batch_handler_gets_batches(bus: Bus) -> None:
    sizes: list[int] = []

    async def handle_batch(ds: list[Delivery[messaging_pb2.InboundMessage]]) -> None:
        sizes.append(len(ds))

    async with bus.batch() as batch:
        for i in range(200):
            await batch.publish(subjects.inbound(SMS), inbound(i), msg_id=f"sms:SM{i}")
    consumer = await bus.consume(
        stream=subjects.STREAM_CONTACTS_IN,
        durable="batcher",
        subjects=[subjects.INBOUND_ALL],
        message_type=messaging_pb2.InboundMessage,
        batch_handler=handle_batch,
        batch=50,
    )
    await eventually(lambda: sum(sizes) >= 200)
    await consumer.stop()
    assert sum(sizes) == 200
    assert max(sizes) > 1


async def test_kv_bucket_round_trip(bus: Bus) -> None:
    kv = await bus.kv(subjects.KV_SMS_OPTOUT)
    await kv.put(kv_key("+15550001111"), b"1")
    again = await bus.kv(subjects.KV_SMS_OPTOUT)
    assert (await again.get(kv_key("+15550001111"))).value == b"1"
    assert kv_key("+86 138") == "=2B86=20138"
    assert kv_key("visitor.abc") == "visitor.abc"


def test_consume_needs_exactly_one_handler() -> None:
    async def run() -> None:
        b = Bus.__new__(Bus)
        await Bus.consume(
            b, stream="S", durable="d", subjects=["x"], message_type=messaging_pb2.InboundMessage
        )

    with pytest.raises(ValueError):
        asyncio.run(run())


def assigned_events(n: int, start: int = 0) -> list[event_pb2.Event]:
    return [new_event("test", id=f"evt_{i}", conversation_id=f"cnv_{i}",
                      conversation_assigned=event_pb2.ConversationAssigned(agent_id="alice"))
            for i in range(start, start + n)]


async def test_fast_batches_store_everything_in_order_across_flow_windows(bus: Bus) -> None:
    events = assigned_events(2500)  # the server acks every 500: the publisher waits for those acks
    stored = await bus.publish_many(subjects.STREAM_EVENTS, [Bus.event_message(e) for e in events])
    assert stored == 2500
    assert await stream_count(bus, subjects.STREAM_EVENTS) == 2500
    first = await bus.js.get_msg(subjects.STREAM_EVENTS, 1)
    last = await bus.js.get_msg(subjects.STREAM_EVENTS, 2500)
    assert event_pb2.Event.FromString(first.data or b"").conversation_id == "cnv_0"
    assert event_pb2.Event.FromString(last.data or b"").conversation_id == "cnv_2499"


async def test_a_fast_batch_repeating_stored_ids_stores_only_the_new_messages(bus: Bus) -> None:
    await bus.publish_many(subjects.STREAM_EVENTS, [Bus.event_message(e) for e in assigned_events(10)], min_batch=1)
    # a redelivered input processed again: ids 5-9 were stored, 10-14 are new; JetStream drops 5-9
    again = [Bus.event_message(e) for e in assigned_events(10, start=5)]
    assert await bus.publish_many(subjects.STREAM_EVENTS, again, min_batch=1) == 10
    assert await stream_count(bus, subjects.STREAM_EVENTS) == 15
    seqs = [(await bus.js.get_msg(subjects.STREAM_EVENTS, s)).data or b"" for s in range(1, 16)]
    assert [event_pb2.Event.FromString(d).id for d in seqs] == [f"evt_{i}" for i in range(15)]


async def test_a_fast_batch_to_a_stream_without_fast_batches_is_still_stored(bus: Bus) -> None:
    # the server refuses the batch ("batch publish is disabled"): nothing is lost, it goes one by one
    writes = [Outgoing(subjects.inbound(SMS), str(i).encode()) for i in range(20)]
    assert await bus.publish_many(subjects.STREAM_CONTACTS_IN, writes, min_batch=1) == 20
    assert await stream_count(bus, subjects.STREAM_CONTACTS_IN) == 20


async def test_a_message_the_stream_refuses_mid_batch_is_a_clear_error_and_the_rest_are_stored(bus: Bus) -> None:
    await bus.js.add_stream(name="SMALL", subjects=["small.>"], max_msg_size=100, allow_batched=True)
    writes = [Outgoing(f"small.{i}", b"x" * (500 if i == 7 else 10)) for i in range(30)]
    with pytest.raises(BusError, match=r"refused: .*message size"):
        await bus.publish_many("SMALL", writes, min_batch=1)
    assert await stream_count(bus, "SMALL") == 29  # the batch ended at 7; then each was sent with an ack


async def test_a_fast_batch_to_a_subject_no_stream_takes_is_a_clear_error(bus: Bus) -> None:
    with pytest.raises(BusError, match="refused: no stream"):
        await bus.publish_many(subjects.STREAM_EVENTS, [Outgoing("nowhere.at.all", b"x")] * 20)


async def test_enable_batched_lets_a_kv_bucket_take_fast_batches(bus: Bus) -> None:
    kv = await bus.kv("batched_test")
    await bus.enable_batched("KV_batched_test")
    assert (await bus.js.stream_info("KV_batched_test")).config.allow_batched
    writes = [Outgoing("$KV.batched_test.a", b"1"), Outgoing("$KV.batched_test.b", b"2"), Outgoing("$KV.batched_test.a", b"3")]
    await bus.publish_many("KV_batched_test", writes, min_batch=1)
    assert (await kv.get("a")).value == b"3"
    assert (await kv.get("b")).value == b"2"


async def test_pipelined_batches_overlap_start_in_order_and_are_each_acked(bus: Bus) -> None:
    order: list[str] = []
    overlap = {"now": 0, "most": 0}
    lock = asyncio.Lock()  # like the router's: effects in order, the commit outside it

    async def handle_batch(ds: list[Delivery[messaging_pb2.InboundMessage]]) -> None:
        overlap["now"] += 1
        overlap["most"] = max(overlap["most"], overlap["now"])
        async with lock:
            order.extend(d.message.id for d in ds)
        await asyncio.sleep(0.05)  # the group commit, while the next batch is handled
        overlap["now"] -= 1

    async with bus.batch() as batch:
        for i in range(300):
            await batch.publish(subjects.inbound(SMS), inbound(i), msg_id=f"sms:SM{i}")
    consumer = await bus.consume(
        stream=subjects.STREAM_CONTACTS_IN, durable="pipelined", subjects=[subjects.INBOUND_ALL],
        message_type=messaging_pb2.InboundMessage, batch_handler=handle_batch, batch=20, pipeline=2,
        prefetch=True, fast_fetch=True)
    await eventually(lambda: len(order) >= 300)
    await barrier(bus, "pipelined", stream=subjects.STREAM_CONTACTS_IN)
    await consumer.stop()
    assert order == [f"msg_{i}" for i in range(300)]  # handled once each, in stream order
    assert overlap["most"] == 2  # a second batch ran while the first was committing, never more
    info = await bus.js.consumer_info(subjects.STREAM_CONTACTS_IN, "pipelined")
    assert info.num_ack_pending == 0 and info.num_pending == 0  # all acked


async def test_a_few_messages_go_one_by_one_and_still_dedupe(bus: Bus) -> None:
    events = [Bus.event_message(e) for e in assigned_events(5)]
    assert await bus.publish_many(subjects.STREAM_EVENTS, events) == 5
    assert await bus.publish_many(subjects.STREAM_EVENTS, events) == 5  # a retry: the ids dedupe
    assert await stream_count(bus, subjects.STREAM_EVENTS) == 5


async def test_a_few_messages_to_a_subject_no_stream_takes_is_a_clear_error(bus: Bus) -> None:
    with pytest.raises(BusError, match="refused: no stream"):
        await bus.publish_many(subjects.STREAM_EVENTS, [Outgoing("nowhere.at.all", b"x")])


async def test_a_few_messages_are_stored_in_order_with_their_headers(bus: Bus) -> None:
    writes = [Outgoing(f"$KV.acked_test.k{i % 3}", str(i).encode()) for i in range(10)]
    await bus.kv("acked_test")
    assert await bus.publish_many("KV_acked_test", writes) == 10
    kv = await bus.kv("acked_test")
    assert [(await kv.get(f"k{i}")).value for i in range(3)] == [b"9", b"7", b"8"]  # the last write wins


async def test_fast_batches_keep_headers_and_strip_line_breaks_from_their_values(bus: Bus) -> None:
    subject = subjects.event("conversation", "assigned")
    writes = [Outgoing(subject, str(i).encode(), {subjects.HEADER_MSG_ID: f"hdr_{i}", "X-Note": "one\r\nNats-Fake: two"})
              for i in range(3)]
    assert await bus.publish_many(subjects.STREAM_EVENTS, writes, min_batch=1) == 3
    stored = [await bus.js.get_msg(subjects.STREAM_EVENTS, s) for s in (1, 2, 3)]
    assert [m.data for m in stored] == [b"0", b"1", b"2"]
    assert [(m.headers or {}).get(subjects.HEADER_MSG_ID) for m in stored] == ["hdr_0", "hdr_1", "hdr_2"]
    assert [(m.headers or {}).get("X-Note") for m in stored] == ["one  Nats-Fake: two"] * 3  # as nats-py frames the commit
    assert all("Nats-Fake" not in (m.headers or {}) for m in stored)


async def test_a_stop_that_cancels_a_slow_batch_hands_its_held_messages_back_at_once(bus: Bus) -> None:
    """A held message whose batch was still being handled when stop() gave up waiting (5 s) and cancelled it is
    nak'd like any held one, so the next consumer gets it at once, not after ack_wait (here 120 s)."""
    calls = 0
    stuck = asyncio.Event()

    async def hold_then_hang(ds: list[Delivery[messaging_pb2.InboundMessage]]) -> list[Delivery[Any]]:
        nonlocal calls
        calls += 1
        if calls > 1:  # handling it again (held deliveries go round with every fetch): a batch that does not end
            stuck.set()
            await asyncio.Event().wait()
        return list(ds)  # held

    await bus.publish(subjects.inbound(SMS), inbound(900), msg_id="sms:SM900")
    common: dict[str, Any] = {"stream": subjects.STREAM_CONTACTS_IN, "durable": "hang", "subjects": [subjects.INBOUND_ALL],
                              "message_type": messaging_pb2.InboundMessage, "ack_wait": 120.0}
    consumer = await bus.consume(batch_handler=hold_then_hang, **common)
    await asyncio.wait_for(stuck.wait(), 30)
    await consumer.stop()  # waits 5 s for the batch, then cancels it

    got: list[str] = []

    async def take(ds: list[Delivery[messaging_pb2.InboundMessage]]) -> None:
        got.extend(d.message.id for d in ds)

    again = await bus.consume(batch_handler=take, **common)
    await eventually(lambda: got == ["msg_900"], timeout=30)  # far under ack_wait: it was handed back
    await again.stop()
