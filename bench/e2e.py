"""The hub flat out: signed SMS webhook -> offer -> accept -> wrap-up recorded in MongoDB, beside a bare NATS round trip."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp
import nats

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.cli.sim import model
from omnihub.cli.sim.hub import Hub, sms_number
from omnihub.common import identity


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else 0.0


async def bare_round_trip(url: str, n: int = 1000) -> list[float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BARE_E2E", subjects=["bare.e2e"])
    sub = await js.pull_subscribe("bare.e2e", durable="e2e")
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await js.publish("bare.e2e", str(i).encode())
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.ack()
        out.append(time.perf_counter() - t0)
    await nc.close()
    return out


BENCH = identity.Actor("bench", "admin")  # the driver acts for every agent, as an admin may


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=600)
    parser.add_argument("--agents", type=int, default=20)
    args = parser.parse_args()
    sc = model.single_skill(agents=args.agents)
    hub = Hub(sc, Path(tempfile.mkdtemp(prefix="omnihub-e2e-")), capacity=50)  # many SMS at once per agent
    try:
        await hub.start_fakes()
        await asyncio.to_thread(hub.start)
        channel = identity.channel(f"127.0.0.1:{hub.ports['router_grpc']}", hub.credentials, identity.ROUTER_AUDIENCE,
                                   BENCH)
        router = routing_pb2_grpc.RouterStub(channel)
        sent: dict[str, float] = {}
        offered: dict[str, float] = {}
        done = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def finish(agent: str, offer: routing_pb2.Offer) -> None:
            conv = await router.Accept(routing_pb2.AcceptRequest(agent_id=agent, reservation_id=offer.reservation_id))
            await router.WrapUp(routing_pb2.WrapUpRequest(agent_id=agent, conversation_id=conv.id, resolved=True))

        async def agent(agent_id: str) -> None:
            await router.Login(routing_pb2.LoginRequest(agent_id=agent_id))
            async for notice in router.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=agent_id)):
                if notice.WhichOneof("kind") == "offer":
                    offered.setdefault(notice.offer.conversation.thread_key, time.perf_counter())
                    tasks.add(asyncio.create_task(finish(agent_id, notice.offer)))
                    if len(offered) >= args.conversations:
                        done.set()

        agents = [asyncio.create_task(agent(f"sim{i}")) for i in range(args.agents)]
        await asyncio.sleep(1.0)
        url = f"{hub.url('sms')}/twilio/sms"
        start = time.perf_counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http:
            async def post(i: int) -> None:
                phone = f"+1556{i:07d}"
                params = hub.twilio.inbound_sms(sms_number(0), phone, "bench", sid=f"SM{i:032d}")
                sent[phone] = time.perf_counter()
                async with http.post(url, data=params, headers={"X-Twilio-Signature": hub.twilio.sign(url, params)}):
                    pass

            await asyncio.gather(*(post(i) for i in range(args.conversations)))
            posted = time.perf_counter() - start
            await asyncio.wait_for(done.wait(), timeout=300)
            all_offered = time.perf_counter() - start
            while True:  # until quality has recorded every wrap-up in MongoDB
                async with http.get(f"{hub.url('quality')}/api/kpis", params={"from": str(time.time() - 3600)},
                                    headers=hub.credentials.headers(identity.QUALITY_AUDIENCE, BENCH)) as resp:
                    if (await resp.json())["total"]["handled"] >= args.conversations:
                        break
                await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - start
        latencies = [offered[k] - sent[k] for k in offered if k in sent]
        for t in agents:
            t.cancel()
        await channel.close(None)
        bare = await bare_round_trip(hub.nats_url)
        print(f"{args.conversations} conversations, {args.agents} agents: SMS webhook -> offer -> wrap-up in MongoDB")
        print(f"  webhooks accepted    {args.conversations / posted:8.1f} /s (signed, published with acks)")
        print(f"  offered to agents    {args.conversations / all_offered:8.1f} conversations/s")
        print(f"  carried end to end   {args.conversations / elapsed:8.1f} conversations/s (wrap-up in MongoDB)")
        print(f"  message -> offer     p50 {pct(latencies, .5) * 1e3:8.1f} ms   p99 {pct(latencies, .99) * 1e3:8.1f} ms")
        print(f"  bare NATS round trip p50 {pct(bare, .5) * 1e3:8.2f} ms   p99 {pct(bare, .99) * 1e3:8.2f} ms")
    finally:
        await hub.stop()


if __name__ == "__main__":
    asyncio.run(main())
