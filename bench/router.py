"""Router throughput: the pure engine's decisions, and inbound-to-assigned end to end over NATS."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, new_id, now_timestamp
from omnihub.common.logging import configure_logging
from omnihub.common.outgoing import Outgoing
from omnihub.router import engine as eng
from omnihub.router.config import AgentConfig, QueueConfig, RoutingConfig, SkillReq
from omnihub.testkit.servers import NatsServer

CHANNELS = ["webchat", "sms", "email", "telegram"]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def engine_bench(agents: int, skills: int, waiting: int, seed: int = 1) -> tuple[float, list[float]]:
    """Fill the backlog, then free agents one at a time and time each decision."""
    rng = random.Random(seed)
    names = [f"s{i}" for i in range(skills)]
    queues = [QueueConfig(name=f"q{i}", skills=[SkillReq(name=names[i % skills], min_level=rng.randint(1, 5))],
                          priority=rng.randint(0, 3)) for i in range(20)]
    agent_confs = [AgentConfig(
        id=f"a{i}", skills={n: rng.randint(1, 10) for n in rng.sample(names, 8)},
        queues=rng.sample([q.name for q in queues], 6), capacity=dict.fromkeys(CHANNELS, 3) | {"voice": 1})
        for i in range(agents)]
    engine = eng.Engine(RoutingConfig(queues=queues, agents=agent_confs))
    for i in range(waiting):
        q = queues[i % len(queues)]
        engine.enqueue(eng.Waiting(f"c{i}", q.name, rng.choice(CHANNELS), q.priority, float(i) / 1000), 0.0)
    for a in agent_confs:  # everyone busy: logged in with no spare capacity
        engine.set_presence(a.id, eng.AVAILABLE, 0.0)
        agent = engine.agents[a.id]
        agent.capacity = dict.fromkeys(agent.capacity, 0)
        engine.touch(agent)
    latencies: list[float] = []
    decisions = 0
    now = 20.0
    start = time.perf_counter()
    for i in range(20_000):
        agent = engine.agents[f"a{i % agents}"]
        agent.capacity = {"webchat": 1, "sms": 1, "email": 1, "telegram": 1, "voice": 0}
        agent.handling.clear()
        engine.touch(agent)
        t0 = time.perf_counter()
        made = engine.route_agent(agent.id, now)
        latencies.append(time.perf_counter() - t0)
        decisions += len(made)
        for d in made:  # put the work back so the backlog stays at its size
            engine.release(agent.id, d.conversation_id, now)
            q = engine.queues[d.queue]
            engine.enqueue(eng.Waiting(d.conversation_id, q.name, rng.choice(CHANNELS), q.priority, now), now)
        agent.capacity = dict.fromkeys(agent.capacity, 0)
        engine.touch(agent)
        # an arrival finds nobody free and waits: the other half of the decision load
        t0 = time.perf_counter()
        engine.route_conversation(f"c{i % waiting}", now)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return (decisions + 20_000) / elapsed, latencies


def e2e_config(auto_accept: bool) -> str:
    """100 agents, webchat capacity 100 each; with `auto_accept`, offers are accepted for them at once."""
    auto = ", auto_accept: true" if auto_accept else ""
    return """
version: 1
defaults: {reservation_timeout_seconds: {webchat: 60}}
queues:
  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 0}
agents:
""" + "".join(f"  - {{id: b{i}, skills: {{support: 5}}, queues: [support], capacity: {{webchat: 100}}{auto}}}\n"
              for i in range(100))


async def bare_round_trip(url: str, n: int) -> list[float]:
    """Publish to JetStream and consume the same message: the floor for any routed hop."""
    bus = await Bus.connect(url, name="bench-bare")
    await bus.js.add_stream(name="BARE_RT", subjects=["bare.rt"])
    sub = await bus.js.pull_subscribe("bare.rt", durable="rt")
    lat: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        await bus.js.publish("bare.rt", str(i).encode())
        (msg,) = await sub.fetch(1, timeout=5)
        await msg.ack()
        lat.append(time.perf_counter() - t0)
    await bus.close()
    return lat


BARE_GRPC_SERVER = """
import asyncio, sys
import grpc
from grpc_health.v1 import health, health_pb2_grpc

async def main() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()

asyncio.run(main())
"""


async def bare_grpc(n: int, concurrency: int = 100) -> tuple[float, list[float], float]:
    """Unary calls (the standard health Check) to an otherwise idle grpc.aio server in its own process,
    `concurrency` at a time: the floor for an accept over gRPC. Returns (calls per second, latencies,
    the server's CPU seconds per call)."""
    import sys

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from omnihub.testkit.ports import free_port

    port = free_port()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", BARE_GRPC_SERVER, str(port),
                                                stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        await proc.stdout.readline()  # "ready"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest())
            gate = asyncio.Semaphore(concurrency)
            lat: list[float] = []

            async def call() -> None:
                async with gate:
                    t0 = time.perf_counter()
                    await stub.Check(health_pb2.HealthCheckRequest())
                    lat.append(time.perf_counter() - t0)

            before, start = cpu_seconds(proc.pid), time.perf_counter()
            await asyncio.gather(*(call() for _ in range(n)))
            elapsed = time.perf_counter() - start
            return n / elapsed, lat, (cpu_seconds(proc.pid) - before) / n
    finally:
        proc.kill()
        await proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), 0.0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inbound(key: str) -> messaging_pb2.InboundMessage:
    """A new web chat visitor's first message."""
    return messaging_pb2.InboundMessage(
        id=new_id("msg"), channel=contact_pb2.CHANNEL_WEBCHAT,
        identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_WEBCHAT, source_id=key),
        thread_key=key, receive_time=now_timestamp(), provider_message_id=key,
        routing_hints=messaging_pb2.RoutingHints(queue="support"), text=messaging_pb2.TextPayload(text="hello"))


async def drive(bus: Bus, n: int, rate: float | None,
                accept: Callable[[str, str], Awaitable[object]] | None) -> tuple[float, list[float]]:
    """Publish n inbound messages (all at once, or `rate` per second), accept every offer concurrently
    unless agents auto-accept, and time each until conversation.assigned. Returns (completed per second
    from the first publish to the last assignment, latencies).

    Each 10 ms of arrivals goes out as one fast batch with the messages' Nats-Msg-Ids. Channel services
    publish each webhook with an ack of its own, from their own pods; here the driver shares the two
    cores with the router and nats-server, and batching cut its CPU from 0.12 to 0.07 ms per
    conversation, which is the harness's cost, not the router's."""
    sent: dict[str, float] = {}
    done: dict[str, float] = {}
    finished = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()
    failures: dict[str, int] = {}

    async def answer(agent_id: str, reservation_id: str) -> None:
        assert accept is not None
        try:
            await accept(agent_id, reservation_id)
        except Exception as exc:  # counted and printed: a lost accept waits out the reservation
            name = f"{type(exc).__name__}: {str(exc)[:200]}"
            failures[name] = failures.get(name, 0) + 1

    async def on_offer(msg: object) -> None:  # agents answer concurrently, as a room full of people does
        o = event_pb2.Event.FromString(msg.data).conversation_offered  # type: ignore[attr-defined]
        if o.auto_accepted:
            return
        task = asyncio.create_task(answer(o.agent_id, o.reservation_id))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def on_assigned(msg: object) -> None:
        evt = event_pb2.Event.FromString(msg.data)  # type: ignore[attr-defined]
        done[evt.thread_key] = time.perf_counter()
        if len(done) >= n:
            finished.set()

    # auto-accepting agents answer nothing: the driver then does not even receive the offers
    s1 = None if accept is None else await bus.nc.subscribe(subjects.event("conversation", "offered"), cb=on_offer)
    s2 = await bus.nc.subscribe(subjects.event("conversation", "assigned"), cb=on_assigned)
    start = time.perf_counter()
    step = 500 if rate is None else max(1, int(rate / 100))  # bursts of 500, or every 10 ms
    for lo in range(0, n, step):
        if rate is not None:
            await asyncio.sleep(max(0.0, start + lo / rate - time.perf_counter()))
        out = []
        for i in range(lo, min(n, lo + step)):
            msg = inbound(f"v{i}")
            sent[msg.thread_key] = time.perf_counter()
            out.append(Outgoing(subjects.inbound(msg.channel), msg.SerializeToString(),
                                {subjects.HEADER_MSG_ID: f"webchat:{msg.thread_key}"}))
        await bus.publish_many(subjects.STREAM_CONTACTS_IN, out)
    await asyncio.wait_for(finished.wait(), timeout=300)
    elapsed = max(done.values()) - start
    if s1 is not None:
        await s1.unsubscribe()
    await s2.unsubscribe()
    for name, count in failures.items():
        print(f"  accept failed x{count}: {name}")
    return n / elapsed, [done[k] - sent[k] for k in done]


async def e2e(n: int, rate: float | None, auto_accept: bool) -> tuple[float, list[float], float]:
    """The router as its own process (`python -m omnihub.router`) on a fresh NATS, as deployed; agents
    accept over gRPC (or auto-accept). The driver (this process) shares the machine's two cores.
    Returns (conversations per second, latencies, the router's CPU seconds per conversation)."""
    import tempfile

    from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
    from omnihub.common import identity
    from omnihub.testkit.ports import free_port
    from omnihub.testkit.services import ServiceProcess

    credentials = identity.Credentials.generate()
    config = Path(tempfile.mkdtemp(prefix="bench-router-"))
    (config / "routing.yaml").write_text(e2e_config(auto_accept))
    grpc_port, http_port = free_port(), free_port()
    with NatsServer() as server:
        proc = ServiceProcess("router", {**credentials.env(), "OMNIHUB_NATS_URL": server.url,
                                         "OMNIHUB_CONFIG_DIR": str(config),
                                         "OMNIHUB_ROUTER_GRPC_PORT": str(grpc_port),
                                         "OMNIHUB_ROUTER_HTTP_PORT": str(http_port), "OMNIHUB_LOG_LEVEL": "WARNING"},
                              ready_url=f"http://127.0.0.1:{http_port}/readyz")
        proc.start()
        # Every call carries the service token and a signed actor, as the inbox's do (an admin acting for agents).
        channel = identity.channel(f"127.0.0.1:{grpc_port}", credentials, identity.ROUTER_AUDIENCE,
                                   identity.Actor("bench", "admin"))
        stub = routing_pb2_grpc.RouterStub(channel)
        bus = await Bus.connect(server.url, name="bench-e2e")
        await bus.enable_batched(subjects.STREAM_CONTACTS_IN)  # the driver publishes as fast batches
        try:
            for i in range(100):
                await stub.Login(routing_pb2.LoginRequest(agent_id=f"b{i}"))

            async def accept(agent_id: str, reservation_id: str) -> object:
                return await stub.Accept(routing_pb2.AcceptRequest(agent_id=agent_id, reservation_id=reservation_id))

            assert proc.proc is not None
            before = cpu_seconds(proc.proc.pid)
            done_rate, lat = await drive(bus, n, rate, None if auto_accept else accept)
            return done_rate, lat, (cpu_seconds(proc.proc.pid) - before) / n
        finally:
            await bus.close()
            await channel.close(None)
            proc.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--skills", type=int, default=50)
    parser.add_argument("--waiting", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=3000, help="per burst")
    parser.add_argument("--seconds", type=float, default=3.0, help="per steady-rate run")
    parser.add_argument("--rates", default="250,500,1000,2000", help="steady arrival rates per second")
    args = parser.parse_args()
    rate, lat = engine_bench(args.agents, args.skills, args.waiting)
    print(f"engine: {args.agents} agents, {args.skills} skills, {args.waiting} waiting")
    print(f"  decisions/s {rate:,.0f}   p50 {pct(lat, .5) * 1e3:.3f} ms   p99 {pct(lat, .99) * 1e3:.3f} ms")
    configure_logging("bench", "WARNING", "console")
    with NatsServer() as server:
        bare = await bare_round_trip(server.url, 2000)
    grpc_rate, grpc_lat, grpc_cpu = await bare_grpc(5000)
    print("end to end: inbound publish -> conversation.assigned; the router as its own process, 100 agents")
    print(f"{'':<44}{'p50 ms':>10}{'p99 ms':>10}{'done/s':>10}{'server CPU ms/conv':>20}")
    print(f"{'bare JetStream round trip (same run)':<44}{pct(bare, .5) * 1e3:>10.2f}{pct(bare, .99) * 1e3:>10.2f}"
          f"{1 / statistics.mean(bare):>10,.0f}")
    print(f"{'bare gRPC unary call, 100 in flight (same run)':<44}{pct(grpc_lat, .5) * 1e3:>10.2f}"
          f"{pct(grpc_lat, .99) * 1e3:>10.2f}{grpc_rate:>10,.0f}{grpc_cpu * 1e3:>20.2f}")
    runs: list[tuple[str, int, float | None, bool]] = []
    for auto in (False, True):
        how = "auto-accept" if auto else "accepts over gRPC"
        runs.append((f"burst of {args.conversations:,}, {how}", args.conversations, None, auto))
        runs += [(f"steady {int(r):,}/s for {args.seconds:g} s, {how}", int(int(r) * args.seconds), float(r), auto)
                 for r in args.rates.split(",")]
    for label, n, arrival, auto in runs:
        done_rate, lat, cpu = await e2e(n, arrival, auto)
        print(f"{label:<44}{pct(lat, .5) * 1e3:>10.2f}{pct(lat, .99) * 1e3:>10.2f}{done_rate:>10,.0f}"
              f"{cpu * 1e3:>20.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
