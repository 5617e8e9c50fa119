"""The integration API (/api/v1, Bearer API tokens with scopes and rate limits, its own OpenAPI 3 document) and
its administration by admins: API tokens and webhook subscriptions with their delivery logs and replays."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from google.protobuf.json_format import MessageToDict
from pydantic import BaseModel, ValidationError

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.identity import Actor, acting_as
from omnihub.common.jsonbody import describe, read_body
from omnihub.common.openapi import document
from omnihub.inbox import audit, teams
from omnihub.inbox.auth import SESSION, Session
from omnihub.inbox.integration_models import (
    V1_OPERATIONS,
    AgentOut,
    Agents,
    ConversationOut,
    Conversations,
    ConversationsQuery,
    CustomerOut,
    DeliveryLog,
    MessageOut,
    Messages,
    Ok,
    QueueOut,
    Queues,
    TokenBody,
    TokenList,
    WebhookBody,
    WebhookList,
)
from omnihub.inbox.report_models import Report, ReportQuery
from omnihub.inbox.reports import Reports
from omnihub.inbox.tokens import TokenStore
from omnihub.inbox.urlguard import BlockedAddress
from omnihub.inbox.webhooks import Webhooks

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

PREFIX = "/api/v1/"
OPENAPI = "/api/v1/openapi.json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
R = routing_pb2
SECURITY = {"token": {"type": "http", "scheme": "bearer",
                      "description": "an API token an admin created (POST /api/admin/tokens), sent as "
                                     "Authorization: Bearer <token>"}}


def openapi_document() -> dict[str, Any]:
    """The integration API's OpenAPI 3 document (the inbox's own document covers the session routes)."""
    return document("omnihub integration API", "1", V1_OPERATIONS, SECURITY)


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(model.model_dump(mode="json"), status=status)


def _admin(request: web.Request) -> str:
    session = request[SESSION]
    if session.role != "admin":  # the middleware refuses others on /api/admin/ too; never trusted alone
        raise web.HTTPForbidden(text="admins only")
    return str(session.user)


def _enum(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower() if value else ""


def _time(ts: Any) -> str:
    return str(ts.ToJsonString()) if ts.seconds or ts.nanos else ""


def conversation_out(c: routing_pb2.Conversation) -> ConversationOut:
    """A router conversation as the API shows it."""
    return ConversationOut(
        id=c.id, channel=subjects.channel_token(c.channel) if c.channel else "", customer_id=c.customer_id,
        status=_enum(c.status, R.ConversationStatus, "CONVERSATION_STATUS_"),
        routing_state=_enum(c.routing_state, R.RoutingState, "ROUTING_STATE_"), queue=c.queue,
        assigned_agent=c.assigned_agent, subject=c.subject, disposition=c.disposition, resolved=c.resolved,
        create_time=_time(c.create_time), answer_time=_time(c.answer_time), close_time=_time(c.close_time))


class Integration:
    """Token checks for /api/v1, its handlers, and the admins' token and webhook routes."""

    def __init__(self, inbox: Inbox, tokens: TokenStore, webhooks: Webhooks) -> None:
        self.inbox = inbox
        self.tokens = tokens
        self.webhooks = webhooks
        self.scopes: dict[str, str] = {}  # route (as registered) -> the scope it needs

    # ---- the guard -------------------------------------------------------------------------------------
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Bearer token, then its rate limit, then the route's scope; the handler acts as `api:<token id>`."""
        if request.path == OPENAPI:
            return await handler(request)
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        token = await self.tokens.check(presented.strip()) if scheme.lower() == "bearer" else None
        if token is None:
            raise web.HTTPUnauthorized(text="a valid API token is required (Authorization: Bearer <token>); "
                                            "this one is missing, unknown, revoked or expired",
                                       headers={"WWW-Authenticate": 'Bearer realm="omnihub"'})
        wait = await self.tokens.hit(token)
        if wait:
            raise web.HTTPTooManyRequests(text=f"rate limit of this token ({token.rate}) reached",
                                          headers={"Retry-After": str(wait)})
        info = request.match_info.route.resource
        needed = self.scopes.get(info.canonical if info is not None else "", "")
        if not needed or needed not in token.scopes:
            raise web.HTTPForbidden(text=f"this token lacks the scope {needed or 'for this route'}")
        # The token reads as a supervisor of its teams (or of the whole center): teams.py scopes what it sees.
        request[SESSION] = Session(f"api:{token.id}", "supervisor", token.name, "", 0.0, token.teams)
        with acting_as(Actor(f"api:{token.id}", "supervisor")):  # router and quality see who reads
            return await handler(request)

    # ---- /api/v1 --------------------------------------------------------------------------------------
    async def conversations(self, request: web.Request) -> web.Response:
        """GET /api/v1/conversations?queue=&agent=."""
        try:
            query = ConversationsQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text=describe(exc)) from None
        session = request[SESSION]
        if query.agent:
            await teams.require_agent(self.inbox, session, query.agent)
        resp = await self.inbox._rpc(self.inbox.router.ListConversations(
            R.ListConversationsRequest(agent_id=query.agent, queue=query.queue)))
        scope = await teams.scope_of(self.inbox, session)
        return _json(Conversations(conversations=[conversation_out(c) for c in resp.conversations if scope.sees(c)]))

    async def _conversation(self, request: web.Request, cid: str) -> routing_pb2.Conversation:
        """The conversation, 403 when a team token's teams neither hold it nor serve its queue."""
        conv: routing_pb2.Conversation = await self.inbox._rpc(self.inbox.router.GetConversation(
            R.GetConversationRequest(conversation_id=cid)))
        await teams.require(self.inbox, request[SESSION], conv)
        return conv

    async def conversation(self, request: web.Request) -> web.Response:
        """GET /api/v1/conversations/{id}."""
        return _json(conversation_out(await self._conversation(request, request.match_info["id"])))

    async def messages(self, request: web.Request) -> web.Response:
        """GET /api/v1/conversations/{id}/messages: oldest first, without private notes."""
        conv = await self._conversation(request, request.match_info["id"])
        history = await self.inbox.store.customer_history(conv.customer_id)
        return _json(Messages(messages=[
            MessageOut(id=m["_id"], conversation_id=m.get("conversation_id", ""), direction=m.get("direction", ""),
                       channel=m.get("channel", ""), text=m.get("text", ""), agent_id=m.get("agent_id", ""),
                       time=float(m.get("time", 0))) for m in history
            if m.get("conversation_id") == conv.id and not m.get("private")]))

    async def customer(self, request: web.Request) -> web.Response:
        """GET /api/v1/customers/{id}."""
        cust = await self.inbox._rpc(self.inbox.router.GetCustomer(R.GetCustomerRequest(
            customer_id=request.match_info["id"])))
        return _json(CustomerOut(id=cust.id, display_name=cust.display_name, identities=[
            MessageToDict(i, preserving_proto_field_name=True) for i in cust.identities]))

    async def agents(self, request: web.Request) -> web.Response:
        """GET /api/v1/agents."""
        resp = await self.inbox._rpc(self.inbox.router.ListAgents(R.ListAgentsRequest()))
        team = teams.scope(self.inbox.users, request[SESSION], resp)
        return _json(Agents(agents=[AgentOut(
            id=a.id, display_name=a.display_name or a.id, state=_enum(a.state, R.AgentState, "AGENT_STATE_"),
            reason=a.state_reason, queues=list(a.queues), conversations=len(a.conversation_ids)) for a in resp.agents
            if team.sees_agent(a.id)]))

    async def queues(self, request: web.Request) -> web.Response:
        """GET /api/v1/queues."""
        resp = await self.inbox._rpc(self.inbox.router.GetQueueStats(R.GetQueueStatsRequest()))
        return _json(Queues(queues=[QueueOut(
            queue=q.queue, waiting=q.waiting, active=q.active, longest_wait_seconds=q.longest_wait.ToNanoseconds() / 1e9,
            answered_today=q.answered_today, abandoned_today=q.abandoned_today,
            service_level_today=q.service_level_today if q.HasField("service_level_today") else None,
            open_now=q.open_now, agents_by_state=dict(q.agents_by_state)) for q in resp.stats]))

    async def kpis(self, request: web.Request) -> web.Response:
        """GET /api/v1/kpis?period=&group_by=...: the quality service's KPIs, as the reports page gets them."""
        try:
            query = ReportQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text=describe(exc)) from None
        if query.agent:
            await teams.require_agent(self.inbox, request[SESSION], query.agent)
        reports = Reports(self.inbox)
        status, body, _, _ = await reports._get({k: v for k, v in query.model_dump(by_alias=True).items() if v})
        if status != 200:
            raise reports._failed(status, body)
        answer = Report.model_validate_json(body)
        members = teams.team_agents(self.inbox.users, request[SESSION])
        if members is not None and query.group_by == "agent":  # a team token: its agents' rows only
            answer.rows = [r for r in answer.rows if r.key in members]
        return web.json_response(answer.model_dump(by_alias=True))

    async def openapi(self, request: web.Request) -> web.Response:
        """GET /api/v1/openapi.json: the integration API's OpenAPI 3 document."""
        return web.json_response(openapi_document())

    # ---- administration --------------------------------------------------------------------------------
    async def create_token(self, request: web.Request) -> web.Response:
        """POST /api/admin/tokens {name, scopes, rate, expires_in_days}: the token is in this answer only."""
        user = _admin(request)
        body = await read_body(request, TokenBody, max_bytes=4096)
        known = {t for u in self.inbox.users.values() for t in u.teams} | {
            t for teams_ in self.inbox.users.sso.values() for t in teams_}
        if unknown := sorted(set(body.teams) - known):
            raise web.HTTPBadRequest(text=f"unknown team(s): {', '.join(unknown)} (teams come from users.yaml and agents' SSO sign-ins)")
        made = await self.tokens.create(body, user)
        await audit.record(request, "config.change", made.id, after={"api_token": made.model_dump(exclude={"token"})})
        return _json(made, status=201)

    async def list_tokens(self, request: web.Request) -> web.Response:
        """GET /api/admin/tokens."""
        _admin(request)
        return _json(TokenList(tokens=await self.tokens.listed()))

    async def revoke_token(self, request: web.Request) -> web.Response:
        """POST /api/admin/tokens/{id}/revoke."""
        _admin(request)
        token_id = request.match_info["id"]
        if not await self.tokens.revoke(token_id):
            raise web.HTTPNotFound(text="no such token")
        await audit.record(request, "config.change", token_id, after={"api_token": "revoked"})
        return _json(Ok())

    async def subscribe(self, request: web.Request) -> web.Response:
        """POST /api/admin/webhooks {url, events, description}: the signing secret is in this answer only."""
        user = _admin(request)
        body = await read_body(request, WebhookBody, max_bytes=4096)
        try:  # no loopback, private, link-local (metadata) targets unless allowed; checked again at each delivery
            await self.webhooks.guard.check_url(str(body.url))
        except BlockedAddress as exc:
            raise web.HTTPBadRequest(text=f"webhook URL refused: {exc}") from None
        made = await self.webhooks.subscribe(body, user)
        await audit.record(request, "config.change", made.id, after={"webhook": made.model_dump(exclude={"secret"})})
        return _json(made, status=201)

    async def list_webhooks(self, request: web.Request) -> web.Response:
        """GET /api/admin/webhooks."""
        _admin(request)
        return _json(WebhookList(webhooks=await self.webhooks.listed()))

    async def unsubscribe(self, request: web.Request) -> web.Response:
        """DELETE /api/admin/webhooks/{id}."""
        _admin(request)
        sub_id = request.match_info["id"]
        before = await self.webhooks.get(sub_id)
        if before is None or not await self.webhooks.remove(sub_id):
            raise web.HTTPNotFound(text="no such webhook")
        await audit.record(request, "config.change", sub_id, before={"webhook": before.model_dump()})
        return _json(Ok())

    async def deliveries(self, request: web.Request) -> web.Response:
        """GET /api/admin/webhooks/{id}/deliveries: the delivery log, newest first."""
        _admin(request)
        sub_id = request.match_info["id"]
        if await self.webhooks.get(sub_id) is None:
            raise web.HTTPNotFound(text="no such webhook")
        return _json(DeliveryLog(deliveries=await self.webhooks.deliveries(sub_id)))

    async def replay(self, request: web.Request) -> web.Response:
        """POST /api/admin/webhooks/{id}/deliveries/{delivery}/replay: send it again now."""
        _admin(request)
        if not await self.webhooks.replay(request.match_info["id"], request.match_info["delivery"]):
            raise web.HTTPNotFound(text="no such delivery")
        return _json(Ok())


def register(app: web.Application, integration: Integration) -> None:
    """The /api/v1 routes with their scopes, and the admins' token and webhook routes."""
    r = app.router
    for path, handler, scope in (
            ("/api/v1/conversations", integration.conversations, "conversations:read"),
            ("/api/v1/conversations/{id}", integration.conversation, "conversations:read"),
            ("/api/v1/conversations/{id}/messages", integration.messages, "messages:read"),
            ("/api/v1/customers/{id}", integration.customer, "customers:read"),
            ("/api/v1/agents", integration.agents, "agents:read"),
            ("/api/v1/queues", integration.queues, "queues:read"),
            ("/api/v1/kpis", integration.kpis, "kpis:read")):
        r.add_get(path, handler)
        integration.scopes[path] = scope
    r.add_get(OPENAPI, integration.openapi)
    r.add_post("/api/admin/tokens", integration.create_token)
    r.add_get("/api/admin/tokens", integration.list_tokens)
    r.add_post("/api/admin/tokens/{id}/revoke", integration.revoke_token)
    r.add_post("/api/admin/webhooks", integration.subscribe)
    r.add_get("/api/admin/webhooks", integration.list_webhooks)
    r.add_delete("/api/admin/webhooks/{id}", integration.unsubscribe)
    r.add_get("/api/admin/webhooks/{id}/deliveries", integration.deliveries)
    r.add_post("/api/admin/webhooks/{id}/deliveries/{delivery}/replay", integration.replay)
