"""The omnihub.api.routing.v1.Router gRPC service over RouterCore."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common.identity import Actor, GrpcIdentity
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore, RouterError

T = TypeVar("T")
PRESENCE = {
    routing_pb2.AGENT_STATE_AVAILABLE: eng.AVAILABLE,
    routing_pb2.AGENT_STATE_AWAY: eng.AWAY,
    routing_pb2.AGENT_STATE_OFFLINE: eng.OFFLINE,
}


async def _call(context: Any, fn: Callable[[], Awaitable[T]]) -> T:
    try:
        return await fn()
    except RouterError as exc:
        await context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
        raise  # unreachable: abort raises


async def _deny(context: Any, why: str) -> None:
    await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)


class RouterServicer(routing_pb2_grpc.RouterServicer):
    """Agents and supervisors talk to the ACD here; every call names its verified actor (omnihub.common.identity)."""

    def __init__(self, core: RouterCore | Callable[[], RouterCore], identity: GrpcIdentity,
                 active: Callable[[], bool] = lambda: True) -> None:
        self._core = core
        self.identity = identity
        self.active = active

    @property
    def core(self) -> RouterCore:
        """The active core (a new one after each election)."""
        return self._core if isinstance(self._core, RouterCore) else self._core()

    async def _guard(self, context: Any) -> None:
        if not self.active():
            await context.abort(grpc.StatusCode.UNAVAILABLE, "this router is a standby; retry")

    async def _as(self, context: Any, agent_id: str) -> Actor:
        """The verified caller, who must be `agent_id` unless a supervisor or admin."""
        actor = await self.identity.actor(context)
        if not actor.may_act_for(agent_id):
            await _deny(context, "agents act only as themselves")
        return actor

    async def _supervisor(self, context: Any) -> Actor:
        actor = await self.identity.actor(context)
        if not actor.supervisor:
            await _deny(context, "supervisors and admins only")
        return actor

    async def Login(self, request: routing_pb2.LoginRequest, context: Any) -> routing_pb2.Agent:
        await self._guard(context)
        await self._as(context, request.agent_id)
        presence = PRESENCE.get(request.initial_state, eng.AVAILABLE)
        if presence == eng.OFFLINE:
            presence = eng.AVAILABLE
        return await _call(context, lambda: self.core.set_presence(request.agent_id, presence))

    async def Logout(self, request: routing_pb2.LogoutRequest, context: Any) -> routing_pb2.Agent:
        await self._guard(context)
        await self._as(context, request.agent_id)
        return await _call(context, lambda: self.core.set_presence(request.agent_id, eng.OFFLINE))

    async def SetState(self, request: routing_pb2.SetStateRequest, context: Any) -> routing_pb2.Agent:
        await self._guard(context)
        actor = await self._as(context, request.agent_id)
        presence = PRESENCE.get(request.state)
        if presence is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "state must be AVAILABLE, AWAY or OFFLINE")
        forced_by = "" if actor.sub == request.agent_id else actor.sub  # who forced it is the verified caller
        return await _call(context, lambda: self.core.set_presence(
            request.agent_id, presence or eng.AWAY, request.reason, forced_by))

    async def Heartbeat(self, request: routing_pb2.HeartbeatRequest, context: Any,
                        ) -> routing_pb2.HeartbeatResponse:
        await self._guard(context)
        await self._as(context, request.agent_id)
        timeout = await _call(context, lambda: self.core.heartbeat(request.agent_id))
        return routing_pb2.HeartbeatResponse(timeout_seconds=timeout)

    async def WatchOffers(self, request: routing_pb2.WatchOffersRequest, context: Any,
                          ) -> AsyncIterator[routing_pb2.AgentNotice]:
        await self._guard(context)
        agent_id = request.agent_id
        await self._as(context, agent_id)
        core = self.core
        queue = await _call(context, lambda: _async(core.watch(agent_id)))
        try:
            for notice in core.snapshot_for(agent_id):  # what the agent holds now: a reconnecting client catches up
                yield notice
            while True:
                if not self.active():  # lost leadership: send the client to the new leader
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "this router is no longer active; reconnect")
                core.alive(agent_id)
                with contextlib.suppress(TimeoutError):
                    yield await asyncio.wait_for(queue.get(), timeout=2.0)
        finally:
            core.unwatch(agent_id, queue)

    async def Accept(self, request: routing_pb2.AcceptRequest, context: Any) -> routing_pb2.Conversation:
        await self._guard(context)
        await self._as(context, request.agent_id)
        return await _call(context, lambda: self.core.accept(request.agent_id, request.reservation_id))

    async def Reject(self, request: routing_pb2.RejectRequest, context: Any) -> routing_pb2.Ack:
        await self._guard(context)
        await self._as(context, request.agent_id)
        await _call(context, lambda: self.core.reject(request.agent_id, request.reservation_id))
        return routing_pb2.Ack(detail="rejected")

    async def Transfer(self, request: routing_pb2.TransferRequest, context: Any) -> routing_pb2.Conversation:
        await self._guard(context)
        actor = await self._as(context, request.agent_id)
        if request.WhichOneof("target") is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "give to_agent or to_queue")
        holder = self.core.held_by(request.conversation_id)
        if not actor.supervisor and holder != actor.sub and self.core.has_conversation(request.conversation_id):
            await _deny(context, "agents transfer only conversations they hold; ask a supervisor to reassign")
        # A supervisor moving someone else's conversation is a reassignment, recorded with their name.
        requested_by = "" if actor.sub == holder else actor.sub
        return await _call(context, lambda: self.core.transfer(
            holder if requested_by else actor.sub, request.conversation_id, request.to_agent, request.to_queue,
            request.note, requested_by))

    async def WrapUp(self, request: routing_pb2.WrapUpRequest, context: Any) -> routing_pb2.Conversation:
        await self._guard(context)
        await self._as(context, request.agent_id)
        return await _call(context, lambda: self.core.wrap_up(
            request.agent_id, request.conversation_id, request.disposition, request.resolved, request.notes))

    async def GetQueueStats(self, request: routing_pb2.GetQueueStatsRequest, context: Any,
                            ) -> routing_pb2.GetQueueStatsResponse:
        await self.identity.actor(context)
        return self.core.queue_stats(request)

    async def ListAgents(self, request: routing_pb2.ListAgentsRequest, context: Any,
                         ) -> routing_pb2.ListAgentsResponse:
        actor = await self.identity.actor(context)
        agents = self.core.agents(request.queue)
        if not actor.supervisor:  # agents see a directory for transfers, not colleagues' work and skills
            agents = [routing_pb2.Agent(id=a.id, display_name=a.display_name, state=a.state, queues=a.queues)
                      for a in agents]
        return routing_pb2.ListAgentsResponse(agents=agents)

    async def ListConversations(self, request: routing_pb2.ListConversationsRequest, context: Any,
                                ) -> routing_pb2.ListConversationsResponse:
        actor = await self.identity.actor(context)
        if not actor.supervisor and request.agent_id != actor.sub:
            await _deny(context, "agents list only their own conversations")
        return routing_pb2.ListConversationsResponse(conversations=self.core.list_conversations(
            request.agent_id, request.queue, request.include_closed, request.customer_id))

    async def GetConversation(self, request: routing_pb2.GetConversationRequest, context: Any,
                              ) -> routing_pb2.Conversation:
        # Any signed-in user; the inbox decides which conversations an agent may open (held now or before).
        await self.identity.actor(context)
        return await _call(context, lambda: _async(self.core.conversation(request.conversation_id)))

    async def MergeCustomers(self, request: routing_pb2.MergeCustomersRequest, context: Any) -> Any:
        await self._guard(context)
        actor = await self._as(context, request.agent_id)
        identity = request.merged_identity if request.HasField("merged_identity") else None
        if not actor.supervisor:
            why = self.core.merge_refusal(actor.sub, request.customer_id, request.merged_customer_id, identity)
            if why:
                await _deny(context, why)
        return await _call(context, lambda: self.core.merge_customers(
            actor.sub, request.customer_id, request.merged_customer_id, identity))

    async def GetCustomer(self, request: routing_pb2.GetCustomerRequest, context: Any) -> Any:
        await self.identity.actor(context)  # the inbox checks which customers an agent may read
        return await _call(context, lambda: _customer(self.core, request.customer_id))

    async def ExplainRouting(self, request: routing_pb2.ExplainRoutingRequest, context: Any,
                             ) -> routing_pb2.ExplainRoutingResponse:
        await self._supervisor(context)
        decisions = await _call(context, lambda: _async(self.core.explain(request.conversation_id)))
        return routing_pb2.ExplainRoutingResponse(decisions=decisions)

    async def ExplainWaiting(self, request: routing_pb2.ExplainWaitingRequest, context: Any,
                             ) -> routing_pb2.ExplainWaitingResponse:
        await self._supervisor(context)
        return await _call(context, lambda: _async(self.core.explain_waiting(request.conversation_id)))


async def _customer(core: RouterCore, customer_id: str) -> Any:
    return core.customer_proto(customer_id)


async def _async(value: T) -> T:
    return value

