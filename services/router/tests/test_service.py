"""The router against real NATS and its real gRPC API."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.bus import Bus
from omnihub.testkit.waiting import read_events

from .conftest import RouterHarness, events, inbound, make_router, processed, publish


async def offers(bus: Bus, count: int) -> list[event_pb2.ConversationOffered]:
    """The first `count` offers the router made (from its events)."""
    return [e.conversation_offered for e in await events(bus, "conversation_offered", count)]


async def next_notice(stream: object, kind: str, timeout: float = 10.0) -> routing_pb2.AgentNotice:
    async def read() -> routing_pb2.AgentNotice:
        async for notice in stream:  # type: ignore[attr-defined]
            if notice.WhichOneof("kind") == kind:
                return notice
        raise AssertionError("stream ended")

    return await asyncio.wait_for(read(), timeout)


async def test_intake_offer_accept_assigned(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    stream = harness.stub.WatchOffers(routing_pb2.WatchOffersRequest(agent_id="alice"))
    await publish(harness.bus, inbound("visitor-1", "Where is my order?"))
    offer = (await next_notice(stream, "offer")).offer
    assert offer.conversation.preview == "Where is my order?"
    conv = await harness.stub.Accept(routing_pb2.AcceptRequest(agent_id="alice", reservation_id=offer.reservation_id))
    assert conv.assigned_agent == "alice" and conv.routing_state == routing_pb2.ROUTING_STATE_ASSIGNED
    assigned = await events(harness.bus, "conversation_assigned", 1)
    assert assigned[0].conversation_assigned.agent_id == "alice"
    assert assigned[0].conversation_assigned.first_answer
    decided = await events(harness.bus, "routing_decided", 1)
    assert decided[0].routing_decided.chosen_agent == "alice"
    assert decided[0].routing_decided.config_version
    created = await events(harness.bus, "message_created", 1)
    assert created[0].message_created.message.text == "Where is my order?"
    why = await harness.stub.ExplainRouting(routing_pb2.ExplainRoutingRequest(conversation_id=conv.id))
    assert why.decisions[0].strategy == "longest_idle"
    stream.cancel()


async def test_second_message_goes_to_the_assigned_agent(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    await publish(harness.bus, inbound("v2", "first"))
    (res,) = await offers(harness.bus, 1)
    await harness.stub.Accept(routing_pb2.AcceptRequest(agent_id="alice", reservation_id=res.reservation_id))
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="bob"))
    await publish(harness.bus, inbound("v2", "second"))
    msgs = await events(harness.bus, "message_created", 2)
    assert msgs[0].conversation_id == msgs[1].conversation_id
    convs = await harness.stub.ListConversations(routing_pb2.ListConversationsRequest())
    assert len(convs.conversations) == 1 and convs.conversations[0].assigned_agent == "alice"


async def test_reject_reroutes_to_next_agent(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="bob"))
    await publish(harness.bus, inbound("v3"))
    (first,) = await offers(harness.bus, 1)
    await harness.stub.Reject(routing_pb2.RejectRequest(agent_id=first.agent_id, reservation_id=first.reservation_id))
    second = next(iter(harness.core.reservations.values()))  # the Reject returned: its re-offer is made
    assert second.agent_id != first.agent_id
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await harness.stub.Accept(routing_pb2.AcceptRequest(agent_id=first.agent_id,
                                                            reservation_id=first.reservation_id))
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_missed_offers_set_agent_away_and_requeue(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="bob"))
    await publish(harness.bus, inbound("v4"))
    await publish(harness.bus, inbound("v4b"))
    changes = await read_events(harness.bus, "agent_state_changed", until=lambda evs: any(
        e.agent_state_changed.to_state == routing_pb2.AGENT_STATE_AWAY for e in evs))
    away = [e for e in changes if e.agent_state_changed.to_state == routing_pb2.AGENT_STATE_AWAY]
    assert away and away[0].agent_state_changed.reason == "missed_offers"
    ended = await events(harness.bus, "conversation_offer_ended", 2)
    assert [e.conversation_offer_ended.outcome for e in ended] == ["timeout", "timeout"]
    stats = await harness.stub.GetQueueStats(routing_pb2.GetQueueStatsRequest(queues=["support"]))
    assert stats.stats[0].waiting == 2


async def test_customer_leaving_the_queue_is_an_abandon_with_its_wait(harness: RouterHarness) -> None:
    await publish(harness.bus, inbound("v5"))
    await events(harness.bus, "conversation_queued", 1)
    await asyncio.sleep(1.0)  # the customer waits a second in the queue (the input, not a wait for a fact)
    left = inbound("v5")
    left.ClearField("text")
    left.session_ended.reason = "closed"
    await publish(harness.bus, left)
    abandoned = await events(harness.bus, "conversation_abandoned", 1)
    wait = abandoned[0].conversation_abandoned.wait_duration.ToNanoseconds() / 1e9
    assert 0.8 < wait < 5
    stats = await harness.stub.GetQueueStats(routing_pb2.GetQueueStatsRequest(queues=["support"]))
    # a wait under the 5-second short-abandon threshold is not counted, as in the reports
    assert stats.stats[0].waiting == 0 and stats.stats[0].abandoned_today == 0


async def test_wrap_up_then_returning_customer_goes_to_same_agent(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="bob"))
    await publish(harness.bus, inbound("v6", thread="t1"))
    (res,) = await offers(harness.bus, 1)
    conv = await harness.stub.Accept(routing_pb2.AcceptRequest(agent_id=res.agent_id,
                                                                reservation_id=res.reservation_id))
    await harness.stub.WrapUp(routing_pb2.WrapUpRequest(agent_id=res.agent_id, conversation_id=conv.id,
                                                        disposition="order_status", resolved=True))
    wrapped = await events(harness.bus, "conversation_wrapped_up", 1)
    assert wrapped[0].conversation_wrapped_up.resolved
    await publish(harness.bus, inbound("v6", "me again", thread="t2"))
    again = (await offers(harness.bus, 2))[1]
    assert again.agent_id == res.agent_id
    decided = await events(harness.bus, "routing_decided", 2)
    assert decided[1].routing_decided.reason == "returning_customer"


async def test_transfer_to_queue_keeps_history(harness: RouterHarness) -> None:
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    await publish(harness.bus, inbound("v7"))
    (res,) = await offers(harness.bus, 1)
    conv = await harness.stub.Accept(routing_pb2.AcceptRequest(agent_id="alice", reservation_id=res.reservation_id))
    moved = await harness.stub.Transfer(routing_pb2.TransferRequest(
        agent_id="alice", conversation_id=conv.id, to_queue="sales", note="wants a quote"))
    assert moved.id == conv.id and moved.queue == "sales"
    transferred = await events(harness.bus, "conversation_transferred", 1)
    assert transferred[0].conversation_transferred.to_queue == "sales"


async def test_queue_stats_over_nats_request_reply(harness: RouterHarness) -> None:
    from omnihub.common import subjects

    await publish(harness.bus, inbound("v8", thread="sess-8"))
    await processed(harness.bus)
    req = routing_pb2.GetQueueStatsRequest(thread_key="sess-8", channel=contact_pb2.CHANNEL_WEBCHAT)
    reply = await harness.bus.nc.request(subjects.QUEUE_STATS_REQUEST, req.SerializeToString(), timeout=2)
    stats = routing_pb2.GetQueueStatsResponse.FromString(reply.data)
    assert stats.position == 1 and stats.queue == "support"
    assert {s.queue for s in stats.stats} == {"support", "sales"}


async def test_automated_email_opens_nothing(harness: RouterHarness) -> None:
    msg = inbound("someone@example.com", channel=contact_pb2.CHANNEL_EMAIL)
    msg.ClearField("text")
    msg.email.CopyFrom(messaging_pb2.EmailPayload(subject="Out of office", automated=True))
    await publish(harness.bus, msg)
    await processed(harness.bus)  # the router has taken the message (fails if intake never runs)
    assert not harness.core.records


async def test_merge_customers_moves_identities_and_history(harness: RouterHarness) -> None:
    await publish(harness.bus, inbound("+8613800000001", channel=contact_pb2.CHANNEL_SMS))
    email = inbound("li@example.com", channel=contact_pb2.CHANNEL_EMAIL)
    await publish(harness.bus, email)
    await processed(harness.bus)
    convs = {c.channel: c for c in (await harness.stub.ListConversations(routing_pb2.ListConversationsRequest())).conversations}
    keep, gone = convs[contact_pb2.CHANNEL_SMS].customer_id, convs[contact_pb2.CHANNEL_EMAIL].customer_id
    assert keep != gone
    merged = await harness.stub.MergeCustomers(routing_pb2.MergeCustomersRequest(
        agent_id="alice", customer_id=keep,
        merged_identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_EMAIL, source_id="li@example.com")))
    assert {i.source_id for i in merged.identities} == {"+8613800000001", "li@example.com"}
    after = (await harness.stub.ListConversations(routing_pb2.ListConversationsRequest())).conversations
    assert {c.customer_id for c in after} == {keep}
    evt = await events(harness.bus, "customer_merged", 1)
    assert evt[0].customer_merged.merged_customer_id == gone
    await publish(harness.bus, inbound("li@example.com", "again", channel=contact_pb2.CHANNEL_EMAIL, thread="new-thread"))
    await processed(harness.bus)
    newest = (await harness.stub.ListConversations(routing_pb2.ListConversationsRequest())).conversations
    assert {c.customer_id for c in newest} == {keep}


AUTO_CONFIG = """
version: 1
queues:
  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 0}
agents:
  - {id: carol, skills: {support: 5}, queues: [support], auto_accept: [webchat]}
"""


async def test_an_auto_accepting_agent_is_assigned_without_answering_the_offer(bus: Bus) -> None:
    router, server, _ = await make_router(bus, AUTO_CONFIG)
    try:
        core = router.core
        await core.set_presence("carol", "AVAILABLE")
        await publish(bus, inbound("auto-1", "hello"))  # webchat: accepted for her at once
        (assigned,) = await events(bus, "conversation_assigned", 1)
        (offered,) = await events(bus, "conversation_offered", 1)
        assert assigned.conversation_assigned.agent_id == "carol" and assigned.conversation_assigned.first_answer
        assert offered.conversation_offered.auto_accepted
        assert not core.reservations
        assert core.queue_stats(routing_pb2.GetQueueStatsRequest()).stats[0].answered_today == 1
        await publish(bus, inbound("+15550002222", "sms", channel=contact_pb2.CHANNEL_SMS))  # sms: a normal offer
        offers = await events(bus, "conversation_offered", 2)
        assert not offers[1].conversation_offered.auto_accepted
        assert len(core.reservations) == 1
    finally:
        await server.stop(0)
        await router.deactivate()


async def test_an_offer_that_leaves_the_agent_says_why(harness: RouterHarness) -> None:
    """offer_ended carries the reason (then the bare offer_withdrawn): the customer left, the agent went
    offline, the conversation was transferred elsewhere."""

    async def offered(stream: object, source: str) -> routing_pb2.Offer:
        await publish(harness.bus, inbound(source, f"from {source}"))
        return (await next_notice(stream, "offer")).offer

    async def ended(stream: object) -> tuple[str, str]:
        notice = (await next_notice(stream, "offer_ended")).offer_ended
        bare = await next_notice(stream, "offer_withdrawn")
        assert bare.offer_withdrawn == notice.reservation_id
        return notice.reservation_id, notice.reason

    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    stream = harness.stub.WatchOffers(routing_pb2.WatchOffersRequest(agent_id="alice"))
    offer = await offered(stream, "v20")
    left = inbound("v20")
    left.ClearField("text")
    left.session_ended.reason = "closed"
    await publish(harness.bus, left)
    assert await ended(stream) == (offer.reservation_id, "customer_left")
    offer = await offered(stream, "v21")
    await harness.stub.Logout(routing_pb2.LogoutRequest(agent_id="alice"))
    assert await ended(stream) == (offer.reservation_id, "agent_offline")
    stream.cancel()  # type: ignore[attr-defined]
    await harness.stub.Login(routing_pb2.LoginRequest(agent_id="alice"))
    stream = harness.stub.WatchOffers(routing_pb2.WatchOffersRequest(agent_id="alice"))
    offer = (await next_notice(stream, "offer")).offer  # v21 comes back to her once she is available again
    await harness.stub.Transfer(routing_pb2.TransferRequest(
        agent_id="alice", conversation_id=offer.conversation.id, to_queue="sales"))
    assert await ended(stream) == (offer.reservation_id, "transferred")
    stream.cancel()  # type: ignore[attr-defined]
