"""The inbox's HTTP API and WebSocket: login, offers, conversations, replies, KPIs and the wallboard."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
from aiohttp import web
from limits.aio.storage import MemoryStorage

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import subjects
from omnihub.common.bus import Bus, new_event, new_id, now_timestamp
from omnihub.common.clientaddr import Network, client_address
from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials, acting_as
from omnihub.common.jsonbody import read_body
from omnihub.common.openapi import OPENAPI_PATH
from omnihub.common.openapi import serve as serve_openapi
from omnihub.common.retention import DailyJob
from omnihub.common.tombstones import Tombstones
from omnihub.inbox import (
    attachments,
    audit,
    calls,
    customers,
    kb,
    organise,
    performance,
    qa,
    quoting,
    receipts,
    reports,
    search,
    sso,
    supervision,
    teams,
    wfm,
    whatsapp,
    wrapup,
)
from omnihub.inbox.audit import AuditTrail
from omnihub.inbox.auth import COOKIE, SESSION, LoginLimiter, Session, SessionStore
from omnihub.inbox.config import User
from omnihub.inbox.directory import Directory, SsoMembers
from omnihub.inbox.files import FileStore
from omnihub.inbox.integration import PREFIX as API_V1
from omnihub.inbox.integration import Integration
from omnihub.inbox.integration import register as register_integration
from omnihub.inbox.live import Hub, to_dict
from omnihub.inbox.models import (
    EvaluationActionBody,
    ForceStateBody,
    LoginBody,
    LogoutResult,
    MergeBody,
    ReassignBody,
    ReplyBody,
    StateBody,
    TransferBody,
    TypingBody,
    openapi,
)
from omnihub.inbox.privacy import register as register_privacy
from omnihub.inbox.qa import TwilioRecordings
from omnihub.inbox.store import InboxStore
from omnihub.inbox.tokens import TokenStore
from omnihub.inbox.wallboard import register as register_wallboard
from omnihub.inbox.wallboard_models import WallboardConfig
from omnihub.inbox.web import Desktop
from omnihub.inbox.webhooks import Webhooks
from omnihub.inbox.wrapup import DEFAULT as DEFAULT_DISPOSITIONS

# The softphone (Twilio Voice JS SDK) signals over wss://voice-js.<edge>.twilio.com, reports call quality to
# eventgw.twilio.com and fetches its ringing sounds from sdk.twilio.com; nothing else leaves 'self'.
TWILIO_VOICE = "wss://*.twilio.com https://eventgw.twilio.com https://sdk.twilio.com"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       f"connect-src 'self' {TWILIO_VOICE}; media-src 'self' https://sdk.twilio.com; frame-src 'none'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
STATES = {"AVAILABLE": routing_pb2.AGENT_STATE_AVAILABLE, "AWAY": routing_pb2.AGENT_STATE_AWAY,
          "OFFLINE": routing_pb2.AGENT_STATE_OFFLINE}
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}
PUBLIC = {"/api/login", OPENAPI_PATH, *sso.PUBLIC}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """CSP, nosniff and friends on every response: pages, API, static files, 404s and errors."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class Inbox:
    """Everything the handlers share."""

    def __init__(self, users: dict[str, User], sessions: SessionStore, store: InboxStore, bus: Bus,
                 router: routing_pb2_grpc.RouterAsyncStub, quality_url: str, secure_cookies: bool = False,
                 limiter: LoginLimiter | None = None, trusted_proxies: tuple[Network, ...] = (),
                 credentials: Credentials | None = None, aht_target: float = 300.0) -> None:
        self.users = users if isinstance(users, Directory) else Directory(users)  # + SSO agents' teams
        self.aht_target = aht_target  # seconds: the AHT target "My performance" shows
        self.adherence_target = 0.9  # the schedule adherence target "My performance" shows (0: none)
        # Router calls carry these through the router stub's channel; quality calls through headers here.
        # Without them (tests that never reach quality) fresh ones are made up, so nothing is ever unsigned.
        self.credentials = credentials or Credentials.generate()
        self.sessions = sessions
        self.store = store
        self.bus = bus
        self.router = router
        self.quality_url = quality_url.rstrip("/")
        self.secure = secure_cookies
        self.limiter = limiter or LoginLimiter(MemoryStorage())
        self.trusted_proxies = trusted_proxies
        self.hub = Hub(store, router)
        self.audit = AuditTrail(store, trusted_proxies)  # every privileged action, append-only
        self.tokens = TokenStore(store, MemoryStorage())  # app.main gives it the replicas' shared counters
        self.webhooks = Webhooks(store)
        self.integration = Integration(self, self.tokens, self.webhooks)  # /api/v1 and its admin
        self.dispositions = DEFAULT_DISPOSITIONS  # app.main sets the configured ones before the routes
        self.wallboard_config = WallboardConfig()  # app.main sets config/wallboard.yaml's
        self.search = search.SearchIndex(store)
        self.tombstones = Tombstones(secrets.token_bytes(32))  # erased customers; app.main keys and loads them
        self.sso_members = SsoMembers(store.db["sso_members"], self.users) if store is not None else None
        self.http: aiohttp.ClientSession | None = None
        self.softphone: calls.Softphone | None = None  # Twilio Voice tokens, where configured
        self.recordings: TwilioRecordings | None = None  # set when a Twilio account is configured
        # Agents' uploads and every attachment's reference; app.main keys the signed links from the settings.
        self.files = FileStore(store.db if store is not None else None, secrets.token_bytes(32))  # type: ignore[arg-type]
        self.hub.files = self.files
        self.attachments = attachments.Attachments(self, attachments.Sources())
        self.public_url = "http://127.0.0.1:8080"  # where providers fetch the signed links of our files
        self.file_link_ttl = 7 * 86_400.0
        self.retention_days: dict[str, int] = {}  # app.main: days kept per kind; its daily job (inbox/retention.py)
        self.retention_job: DailyJob | None = None
        self.sso: sso.SingleSignOn | None = None  # OpenID Connect login, where configured
        self.admins_only = False  # passwords only for admins (break-glass) when SSO is the way in

    # ---- middleware -------------------------------------------------------------------
    @web.middleware
    async def security(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authentication, role checks and CSRF on state changes."""
        path = request.path
        if path.startswith(API_V1):  # the integration API: API tokens, never sessions
            return await self.integration.guard(request, handler)
        if path.startswith("/api/") and path not in PUBLIC:
            session = await self.sessions.read(request.cookies.get(COOKIE))
            if session is None:
                raise web.HTTPUnauthorized(text="log in first")
            request[SESSION] = session
            if request.method not in ("GET", "HEAD"):
                token = request.headers.get("X-CSRF-Token", "")
                if not hmac.compare_digest(token, session.csrf):
                    raise web.HTTPForbidden(text="missing or wrong CSRF token")
            if path.startswith("/api/supervisor/") and session.role == "agent":
                raise web.HTTPForbidden(text="supervisors only")
            if path.startswith("/api/admin/") and session.role != "admin":
                raise web.HTTPForbidden(text="admins only")
            with acting_as(Actor(session.user, session.role)):  # router and quality calls carry who acts
                return await handler(request)
        return await handler(request)

    # ---- pages and auth ------------------------------------------------------------------
    async def login(self, request: web.Request) -> web.Response:
        """POST /api/login {username, password}: sets the session cookie."""
        body = await read_body(request, LoginBody, max_bytes=4096)
        username, password = body.username, body.password
        address = client_address(request, self.trusted_proxies)
        if not await self.limiter.attempt(username, address):
            wait = await self.limiter.retry_after(username, address)
            await audit.record(request, "auth.login_failed", username, actor=username, outcome="refused",
                               after={"reason": "too many failed logins"})
            raise web.HTTPTooManyRequests(text="too many failed logins; try again in a few minutes",
                                          headers={"Retry-After": str(wait)})
        user = await self.sessions.check_password(username, password)
        if user is None:
            await audit.record(request, "auth.login_failed", username, actor=username, outcome="refused",
                               after={"reason": "wrong username or password"})
            raise web.HTTPUnauthorized(text="wrong username or password")
        if self.admins_only and user.role != "admin":  # checked after the password: says nothing to guessers
            await self.limiter.succeeded(username, address)
            await audit.record(request, "auth.login_failed", username, actor=username, outcome="refused",
                               after={"reason": "local login is for administrators only; use single sign-on"})
            raise web.HTTPForbidden(text="local login is for administrators only; sign in with SSO")
        # three independent writes at once: each is a round trip to MongoDB on the way to the first paint
        _, _, (cookie, session) = await asyncio.gather(
            self.limiter.succeeded(username, address),
            audit.record(request, "auth.login", user.id, actor=user.id, role=user.role, after={"method": "password"}),
            self.sessions.issue(user))
        resp = web.json_response(self._me(session))
        resp.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", secure=self.secure,
                        max_age=self.sessions.lifetime, path="/")
        return resp

    def _me(self, s: Session) -> dict[str, Any]:
        return {"id": s.user, "name": s.name, "role": s.role, "csrf": s.csrf}

    async def me(self, request: web.Request) -> web.Response:
        """GET /api/me: who am I (and my CSRF token)."""
        return web.json_response(self._me(request[SESSION]))

    async def logout(self, request: web.Request) -> web.Response:
        """POST /api/logout: ends this session (on every replica) and logs out of the router too."""
        s = request[SESSION]
        id_token = await self.sessions.revoke(request.cookies.get(COOKIE))
        if s.role == "agent":
            await self._rpc(self.router.Logout(routing_pb2.LogoutRequest(agent_id=s.user)), allow_missing=True)
        # An SSO session also ends at the provider when it offers that: the browser goes there next.
        redirect = await self.sso.logout_url(id_token) if self.sso is not None and id_token else None
        resp = web.json_response(LogoutResult(ok=True, redirect=redirect).model_dump(exclude_none=True))
        resp.del_cookie(COOKIE, path="/")
        return resp

    async def force_logout(self, request: web.Request) -> web.Response:
        """POST /api/admin/users/{id}/logout: an admin ends every session of a user."""
        user = request.match_info["id"]
        if user not in self.users and not await self.sessions.known(user):  # SSO users exist in sessions only
            raise web.HTTPNotFound(text="unknown user")
        ended = await self.sessions.revoke_user(user)
        await self.hub.disconnect(user)
        await audit.record(request, "auth.force_logout", user, after={"sessions_ended": ended})
        return web.json_response({"ended": ended})

    # ---- router calls ---------------------------------------------------------------
    async def _rpc(self, call: Awaitable[Any], allow_missing: bool = False) -> Any:
        try:
            return await call
        except grpc.aio.AioRpcError as exc:
            if allow_missing and exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            status = {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.FAILED_PRECONDITION: 409,
                      grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.INVALID_ARGUMENT: 400}.get(exc.code(), 503)
            raise _http_error(status, exc.details() or "router unavailable") from None

    async def set_state(self, request: web.Request) -> web.Response:
        """POST /api/state {state, reason}: Available, Away (with a reason) or Offline."""
        s = request[SESSION]
        body = await read_body(request, StateBody)
        agent = await self._rpc(self.router.SetState(routing_pb2.SetStateRequest(
            agent_id=s.user, state=STATES[body.state], reason=body.reason)))
        return web.json_response(to_dict(agent))

    async def heartbeat(self, request: web.Request) -> web.Response:
        """POST /api/heartbeat: keeps the agent's router session alive."""
        s = request[SESSION]
        resp = await self._rpc(self.router.Heartbeat(routing_pb2.HeartbeatRequest(agent_id=s.user)))
        return web.json_response({"timeout_seconds": resp.timeout_seconds})

    async def accept(self, request: web.Request) -> web.Response:
        """POST /api/offers/{reservation}/accept."""
        s = request[SESSION]
        conv = await self._rpc(self.router.Accept(routing_pb2.AcceptRequest(
            agent_id=s.user, reservation_id=request.match_info["reservation"])))
        self.hub.holder[conv.id] = s.user
        return web.json_response(to_dict(conv))

    async def reject(self, request: web.Request) -> web.Response:
        """POST /api/offers/{reservation}/reject."""
        s = request[SESSION]
        await self._rpc(self.router.Reject(routing_pb2.RejectRequest(
            agent_id=s.user, reservation_id=request.match_info["reservation"])))
        return web.json_response({"ok": True})

    async def conversations(self, request: web.Request) -> web.Response:
        """GET /api/conversations: mine (agents) or all open ones (supervisors)."""
        s = request[SESSION]
        agent = "" if s.role != "agent" and request.query.get("all") else s.user
        resp = await self._rpc(self.router.ListConversations(routing_pb2.ListConversationsRequest(agent_id=agent)))
        scope = await teams.scope_of(self, s) if not agent else None
        return web.json_response([to_dict(c) for c in resp.conversations if scope is None or scope.sees(c)])

    async def _conversation(self, s: Session, cid: str, held_before: bool = False) -> routing_pb2.Conversation:
        """The conversation, for its holder (or, to read, an agent who held it before) and supervisors."""
        conv = await self._rpc(self.router.GetConversation(routing_pb2.GetConversationRequest(conversation_id=cid)))
        if s.role == "agent" and conv.assigned_agent != s.user and not (
                held_before and await self.store.has_held(s.user, conversation_id=cid)):
            raise web.HTTPForbidden(text="this conversation is not yours")
        await teams.require(self, s, conv)  # a supervisor: their teams' conversations only
        return conv  # type: ignore[no-any-return]

    async def messages(self, request: web.Request) -> web.Response:
        """GET /api/conversations/{id}/messages: the customer's history across every channel."""
        s = request[SESSION]
        conv = await self._conversation(s, request.match_info["id"], held_before=True)
        history = await self.store.customer_history(conv.customer_id)
        await receipts.agent_read(self, s.user, conv, history)  # the widget shows the visitor's messages as read
        return web.json_response({"conversation": to_dict(conv), "messages": history})

    async def reply(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/reply {text, subject?, private?}: send or note."""
        s = request[SESSION]
        conv = await self._conversation(s, request.match_info["id"])
        body = await read_body(request, ReplyBody)
        text = body.text.strip()
        if body.template_id:
            if conv.channel != contact_pb2.CHANNEL_WHATSAPP or body.private:
                raise web.HTTPBadRequest(text="templates are for WhatsApp replies only")
            text = text or f"[template {body.template_id}] " + " · ".join(body.template_variables.values())
        kept, sent = await self.attachments.outgoing(conv, body.attachments, self.public_url, self.file_link_ttl)
        if not text and not kept:
            raise web.HTTPBadRequest(text="the reply is empty")
        private = body.private
        if (body.cc or body.quote) and (conv.channel != contact_pb2.CHANNEL_EMAIL or private):
            raise web.HTTPBadRequest(text="Cc and the quoted thread are for email replies only")
        # the customer's mail under the reply, in the mail only (the timeline shows the reply)
        quoted = await quoting.thread_quote(self.store, conv, body.quote_header) if body.quote else ""
        message = messaging_pb2.Message(
            id=new_id("out"), conversation_id=conv.id, channel=conv.channel, text=text, agent_id=s.user,
            private=private, create_time=now_timestamp(), subject=body.subject, attachments=kept,
            direction=messaging_pb2.DIRECTION_ACTIVITY if private else messaging_pb2.DIRECTION_OUTGOING)
        await self.files.mark_sent(list(dict.fromkeys(body.attachments)))  # kept from the sweep of unsent uploads
        if not private:
            out = messaging_pb2.OutboundMessage(
                id=message.id, channel=conv.channel, identity=conv.identity, conversation_id=conv.id,
                thread_key=conv.thread_key, text=text, subject=message.subject or _re(conv.subject), cc=body.cc, quoted_text=quoted,
                agent_id=s.user, agent_display_name=s.name, kind=messaging_pb2.OUTBOUND_KIND_REPLY,
                create_time=message.create_time, template_id=body.template_id,
                template_variables=body.template_variables, attachments=sent)
            await self.bus.publish(subjects.outbound(conv.channel), out, msg_id=out.id)
        evt = new_event("inbox", conversation_id=conv.id, customer_id=conv.customer_id, channel=conv.channel,
                        thread_key=conv.thread_key, identity=conv.identity, queue=conv.queue,
                        message_created=event_pb2.MessageCreated(message=message))
        await self.bus.publish_event(evt)
        return web.json_response({"id": message.id})

    async def typing(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/typing {typing}: the web-chat visitor sees the agent typing."""
        s = request[SESSION]
        conv = await self._conversation(s, request.match_info["id"])
        body = await read_body(request, TypingBody)
        if conv.channel == contact_pb2.CHANNEL_WEBCHAT:
            payload = json.dumps({"typing": body.typing, "agent": s.name}).encode()
            await self.bus.nc.publish(subjects.chat_typing_agent(conv.identity.source_id), payload)
        return web.json_response({"ok": True})

    async def transfer(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/transfer {to_agent | to_queue, note}."""
        s = request[SESSION]
        body = await read_body(request, TransferBody)
        req = routing_pb2.TransferRequest(agent_id=s.user, conversation_id=request.match_info["id"], note=body.note)
        if body.to_agent:
            req.to_agent = body.to_agent
        elif body.to_queue:
            req.to_queue = body.to_queue
        else:
            raise web.HTTPBadRequest(text="give to_agent or to_queue")
        before = await self._placement(req.conversation_id)
        conv = await self._rpc(self.router.Transfer(req))
        await audit.record(request, "conversation.transfer", conv.id, before=before,
                           after={"agent": conv.assigned_agent, "queue": conv.queue, "note": body.note})
        return web.json_response(to_dict(conv))

    async def _placement(self, conversation_id: str) -> dict[str, str] | None:
        """Who holds a conversation and in which queue (an audit record's "before"), None if unknown."""
        conv = await self._rpc(self.router.GetConversation(routing_pb2.GetConversationRequest(
            conversation_id=conversation_id)), allow_missing=True)
        return None if conv is None else {"agent": conv.assigned_agent, "queue": conv.queue}

    async def agents(self, request: web.Request) -> web.Response:
        """GET /api/agents: colleagues and their states (for transfers)."""
        resp = await self._rpc(self.router.ListAgents(routing_pb2.ListAgentsRequest()))
        return web.json_response([to_dict(a) for a in resp.agents])

    async def customer(self, request: web.Request) -> web.Response:
        """GET /api/customers/{id}: the customer and every identity resolved to them (an agent: only customers of
        conversations they hold or held)."""
        s = request[SESSION]
        customer_id = request.match_info["id"]
        if s.role == "agent" and not await self._served(s.user, customer_id):
            raise web.HTTPForbidden(text="this customer is not one of yours")
        cust = await self._rpc(self.router.GetCustomer(routing_pb2.GetCustomerRequest(customer_id=customer_id)))
        return web.json_response(to_dict(cust))

    async def _served(self, agent: str, customer_id: str) -> bool:
        """Whether the agent holds or held a conversation of this customer."""
        if await self.store.has_held(agent, customer_id=customer_id):
            return True
        mine = await self._rpc(self.router.ListConversations(routing_pb2.ListConversationsRequest(agent_id=agent)))
        return any(c.customer_id == customer_id for c in mine.conversations)  # accepted just now: no event yet

    async def merge(self, request: web.Request) -> web.Response:
        """POST /api/customers/{id}/merge {channel, source_id} or {customer_id}: fold another record into this one."""
        s = request[SESSION]
        body = await read_body(request, MergeBody)
        req = routing_pb2.MergeCustomersRequest(agent_id=s.user, customer_id=request.match_info["id"],
                                                merged_customer_id=body.customer_id)
        if body.source_id:
            channel = "CHANNEL_" + body.channel.upper()
            if channel not in contact_pb2.Channel.DESCRIPTOR.values_by_name:
                raise web.HTTPBadRequest(text="unknown channel")
            req.merged_identity.CopyFrom(contact_pb2.Identity(channel=contact_pb2.Channel.Value(channel),
                                                              source_id=body.source_id))
        cust = await self._rpc(self.router.MergeCustomers(req))
        # an identity is kept hashed: audit records are append-only and outlive the customer's erasure
        merged = body.customer_id or f"{body.channel}:sha256:{hashlib.sha256(body.source_id.encode()).hexdigest()[:16]}"
        await audit.record(request, "customer.merge", cust.id, before={"merged": merged}, after={"customer": cust.id})
        return web.json_response(to_dict(cust))

    # ---- KPIs and wallboard ----------------------------------------------------------------
    async def quality_kpis(self, params: dict[str, str], actor: Actor | None = None) -> dict[str, Any] | None:
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        headers = self.credentials.headers(QUALITY_AUDIENCE, actor)
        try:
            async with self.http.get(f"{self.quality_url}/api/kpis", params=params, headers=headers) as resp:
                return await resp.json() if resp.status == 200 else None  # type: ignore[no-any-return]
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def my_evaluations(self, request: web.Request) -> web.Response:
        """GET /api/evaluations/me: my QA evaluations."""
        s = request[SESSION]
        docs = await self._quality_call("GET", "/api/evaluations", params={"agent": s.user})
        return web.json_response(docs)

    async def evaluation_action(self, request: web.Request) -> web.Response:
        """POST /api/evaluations/{id}/{acknowledge|dispute} {note}: the agent answers an evaluation."""
        s = request[SESSION]
        action = request.match_info["action"]
        if action not in ("acknowledge", "dispute") and s.role == "agent":
            raise web.HTTPForbidden(text="agents can acknowledge or dispute")
        body = await read_body(request, EvaluationActionBody)
        doc = await self._quality_call("POST", f"/api/evaluations/{request.match_info['id']}/{action}",
                                       json={"note": body.note, "new_score": body.new_score})
        await audit.record(request, f"qa.evaluation.{action}", request.match_info["id"],
                           after={"note": body.note, "new_score": body.new_score})
        return web.json_response(doc)

    async def _quality_call(self, method: str, path: str, **kwargs: Any) -> Any:
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            async with self.http.request(method, self.quality_url + path,
                                         headers=self.credentials.headers(QUALITY_AUDIENCE), **kwargs) as resp:
                if resp.status >= 400:
                    raise _http_error(resp.status, await resp.text())
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError):
            raise web.HTTPServiceUnavailable(text="the quality service is unavailable") from None

    async def force_state(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/agents/{id}/state {state, reason}: force an agent's state."""
        body = await read_body(request, ForceStateBody)
        await teams.require_agent(self, request[SESSION], request.match_info["id"])
        agent_id = request.match_info["id"]
        agents = await self._rpc(self.router.ListAgents(routing_pb2.ListAgentsRequest()))
        before = next(({"state": routing_pb2.AgentState.Name(a.state).removeprefix("AGENT_STATE_"),
                        "reason": a.state_reason} for a in agents.agents if a.id == agent_id), None)
        agent = await self._rpc(self.router.SetState(routing_pb2.SetStateRequest(
            agent_id=agent_id, state=STATES[body.state], reason=body.reason,
            forced_by=request[SESSION].user)))
        await audit.record(request, "agent.force_state", agent_id, before=before,
                           after={"state": body.state, "reason": body.reason})
        return web.json_response(to_dict(agent))

    async def reassign(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/conversations/{id}/reassign {to_agent | to_queue}."""
        body = await read_body(request, ReassignBody)
        await self._conversation(request[SESSION], request.match_info["id"])  # in the supervisor's teams
        if body.to_agent:
            await teams.require_agent(self, request[SESSION], body.to_agent)
        req = routing_pb2.TransferRequest(agent_id=request[SESSION].user, conversation_id=request.match_info["id"])
        if body.to_agent:
            req.to_agent = body.to_agent
        else:
            req.to_queue = body.to_queue
        before = await self._placement(req.conversation_id)
        conv = await self._rpc(self.router.Transfer(req))
        await audit.record(request, "conversation.reassign", conv.id, before=before,
                           after={"agent": conv.assigned_agent, "queue": conv.queue})
        return web.json_response(to_dict(conv))

    async def why(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/conversations/{id}/why: every routing decision and its inputs."""
        await self._conversation(request[SESSION], request.match_info["id"])  # in the supervisor's teams
        resp = await self._rpc(self.router.ExplainRouting(routing_pb2.ExplainRoutingRequest(
            conversation_id=request.match_info["id"])))
        return web.json_response([to_dict(d) for d in resp.decisions])

    # ---- live --------------------------------------------------------------------------
    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """GET /ws/agent: authenticated by the session cookie; same-origin only."""
        session = await self.sessions.read(request.cookies.get(COOKIE))
        origin = request.headers.get("Origin", "")
        if session is None:
            raise web.HTTPUnauthorized(text="log in first")
        if origin and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="cross-origin socket refused")
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=64 * 1024)
        await ws.prepare(request)
        with acting_as(Actor(session.user, session.role)):  # the offer stream and heartbeats act as the user
            return await self._serve_socket(session, ws)

    async def _serve_socket(self, session: Session, ws: web.WebSocketResponse) -> web.WebSocketResponse:
        self.hub.attach(session.user, session.role, ws)
        try:
            await ws.send_json({"type": "hello", "data": {"user": session.user}})
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "ping" and session.role == "agent":
                    await self._rpc(self.router.Heartbeat(routing_pb2.HeartbeatRequest(agent_id=session.user)),
                                    allow_missing=True)
        finally:
            self.hub.detach(session.user, ws)
        return ws

    def routes(self, app: web.Application) -> None:
        """Register every route."""
        r = app.router
        Desktop().routes(app)  # the agent desktop at / (built from services/inbox/web)
        r.add_post("/api/login", self.login)
        r.add_get("/api/me", self.me)
        r.add_post("/api/logout", self.logout)
        r.add_post("/api/admin/users/{id}/logout", self.force_logout)
        r.add_post("/api/state", self.set_state)
        r.add_post("/api/heartbeat", self.heartbeat)
        r.add_post("/api/offers/{reservation}/accept", self.accept)
        r.add_post("/api/offers/{reservation}/reject", self.reject)
        r.add_get("/api/conversations", self.conversations)
        r.add_get("/api/conversations/{id}/messages", self.messages)
        r.add_post("/api/conversations/{id}/reply", self.reply)
        wrapup.register(r, self)  # dispositions from configuration, and the wrap-up that uses them
        organise.register(r, self)  # labels, snooze and status of conversations
        r.add_post("/api/conversations/{id}/typing", self.typing)
        receipts.register(r, self)  # the agent read the web-chat visitor's new messages
        r.add_post("/api/conversations/{id}/transfer", self.transfer)
        r.add_get("/api/agents", self.agents)
        r.add_get("/api/customers/{id}", self.customer)
        r.add_post("/api/customers/{id}/merge", self.merge)
        customers.register(r, self)  # the customer panel: contact fields, notes, previous conversations
        kb.register(app, self.store)
        qa.register(app, self)
        r.add_get("/api/evaluations/me", self.my_evaluations)
        r.add_post("/api/evaluations/{id}/{action}", self.evaluation_action)
        register_wallboard(r, self)  # queues and agents live, today by interval, alerts
        r.add_post("/api/supervisor/agents/{id}/state", self.force_state)
        r.add_post("/api/supervisor/conversations/{id}/reassign", self.reassign)
        r.add_get("/api/supervisor/conversations/{id}/why", self.why)
        r.add_get("/ws/agent", self.socket)
        reports.register(r, self)
        wfm.register(r, self)  # forecasts, schedules and intraday from quality (#23)
        calls.register(app, self)
        whatsapp.register(r, self)
        performance.register(r, self, self.aht_target)
        supervision.register(app, self)  # live conversations, monitor, whisper, barge
        search.register(r, self.search, self.router, self._rpc)
        audit.register(app, self.audit)  # admins browse and export the audit trail
        register_integration(app, self.integration)  # /api/v1, API tokens and webhooks
        register_privacy(app, self)  # one customer's data as JSON (admins)
        sso.register(app, self)  # OpenID Connect login (code flow with PKCE)
        attachments.register(r, self.attachments)  # upload, authenticated download, signed links for providers
        serve_openapi(app, openapi())
        app.on_response_prepare.append(security_headers)


def _http_error(status: int, text: str) -> web.HTTPException:
    cls: type[web.HTTPException] = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
                                    409: web.HTTPConflict}.get(status, web.HTTPServiceUnavailable)
    return cls(text=text)


def _re(subject: str) -> str:
    return subject if not subject or subject.lower().startswith("re:") else f"Re: {subject}"


