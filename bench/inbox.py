"""Inbox event consumer: contacts.events.> from JetStream through the inbox's consumer into MongoDB, beside bare
consumption (decode and ack only) of the same stream, in the same run."""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery
from omnihub.common.logging import configure_logging
from omnihub.inbox.live import EVENT_BATCH, Hub, consume_events
from omnihub.inbox.store import InboxStore
from omnihub.testkit.servers import MongoServer, NatsServer

RUNS = 3


def events(n: int, tag: str, seed: int = 1) -> list[event_pb2.Event]:
    """A contact-centre mix: per conversation queued, assigned, 3 messages in, 3 out with sent+delivered, resolved."""
    rng = random.Random(seed)
    out: list[event_pb2.Event] = []
    t0 = time.time() - 3600
    i = 0
    while len(out) < n:
        cid, cus = f"{tag}c{i}", f"cus_{rng.randrange(5000)}"

        def ev(j: int, **kind: object) -> event_pb2.Event:
            e = event_pb2.Event(id=f"evt_{tag}{i}_{j}", conversation_id=cid, customer_id=cus, queue="support",  # noqa: B023
                                channel=contact_pb2.CHANNEL_SMS, source="bench")
            e.time.FromNanoseconds(int((t0 + i * 0.1 + j * 0.01) * 1e9))  # noqa: B023
            for name, value in kind.items():
                getattr(e, name).CopyFrom(value)
            return e

        seq = [ev(0, conversation_queued=event_pb2.ConversationQueued(queue="support")),
               ev(1, conversation_assigned=event_pb2.ConversationAssigned(agent_id=f"a{i % 50}", queue="support"))]
        for k in range(3):
            incoming = messaging_pb2.Message(id=f"in_{tag}{i}_{k}", conversation_id=cid, text="Hello, my order " * 4,
                                             direction=messaging_pb2.DIRECTION_INCOMING, channel=contact_pb2.CHANNEL_SMS)
            outgoing = messaging_pb2.Message(id=f"out_{tag}{i}_{k}", conversation_id=cid, text="Sure, let me check. " * 3,
                                             direction=messaging_pb2.DIRECTION_OUTGOING, agent_id=f"a{i % 50}",
                                             channel=contact_pb2.CHANNEL_SMS)
            seq += [ev(2 + 4 * k, message_created=event_pb2.MessageCreated(message=incoming)),
                    ev(3 + 4 * k, message_created=event_pb2.MessageCreated(message=outgoing)),
                    ev(4 + 4 * k, message_sent=event_pb2.MessageSent(message_id=outgoing.id)),
                    ev(5 + 4 * k, message_delivered=event_pb2.MessageDelivered(message_id=outgoing.id))]
        seq.append(ev(14, conversation_resolved=event_pb2.ConversationResolved(agent_id=f"a{i % 50}", resolved=True)))
        out += seq
        i += 1
    return out[:n]


async def publish(bus: Bus, evs: list[event_pb2.Event]) -> None:
    await bus.js.purge_stream(subjects.STREAM_EVENTS)
    async with bus.batch() as batch:
        for e in evs:
            await batch.publish_event(e)


async def drain(bus: Bus, n: int, durable: str, handle: object) -> float:
    """Events per second for a consumer started on a full stream until it has handled `n`."""
    done = asyncio.Event()
    seen = 0

    async def counting(batch: list[Delivery[event_pb2.Event]]) -> None:
        nonlocal seen
        if handle is not None:
            await handle(batch)  # type: ignore[operator]
        seen += len(batch)
        if seen >= n:
            done.set()

    start = time.perf_counter()
    consumer = await consume_events(bus, counting, durable=durable)
    await asyncio.wait_for(done.wait(), 600)
    rate = n / (time.perf_counter() - start)
    await consumer.stop()
    return rate


async def main() -> None:
    configure_logging("bench", "WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=30_000)
    args = parser.parse_args()
    with MongoServer() as mongo, NatsServer() as nats:
        bus = await Bus.connect(nats.url, name="bench")
        await bus.ensure_streams()
        bare = inbox = 0.0
        stored = 0
        for run in range(RUNS):  # new ids each run: JetStream drops ids it saw in the last 2 minutes
            evs = events(args.events, tag=f"r{run}")
            await publish(bus, evs)
            bare = max(bare, await drain(bus, len(evs), f"bench_bare_{run}", None))
            store = InboxStore(mongo.url, f"bench_inbox_{run}")
            await store.setup()
            hub = Hub(store, None)  # type: ignore[arg-type]  # no router: nobody has a socket open
            inbox = max(inbox, await drain(bus, len(evs), f"bench_inbox_{run}", hub.on_events))
            stored = await store.messages.count_documents({})
            delivered = await store.states.count_documents({"state": "delivered"})
            assert stored == sum(e.WhichOneof("kind") == "message_created" for e in evs), stored
            assert delivered == stored // 2, delivered
            await store.client.drop_database(f"bench_inbox_{run}")
            await store.close()
        await bus.close()
    print(f"{args.events:,} events (6 of 15 per conversation are messages, 6 delivery states) already in JetStream, "
          f"consumer batches of up to {EVENT_BATCH:,}; best of {RUNS} runs; SecantusDB")
    print(f"  {'bare consumption (decode and ack only)':<52}{bare:>10,.0f} events/s")
    print(f"  {'inbox consumer (messages and states in MongoDB)':<52}{inbox:>10,.0f} events/s  {inbox / bare:.2f}")
    print(f"  ({stored:,} messages stored in the last run)")


if __name__ == "__main__":
    asyncio.run(main())
