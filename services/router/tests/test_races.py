"""Racing accepts and rejects (Rocket.Chat #38148, #18217) and a kill -9 restart."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import grpc

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.ports import free_port
from omnihub.testkit.services import ServiceProcess
from omnihub.testkit.waiting import eventually, read_events

from .conftest import CREDENTIALS, events, inbound, make_router, router_channel

AGENTS = 50
CONVERSATIONS = 500


def big_config(timeout: int = 5) -> str:
    agents = "\n".join(
        f"  - {{id: ag{i}, skills: {{support: 5}}, queues: [support], capacity: {{webchat: 3}}}}"
        for i in range(AGENTS))
    return (f"version: 1\ndefaults: {{reservation_timeout_seconds: {{webchat: {timeout}}}}}\nqueues:\n"
            "  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 0}\n"
            f"agents:\n{agents}\n")


async def test_racing_accepts_and_rejects_never_double_assign(bus: Bus) -> None:
    router, server, port = await make_router(bus, big_config())
    channel = router_channel(port)
    stub = routing_pb2_grpc.RouterStub(channel)
    rng = random.Random(7)
    done = asyncio.Event()
    handled: set[str] = set()
    stale: list[tuple[str, str]] = []
    deciding: set[asyncio.Task[None]] = set()

    async def agent(agent_id: str) -> None:
        await stub.Login(routing_pb2.LoginRequest(agent_id=agent_id))
        async for notice in stub.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=agent_id)):
            if notice.WhichOneof("kind") != "offer":
                continue
            offer = notice.offer
            deciding.add(asyncio.create_task(decide(agent_id, offer)))

    async def decide(agent_id: str, offer: routing_pb2.Offer) -> None:
        await asyncio.sleep(rng.random() * 0.05)
        try:
            if rng.random() < 0.2:
                await stub.Reject(routing_pb2.RejectRequest(agent_id=agent_id, reservation_id=offer.reservation_id))
                stale.append((agent_id, offer.reservation_id))
                return
            conv = await stub.Accept(routing_pb2.AcceptRequest(agent_id=agent_id, reservation_id=offer.reservation_id))
            # a second click on the same offer, and a replay of an old rejected one, both race here
            replays = [stub.Accept(routing_pb2.AcceptRequest(agent_id=agent_id, reservation_id=offer.reservation_id))]
            if stale:
                other, res = stale[-1]
                replays.append(stub.Accept(routing_pb2.AcceptRequest(agent_id=other, reservation_id=res)))
            results = await asyncio.gather(*replays, return_exceptions=True)
            assert all(isinstance(r, grpc.aio.AioRpcError) for r in results)
            handled.add(conv.id)
            await stub.WrapUp(routing_pb2.WrapUpRequest(agent_id=agent_id, conversation_id=conv.id, resolved=True))
            if len(handled) >= CONVERSATIONS:
                done.set()
        except grpc.aio.AioRpcError:
            pass  # the offer expired or was withdrawn while deciding: the router re-routes it

    tasks = [asyncio.create_task(agent(f"ag{i}")) for i in range(AGENTS)]
    await events(bus, "agent_state_changed", AGENTS)  # every agent logged in
    async with bus.batch() as batch:
        for i in range(CONVERSATIONS):
            msg = inbound(f"visitor-{i}")
            await batch.publish(subjects.inbound(msg.channel), msg, msg_id=f"t:{i}")
    await asyncio.wait_for(done.wait(), timeout=120)
    for t in tasks:
        t.cancel()  # no new offers taken; every decision in flight runs to its end, its events stored
    await asyncio.gather(*deciding, return_exceptions=True)
    assigned = await read_events(bus, "conversation_assigned")
    per_conv: dict[str, int] = {}
    for e in assigned:
        per_conv[e.conversation_id] = per_conv.get(e.conversation_id, 0) + 1
    assert len(per_conv) == CONVERSATIONS
    assert set(per_conv.values()) == {1}
    await channel.close(None)
    await server.stop(0)
    await router.deactivate()


async def test_kill_9_mid_load_restores_the_same_conversations(nats_url: str, tmp_path: Path) -> None:
    config = tmp_path / "routing.yaml"
    config.write_text(big_config(timeout=600))
    grpc_port, http_port = free_port(), free_port()
    env = {**CREDENTIALS.env(), "OMNIHUB_NATS_URL": nats_url, "OMNIHUB_ROUTER_CONFIG_FILE": str(config),
           "OMNIHUB_ROUTER_GRPC_PORT": str(grpc_port), "OMNIHUB_ROUTER_HTTP_PORT": str(http_port)}
    ready = f"http://127.0.0.1:{http_port}/readyz"
    bus = await Bus.connect(nats_url, name="restart-test")
    await bus.ensure_streams()
    proc = ServiceProcess("router", env, ready_url=ready)
    proc.start()
    channel = router_channel(grpc_port)
    stub = routing_pb2_grpc.RouterStub(channel)
    for i in range(10):
        await stub.Login(routing_pb2.LoginRequest(agent_id=f"ag{i}"))
    async with bus.batch() as batch:
        for i in range(200):
            msg = inbound(f"r-{i}")
            await batch.publish(subjects.inbound(msg.channel), msg, msg_id=f"r:{i}")
    accepted = 0

    async def listed(count: int) -> list[routing_pb2.Conversation]:
        convs = (await stub.ListConversations(routing_pb2.ListConversationsRequest())).conversations
        return list(convs) if len(convs) >= count else []

    convs = await eventually(lambda: listed(200), timeout=10, message="200 conversations")
    for conv in convs:
        if conv.routing_state == routing_pb2.ROUTING_STATE_OFFERED and accepted < 20:
            res = next(r for r in (await _reservations(stub, conv.assigned_agent)) if r.conversation.id == conv.id)
            req = routing_pb2.AcceptRequest(agent_id=conv.assigned_agent, reservation_id=res.reservation_id)
            await stub.Accept(req)
            accepted += 1
    before = {c.id: (c.routing_state, c.assigned_agent)
              for c in (await stub.ListConversations(routing_pb2.ListConversationsRequest())).conversations}
    # more load in flight while the router dies
    async with bus.batch() as batch:
        for i in range(200, 300):
            msg = inbound(f"r-{i}")
            await batch.publish(subjects.inbound(msg.channel), msg, msg_id=f"r:{i}")
    proc.kill()
    proc = ServiceProcess("router", env, ready_url=ready)
    proc.start()
    after_list = await eventually(lambda: listed(300), timeout=40, message="300 conversations after the restart")
    after = {c.id: (c.routing_state, c.assigned_agent) for c in after_list}
    assert len(after) == 300  # every published message is in exactly one conversation
    assert {c.thread_key for c in after_list} == {f"r-{i}" for i in range(300)}
    assigned_before = {k for k, v in before.items() if v[0] == routing_pb2.ROUTING_STATE_ASSIGNED}
    assert accepted == 20 and len(assigned_before) == 20
    for cid in assigned_before:
        assert after[cid] == before[cid]
    waiting_before = {k for k, v in before.items() if v[0] != routing_pb2.ROUTING_STATE_ASSIGNED}
    assert waiting_before <= set(after)
    await channel.close(None)
    proc.stop()
    await bus.close()


async def _reservations(stub: routing_pb2_grpc.RouterAsyncStub, agent_id: str) -> list[routing_pb2.Offer]:
    offers = []
    call = stub.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=agent_id))
    try:
        async def read() -> None:
            async for n in call:
                if n.WhichOneof("kind") == "offer":
                    offers.append(n.offer)
        await asyncio.wait_for(read(), timeout=0.3)
    except TimeoutError:
        pass
    call.cancel()
    return offers
