"""Two routers, one lease: kill -9 the leader mid-load; the standby takes over, nothing lost or doubled."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.ports import free_port
from omnihub.testkit.services import ServiceProcess
from omnihub.testkit.waiting import eventually, read_events

from .conftest import CREDENTIALS, inbound, router_channel
from .test_races import big_config


def ready(port: int, path: str = "/readyz") -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


async def publish_range(bus: Bus, lo: int, hi: int) -> None:
    async with bus.batch() as batch:
        for i in range(lo, hi):
            msg = inbound(f"ha-{i}")
            await batch.publish(subjects.inbound(msg.channel), msg, msg_id=f"ha:{i}")


async def test_standby_takes_over_from_a_killed_leader(nats_url: str, tmp_path: Path) -> None:
    config = tmp_path / "routing.yaml"
    config.write_text(big_config(timeout=600))
    ports = {name: free_port() for name in ("g1", "h1", "g2", "h2")}

    def router(n: str) -> ServiceProcess:
        return ServiceProcess("router", {
            **CREDENTIALS.env(), "OMNIHUB_NATS_URL": nats_url, "OMNIHUB_ROUTER_CONFIG_FILE": str(config), "OMNIHUB_ROUTER_LEASE_SECONDS": "2",
            "OMNIHUB_ROUTER_GRPC_PORT": str(ports[f"g{n}"]), "OMNIHUB_ROUTER_HTTP_PORT": str(ports[f"h{n}"])},
            ready_url=f"http://127.0.0.1:{ports[f'h{n}']}/readyz")

    bus = await Bus.connect(nats_url, name="ha-test")
    await bus.ensure_streams()
    first = router("1")
    first.start()  # ready = elected leader
    second = router("2")
    second.ready_url = None  # a standby is alive but not ready
    second.start()
    await eventually(lambda: ready(ports["h2"], "/healthz"), timeout=30, message="the standby serves")
    assert ready(ports["h1"]) and not ready(ports["h2"])
    leader = routing_pb2_grpc.RouterStub(router_channel(ports['g1']))
    for i in range(20):
        await leader.Login(routing_pb2.LoginRequest(agent_id=f"ag{i}"))
    await publish_range(bus, 0, 150)
    load = asyncio.create_task(publish_range(bus, 150, 300))  # still arriving while the leader dies
    await read_events(bus, "conversation_created", count=1)  # the leader is routing
    first.kill()
    await load
    started = time.monotonic()
    await eventually(lambda: ready(ports["h2"]), timeout=15, message="the standby did not take over")
    takeover = time.monotonic() - started
    standby = routing_pb2_grpc.RouterStub(router_channel(ports['g2']))

    async def all_there() -> list[routing_pb2.Conversation]:
        convs = (await standby.ListConversations(routing_pb2.ListConversationsRequest())).conversations
        return list(convs) if len(convs) >= 300 else []

    convs = await eventually(all_there, timeout=20, message="300 conversations on the standby")
    assert sorted(c.thread_key for c in convs) == sorted(f"ha-{i}" for i in range(300))  # none lost, none doubled
    holders: dict[str, str] = {}
    for agent in (await standby.ListAgents(routing_pb2.ListAgentsRequest())).agents:
        assert len(agent.conversation_ids) <= 3  # webchat capacity
        for cid in agent.conversation_ids:
            assert cid not in holders, f"{cid} held by {holders[cid]} and {agent.id}"
            holders[cid] = agent.id
    offered = {c.id for c in convs if c.routing_state == routing_pb2.ROUTING_STATE_OFFERED}
    assert offered == set(holders)
    assert takeover < 10
    second.stop()
    await bus.close()
