"""Identity on every router call: the service token, the signed actor, and who may act on what."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import identity
from omnihub.common.identity import Actor, Credentials
from omnihub.testkit.waiting import eventually

from .conftest import CREDENTIALS, RouterHarness, events, inbound, publish, router_channel

ALICE, BOB, SAM = Actor("alice", "agent"), Actor("bob", "agent"), Actor("sam", "supervisor")


@pytest.fixture
async def as_user(harness: RouterHarness) -> AsyncIterator[dict[Actor, routing_pb2_grpc.RouterAsyncStub]]:
    channels = {a: router_channel(harness.port, a) for a in (ALICE, BOB, SAM)}
    yield {a: routing_pb2_grpc.RouterStub(c) for a, c in channels.items()}  # type: ignore[misc]
    for c in channels.values():
        await c.close(None)


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def held_by(harness: RouterHarness, stub: routing_pb2_grpc.RouterAsyncStub, agent: str,
                  source: str, channel: contact_pb2.Channel.ValueType = contact_pb2.CHANNEL_WEBCHAT,
                  ) -> routing_pb2.Conversation:
    """A conversation from `source`, offered to and accepted by `agent` (the only one available)."""
    await publish(harness.bus, inbound(source, channel=channel))
    res = await eventually(lambda: next((r for r in harness.core.reservations.values() if r.agent_id == agent), None),
                           message=f"an offer to {agent}")
    assert res is not None  # eventually() returns the first truthy value
    return await stub.Accept(routing_pb2.AcceptRequest(agent_id=agent, reservation_id=res.id))


async def test_calls_without_the_service_token_or_a_signed_actor_are_refused(harness: RouterHarness) -> None:
    request = routing_pb2.SetStateRequest(agent_id="bob", state=routing_pb2.AGENT_STATE_AWAY)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{harness.port}") as raw:  # the finding: a raw SetState
        assert await code_of(routing_pb2_grpc.RouterStub(raw).SetState(request)) == grpc.StatusCode.UNAUTHENTICATED
    async with router_channel(harness.port, actor=None) as anonymous:  # the token alone names nobody
        assert await code_of(routing_pb2_grpc.RouterStub(anonymous).SetState(request)) == grpc.StatusCode.UNAUTHENTICATED
    forged = identity.channel(f"127.0.0.1:{harness.port}", Credentials.generate(), identity.ROUTER_AUDIENCE, SAM)
    async with forged:
        assert await code_of(routing_pb2_grpc.RouterStub(forged).SetState(request)) == grpc.StatusCode.UNAUTHENTICATED
    wrong_audience = ((identity.ACTOR_HEADER, CREDENTIALS.sign(SAM, identity.QUALITY_AUDIENCE)),)
    async with router_channel(harness.port, actor=None) as ch:
        call = routing_pb2_grpc.RouterStub(ch).SetState(request, metadata=wrong_audience)
        assert await code_of(call) == grpc.StatusCode.UNAUTHENTICATED
    assert harness.core.engine.agents["bob"].presence != "away"


async def test_agents_act_only_as_themselves_and_supervisors_force_in_their_own_name(
        harness: RouterHarness, as_user: dict[Actor, routing_pb2_grpc.RouterAsyncStub]) -> None:
    alice, sam = as_user[ALICE], as_user[SAM]
    away = routing_pb2.SetStateRequest(agent_id="bob", state=routing_pb2.AGENT_STATE_AWAY, forced_by="nobody")
    assert await code_of(alice.SetState(away)) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(alice.Login(routing_pb2.LoginRequest(agent_id="bob"))) == grpc.StatusCode.PERMISSION_DENIED
    assert await code_of(alice.Login(routing_pb2.LoginRequest(agent_id="alice"))) == grpc.StatusCode.OK
    assert await code_of(alice.ListConversations(routing_pb2.ListConversationsRequest())) == grpc.StatusCode.PERMISSION_DENIED
    mine = routing_pb2.ListConversationsRequest(agent_id="alice")
    assert await code_of(alice.ListConversations(mine)) == grpc.StatusCode.OK
    why = routing_pb2.ExplainRoutingRequest(conversation_id="x")
    assert await code_of(alice.ExplainRouting(why)) == grpc.StatusCode.PERMISSION_DENIED
    directory = (await alice.ListAgents(routing_pb2.ListAgentsRequest())).agents
    assert {a.id for a in directory} == {"alice", "bob"} and not any(a.skills or a.conversation_ids for a in directory)
    assert await sam.SetState(away)
    changed = await events(harness.bus, "agent_state_changed", 2)
    forced = [e.agent_state_changed for e in changed if e.agent_state_changed.agent_id == "bob"]
    assert forced and forced[-1].forced_by == "sam"  # the verified caller, never the request's field


async def test_an_agent_transfers_only_what_they_hold_a_supervisor_reassigns_anything(
        harness: RouterHarness, as_user: dict[Actor, routing_pb2_grpc.RouterAsyncStub]) -> None:
    alice, bob, sam = as_user[ALICE], as_user[BOB], as_user[SAM]
    await bob.Login(routing_pb2.LoginRequest(agent_id="bob"))
    conv = await held_by(harness, bob, "bob", "visitor-bob")
    await alice.Login(routing_pb2.LoginRequest(agent_id="alice"))
    take = routing_pb2.TransferRequest(agent_id="alice", conversation_id=conv.id, to_agent="alice")
    assert await code_of(alice.Transfer(take)) == grpc.StatusCode.PERMISSION_DENIED  # the finding: 200 before
    assert harness.core.records[conv.id].conv.assigned_agent == "bob"
    posing = routing_pb2.TransferRequest(agent_id="bob", conversation_id=conv.id, to_agent="alice")
    assert await code_of(alice.Transfer(posing)) == grpc.StatusCode.PERMISSION_DENIED
    reassign = routing_pb2.TransferRequest(agent_id="sam", conversation_id=conv.id, to_queue="sales")
    moved = await sam.Transfer(reassign)
    assert moved.queue == "sales"
    evt = (await events(harness.bus, "conversation_transferred", 1))[0].conversation_transferred
    assert evt.from_agent == "bob" and evt.requested_by == "sam"
    waiting = routing_pb2.TransferRequest(agent_id="alice", conversation_id=conv.id, to_agent="alice")
    assert await code_of(alice.Transfer(waiting)) == grpc.StatusCode.PERMISSION_DENIED  # not held by anyone now


async def test_an_agent_merges_only_into_their_own_customer_and_never_takes_a_colleagues(
        harness: RouterHarness, as_user: dict[Actor, routing_pb2_grpc.RouterAsyncStub]) -> None:
    alice, bob, sam = as_user[ALICE], as_user[BOB], as_user[SAM]
    await bob.Login(routing_pb2.LoginRequest(agent_id="bob"))
    bobs = await held_by(harness, bob, "bob", "+8613800000009", contact_pb2.CHANNEL_SMS)
    await bob.SetState(routing_pb2.SetStateRequest(agent_id="bob", state=routing_pb2.AGENT_STATE_AWAY))
    await alice.Login(routing_pb2.LoginRequest(agent_id="alice"))
    alices = await held_by(harness, alice, "alice", "alice-visitor")
    steal = routing_pb2.MergeCustomersRequest(agent_id="alice", customer_id=alices.customer_id,
                                              merged_customer_id=bobs.customer_id)
    assert await code_of(alice.MergeCustomers(steal)) == grpc.StatusCode.PERMISSION_DENIED  # the finding
    by_identity = routing_pb2.MergeCustomersRequest(agent_id="alice", customer_id=alices.customer_id,
                                                    merged_identity=contact_pb2.Identity(
                                                        channel=contact_pb2.CHANNEL_SMS, source_id="+8613800000009"))
    assert await code_of(alice.MergeCustomers(by_identity)) == grpc.StatusCode.PERMISSION_DENIED
    into_bobs = routing_pb2.MergeCustomersRequest(agent_id="alice", customer_id=bobs.customer_id,
                                                  merged_customer_id=alices.customer_id)
    assert await code_of(alice.MergeCustomers(into_bobs)) == grpc.StatusCode.PERMISSION_DENIED
    assert harness.core.customer_proto(bobs.customer_id).merged_into == ""
    merged = await sam.MergeCustomers(steal)
    assert merged.id == alices.customer_id
    assert harness.core.customer_proto(bobs.customer_id).merged_into == alices.customer_id
