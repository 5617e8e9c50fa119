"""Erased customers stay erased: the tombstone rule, every consumer applying it, and the shared bucket's watch."""

from __future__ import annotations

import asyncio
import contextlib
import json

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects, tombstones
from omnihub.common.bus import Bus, Delivery, new_event
from omnihub.common.tombstones import Tombstones
from omnihub.testkit.waiting import eventually

T = 1_800_000_000.0
PHONE = "+15557770123"
SMS = contact_pb2.CHANNEL_SMS


def ts(seconds: float) -> dict[str, int]:
    return {"seconds": int(seconds)}


def erased() -> Tombstones:
    t = Tombstones(b"k" * 32)
    t.add(t.record("cus_zed", [f"sms:{PHONE}"], ["conv_zed"], T))
    return t


def event(at: float, **fields: object) -> event_pb2.Event:
    evt = new_event("test", **fields)
    evt.time.FromSeconds(int(at))
    return evt


def inbound(at: float, phone: str = PHONE) -> messaging_pb2.InboundMessage:
    msg = messaging_pb2.InboundMessage(id="msg_1", channel=SMS, identity=contact_pb2.Identity(channel=SMS,
                                       source_id=phone), provider_message_id="SM1",
                                       text=messaging_pb2.TextPayload(text="Zed Quill here"))
    msg.receive_time.FromSeconds(int(at))
    return msg


def test_the_tombstone_names_no_one() -> None:
    t = erased()
    doc = t.record("cus_zed", [f"sms:{PHONE}", "email:zed@example.com"], ["conv_zed"], T)
    assert PHONE not in json.dumps(doc) and "15557770123" not in json.dumps(doc) and "zed@" not in json.dumps(doc)
    assert len(doc["identities"]) == 2 and all(len(d) == 64 for d in doc["identities"])
    assert Tombstones(b"other key").record("cus_zed", [f"sms:{PHONE}"], [], T)["identities"] != doc["identities"][:1]


def test_late_events_lose_the_customer_and_his_content() -> None:
    t = erased()
    ident = contact_pb2.Identity(channel=SMS, source_id=PHONE)
    message = event(T + 60, customer_id="cus_zed", conversation_id="conv_zed", identity=ident,
                    message_created=event_pb2.MessageCreated(message=messaging_pb2.Message(id="m1", text="Zed here")))
    assert t.scrub(message) is None  # customer content: dropped
    closed = event(T + 60, conversation_id="conv_zed", thread_key="SM1", identity=ident,
                   conversation_wrapped_up=event_pb2.ConversationWrappedUp(agent_id="alice", notes="Zed is upset"))
    kept = t.scrub(closed)
    assert isinstance(kept, event_pb2.Event) and kept.conversation_id == "conv_zed"  # KPIs still count it
    assert kept.conversation_wrapped_up.agent_id == "alice" and not kept.conversation_wrapped_up.notes
    assert not kept.customer_id and not kept.HasField("identity") and not kept.thread_key
    created = event(T + 1, conversation_id="conv_new", conversation_created=event_pb2.ConversationCreated(
        conversation=routing_pb2.Conversation(id="conv_new", customer_id="cus_zed", preview="Zed Quill here",
                                              customer_display_name="Zed", queue="support")))
    conv = t.event(created).conversation_created.conversation  # type: ignore[union-attr]
    assert conv.queue == "support" and not conv.customer_id and not conv.preview and not conv.customer_display_name
    # His number before the erasure (an event of another conversation) is his; after it, a new contact's.
    old = event(T - 5, conversation_id="conv_x", identity=ident, message_created=event_pb2.MessageCreated())
    new = event(T + 5, conversation_id="conv_y", customer_id="cus_new", identity=ident,
                message_created=event_pb2.MessageCreated())
    assert t.scrub(old) is None and t.scrub(new) is new
    t.add({"customer_id": "cus_zed", "time": T, "aliases": ["cus_merged_away"]})  # the router's addition
    assert t.scrub(event(T + 9, customer_id="cus_merged_away", message_created=event_pb2.MessageCreated())) is None
    other = event(T - 5, customer_id="cus_other", message_created=event_pb2.MessageCreated())
    assert t.scrub(other) is other and Tombstones(b"k").scrub(message) is message  # no tombstones: unchanged


def test_inbound_before_the_erasure_is_dropped_and_after_it_is_a_new_contact() -> None:
    t = erased()
    assert t.scrub(inbound(T - 1)) is None and t.scrub(inbound(T)) is None  # a redelivery, a late publish
    assert t.scrub(inbound(T + 1)) is not None  # he writes again: a new customer
    assert t.scrub(inbound(T - 1, "+15550000000")) is not None  # someone else
    undated = inbound(T)
    undated.ClearField("receive_time")
    assert t.scrub(undated) is undated  # never placed before the erasure by default
    t.add({**t.record("cus_zed", [f"sms:{PHONE}"], [], T + 100)})  # erased again later: the later time holds
    assert t.scrub(inbound(T + 1)) is None


def test_a_reply_queued_for_an_erased_customer_is_never_sent() -> None:
    t = erased()
    to_him = contact_pb2.Identity(channel=SMS, source_id=PHONE)

    def reply(conversation: str, at: float | None) -> messaging_pb2.OutboundMessage:
        out = messaging_pb2.OutboundMessage(id="out_1", channel=SMS, identity=to_him, conversation_id=conversation,
                                            text="Dear Zed")
        if at is not None:
            out.create_time.FromSeconds(int(at))
        return out

    assert t.scrub(reply("conv_zed", T + 60)) is None  # his erased conversation
    assert t.scrub(reply("conv_other", T - 60)) is None  # written to his number before the erasure
    later = reply("conv_new", T + 60)
    assert t.scrub(later) is later and t.scrub(reply("conv_new", None)) is not None  # the new customer's


async def test_every_consumer_applies_the_tombstones_from_the_shared_bucket(bus: Bus) -> None:
    other = await Bus.connect(bus.nc.connected_url.geturl(), name="replica")  # type: ignore[union-attr]
    stack = contextlib.AsyncExitStack()
    try:
        first = Tombstones(b"k" * 32)
        await tombstones.put(bus, first, first.record("cus_old", ["sms:+15550001111"], ["conv_old"], T))
        replica = Tombstones(b"k" * 32)
        await tombstones.watch(other, replica, stack)  # a replica starting: the stored one is loaded first
        assert "cus_old" in replica.customers and other.scrub is not None
        got: list[event_pb2.Event] = []

        async def handle(d: Delivery[event_pb2.Event]) -> None:
            got.append(d.message)

        consumer = await other.consume(stream=subjects.STREAM_EVENTS, durable="tomb-test",
                                       subjects=[subjects.EVENTS_ALL], message_type=event_pb2.Event, handler=handle)
        stack.push_async_callback(consumer.stop)
        await tombstones.put(bus, first, first.record("cus_zed", [f"sms:{PHONE}"], ["conv_zed"], T))
        await eventually(lambda: "cus_zed" in replica.customers, timeout=10)  # followed live
        for evt in (event(T + 9, customer_id="cus_zed", message_created=event_pb2.MessageCreated()),
                    event(T + 9, conversation_id="conv_old", conversation_resolved=event_pb2.ConversationResolved(
                        agent_id="bob")),
                    event(T + 9, customer_id="cus_new", message_created=event_pb2.MessageCreated())):
            await bus.publish_event(evt)
        await eventually(lambda: len(got) == 2, timeout=10)
        await asyncio.sleep(0)
        assert [g.customer_id for g in got] == ["", "cus_new"] and got[0].conversation_resolved.agent_id == "bob"
        assert [json.loads(e.value or b"{}")["customer_id"] for e in
                [await (await bus.kv(tombstones.BUCKET)).get(k) for k in ("cus_old", "cus_zed")]] == ["cus_old",
                                                                                                     "cus_zed"]
    finally:
        await stack.aclose()
        await other.close()


async def test_an_erasure_waits_for_batches_decoded_before_its_tombstone(bus: Bus) -> None:
    """A late event already in a batch when the tombstone comes is written first; `Bus.settled` returns only then,
    so the erasure that follows removes it. A delivery a handler held is scrubbed again when handed back."""
    t = Tombstones(b"k" * 32)
    bus.scrub = t.scrub
    release = asyncio.Event()
    got: list[str] = []

    async def slow(d: Delivery[event_pb2.Event]) -> None:
        got.append(d.message.customer_id)
        await release.wait()  # a handler still writing when the erasure starts

    consumer = await bus.consume(stream=subjects.STREAM_EVENTS, durable="settle-test", subjects=[subjects.EVENTS_ALL],
                                 message_type=event_pb2.Event, handler=slow)
    try:
        await bus.publish_event(event(T, customer_id="cus_zed", message_created=event_pb2.MessageCreated()))
        await eventually(lambda: got == ["cus_zed"], timeout=10)  # decoded before the tombstone
        t.add(t.record("cus_zed", [], [], T))
        settled = asyncio.create_task(bus.settled(10))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not settled.done()  # its write is not done: erasing now would be undone by it
        release.set()
        assert await settled is True
        assert await bus.settled(1) is True  # nothing in flight: at once
    finally:
        release.set()
        await consumer.stop()

    held_once: list[str] = []
    handled: list[str] = []

    async def holding(batch: list[Delivery[event_pb2.Event]]) -> list[Delivery[event_pb2.Event]]:
        if not held_once:  # keep the first back for the next batch (as the inbox groups related events)
            held_once.append(batch[0].message.customer_id)
            t.add(t.record("cus_held", [], [], T))  # ... and meanwhile the customer is erased
            return batch[:1]
        handled.extend(d.message.customer_id for d in batch)
        return []

    consumer = await bus.consume(stream=subjects.STREAM_EVENTS, durable="hold-test", subjects=["contacts.events.message.sent"],
                                 message_type=event_pb2.Event, batch_handler=holding)
    try:
        await bus.publish_event(event(T, customer_id="cus_held", message_sent=event_pb2.MessageSent()))
        await eventually(lambda: held_once == ["cus_held"], timeout=10)
        await bus.publish_event(event(T, customer_id="cus_next", message_sent=event_pb2.MessageSent()))
        await eventually(lambda: "cus_next" in handled, timeout=10)
        assert "cus_held" not in handled
    finally:
        await consumer.stop()
