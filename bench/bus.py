"""Bus throughput: omnihub.common.bus beside bare nats-py, same server, same run."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import nats
from nats.js import api

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery
from omnihub.common.logging import configure_logging
from omnihub.common.outgoing import Outgoing
from omnihub.testkit.servers import NatsServer

SMS = contact_pb2.CHANNEL_SMS
WINDOW = 2_000


def payloads(n: int) -> list[messaging_pb2.InboundMessage]:
    return [
        messaging_pb2.InboundMessage(
            id=f"msg_{i}",
            channel=SMS,
            identity=contact_pb2.Identity(channel=SMS, source_id="+15550001111"),
            provider_message_id=f"SM{i:032d}",
            text=messaging_pb2.TextPayload(text="Hello, I need help with my order"),
        )
        for i in range(n)
    ]


async def bare(url: str, msgs: list[messaging_pb2.InboundMessage]) -> tuple[float, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(api.StreamConfig(name="BARE", subjects=["bare.>"], storage=api.StorageType.FILE))
    data = [m.SerializeToString() for m in msgs]
    start = time.perf_counter()
    for lo in range(0, len(data), WINDOW):
        futures = [
            await js.publish_async("bare.sms", d, headers={"Nats-Msg-Id": f"b{lo + i}"})
            for i, d in enumerate(data[lo : lo + WINDOW])
        ]
        await asyncio.gather(*futures)
    pub = len(data) / (time.perf_counter() - start)
    sub = await js.pull_subscribe("bare.>", durable="bare")
    got = 0
    start = time.perf_counter()
    while got < len(data):
        for m in await sub.fetch(256, timeout=5):
            messaging_pb2.InboundMessage.FromString(m.data)
            await m.ack()
            got += 1
    con = got / (time.perf_counter() - start)
    await nc.close()
    return pub, con


async def ours(url: str, msgs: list[messaging_pb2.InboundMessage]) -> tuple[float, float, float]:
    bus = await Bus.connect(url, name="bench")
    await bus.ensure_streams()
    start = time.perf_counter()
    for lo in range(0, len(msgs), WINDOW):
        async with bus.batch() as batch:
            for m in msgs[lo : lo + WINDOW]:
                await batch.publish(subjects.inbound(SMS), m, msg_id=f"sms:{m.provider_message_id}")
    pub = len(msgs) / (time.perf_counter() - start)
    done = asyncio.Event()
    got = 0

    async def handler(d: Delivery[messaging_pb2.InboundMessage]) -> None:
        nonlocal got
        got += 1
        if got >= len(msgs):
            done.set()

    rates = []
    for durable, fast in (("bench", False), ("bench-fast", True)):
        done.clear()
        got = 0
        start = time.perf_counter()
        consumer = await bus.consume(
            stream=subjects.STREAM_CONTACTS_IN,
            durable=durable,
            subjects=[subjects.INBOUND_ALL],
            message_type=messaging_pb2.InboundMessage,
            handler=handler,
            batch=256,
            fast_fetch=fast,
        )
        await asyncio.wait_for(done.wait(), timeout=120)
        rates.append(got / (time.perf_counter() - start))
        await consumer.stop()
    await bus.close()
    return pub, rates[0], rates[1]


async def helpers(url: str, msgs: list[messaging_pb2.InboundMessage]) -> dict[str, float]:
    """Each nats-py-internal helper of omnihub.common._nats beside what it replaces, same server, same run:
    publish_many in batches of 500 (fast batch) vs the same with an ack each (AckedPublisher) vs
    nats-py's publish_async; batches of 8 with an ack each vs publish_async; a batch handler's acks
    (ack_all, one buffer) with fast_fetch vs nats-py's fetch."""
    bus = await Bus.connect(url, name="bench-helpers")
    await bus.ensure_streams()
    await bus.enable_batched(subjects.STREAM_CONTACTS_IN)  # as the events stream and the router's KV buckets
    subject = subjects.inbound(SMS)
    rates: dict[str, float] = {}

    async def timed(name: str, run: Callable[[list[Outgoing]], Awaitable[object]], chunk: int, tag: str) -> None:
        out = [Outgoing(subject, m.SerializeToString(), {subjects.HEADER_MSG_ID: f"{tag}:{m.provider_message_id}"})
               for m in msgs]
        start = time.perf_counter()
        for lo in range(0, len(out), chunk):
            await run(out[lo : lo + chunk])
        rates[name] = len(out) / (time.perf_counter() - start)

    async def publish_async(batch: list[Outgoing]) -> None:
        futures = [await bus.js.publish_async(o.subject, o.payload, headers=o.headers) for o in batch]
        await asyncio.gather(*futures)

    stream = subjects.STREAM_CONTACTS_IN
    await timed("500: fast batch", lambda b: bus.publish_many(stream, b), 500, "f")
    await timed("500: acked each", lambda b: bus.publish_many(stream, b, min_batch=10**9), 500, "a")
    await timed("500: publish_async", publish_async, 500, "p")
    await timed("8: acked each", lambda b: bus.publish_many(stream, b), 8, "a8")
    await timed("8: publish_async", publish_async, 8, "p8")

    total = len(msgs)  # the first `total` of what was stored, by a batch handler
    done = asyncio.Event()
    got = 0

    async def batch_handler(ds: list[Delivery[messaging_pb2.InboundMessage]]) -> None:
        nonlocal got
        got += len(ds)
        if got >= total:
            done.set()

    for durable, fast in (("helpers-plain", False), ("helpers-fast", True)):
        done.clear()
        got = 0
        start = time.perf_counter()
        consumer = await bus.consume(stream=stream, durable=durable, subjects=[subject],
                                     message_type=messaging_pb2.InboundMessage, batch_handler=batch_handler,
                                     batch=256, fast_fetch=fast)
        await asyncio.wait_for(done.wait(), timeout=120)
        rates[f"batch consume, fast_fetch={fast}"] = got / (time.perf_counter() - start)
        await consumer.stop()
    await bus.close()
    return rates


async def main() -> None:
    configure_logging("bench", "WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    msgs = payloads(args.messages)
    with NatsServer() as server:
        bare_pub, bare_con = await bare(server.url, msgs)
        our_pub, our_con, fast_con = await ours(server.url, msgs)
    with NatsServer() as server:
        rates = await helpers(server.url, msgs)
    size = msgs[0].ByteSize()
    print(f"{args.messages} InboundMessage protobufs of {size} bytes, one nats-server, file storage")
    print(f"{'':<12}{'bare nats-py':>16}{'omnihub bus':>16}{'ratio':>8}")
    print(f"{'publish/s':<12}{bare_pub:>16,.0f}{our_pub:>16,.0f}{our_pub / bare_pub:>8.2f}")
    print(f"{'consume/s':<12}{bare_con:>16,.0f}{our_con:>16,.0f}{our_con / bare_con:>8.2f}")
    print(f"{'  fast_fetch':<12}{'':>16}{fast_con:>16,.0f}{fast_con / bare_con:>8.2f}")

    print("omnihub.common._nats helpers (messages/s)")
    for name, rate in rates.items():
        print(f"  {name:<32}{rate:>12,.0f}")


if __name__ == "__main__":
    asyncio.run(main())
