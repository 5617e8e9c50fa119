"""The supervisor's live conversations: every open conversation filtered and sorted by wait, read-only, why waiting."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.jsonbody import describe
from omnihub.inbox import intervene, teams
from omnihub.inbox.auth import SESSION, Session
from omnihub.inbox.live import to_dict
from omnihub.inbox.supervision_models import LiveAgent, LiveBoard, LiveConversation, LiveQuery

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

R = routing_pb2
LIVE = {R.ROUTING_STATE_QUEUED: "queued", R.ROUTING_STATE_OFFERED: "offered",
        R.ROUTING_STATE_ASSIGNED: "assigned", R.ROUTING_STATE_WRAP_UP: "wrap_up"}
MAX_ROWS = 2_000  # rows sent at once; a center this busy filters by queue


def supervisor(request: web.Request) -> Session:
    """The caller's session, when a supervisor or an admin (the middleware checks the path too)."""
    session = request[SESSION]
    if session.role not in ("supervisor", "admin"):
        raise web.HTTPForbidden(text="supervisors only")
    return session


def _secs(t: Any) -> float:
    return float(t.ToNanoseconds()) / 1e9


def live_row(conv: routing_pb2.Conversation, names: dict[str, str], now: float) -> LiveConversation:
    """A router conversation as a live-list row; waits are measured from the router's timestamps."""
    enqueued = _secs(conv.enqueue_time) or _secs(conv.create_time)
    answered = _secs(conv.answer_time)
    waiting = conv.routing_state in (R.ROUTING_STATE_QUEUED, R.ROUTING_STATE_OFFERED)
    wait = now - enqueued if waiting or not answered else answered - enqueued
    # a WhatsApp address without Twilio's transport prefix, as the desktop shows it (the channel column says so)
    customer = conv.customer_display_name or conv.identity.source_id.removeprefix("whatsapp:") or conv.customer_id
    return LiveConversation(
        id=conv.id, channel=subjects.channel_token(conv.channel) if conv.channel else "", queue=conv.queue,
        state=LIVE[conv.routing_state], agent=conv.assigned_agent,
        agent_name=names.get(conv.assigned_agent, conv.assigned_agent), customer=customer, preview=conv.preview,
        subject=conv.subject, flagged=conv.flagged, wait_seconds=round(max(0.0, wait), 1),
        age_seconds=round(max(0.0, now - _secs(conv.create_time)), 1))


class Supervision:
    """Handlers of /api/supervisor/live and the read-only conversation routes."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def live(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/live?queue=&agent=&channel=&state=&min_wait=&sort=: every open conversation."""
        supervisor(request)
        try:
            query = LiveQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text=describe(exc)) from None
        router, rpc = self.inbox.router, self.inbox._rpc
        convs, agents, stats = await asyncio.gather(
            rpc(router.ListConversations(R.ListConversationsRequest(queue=query.queue))),
            rpc(router.ListAgents(R.ListAgentsRequest())),
            rpc(router.GetQueueStats(R.GetQueueStatsRequest())))
        now = time.time()
        names = {a.id: a.display_name or a.id for a in agents.agents}
        team = teams.scope(self.inbox.users, supervisor(request), agents)  # a supervisor sees their teams' work
        rows = [live_row(c, names, now) for c in convs.conversations if c.routing_state in LIVE and team.sees(c)]
        enqueued = {c.id: _secs(c.enqueue_time) or _secs(c.create_time) for c in convs.conversations}
        rows = [r for r in rows if (not query.agent or r.agent == query.agent)
                and (not query.channel or r.channel == query.channel)
                and (not query.state or r.state == query.state) and r.wait_seconds >= query.min_wait]
        if query.sort == "wait":  # waiting ones first, then by wait; exact times break ties the rounding made
            rows.sort(key=lambda r: (r.state not in ("queued", "offered"), -r.wait_seconds, enqueued[r.id]))
        else:
            rows.sort(key=lambda r: r.age_seconds)
        queues = sorted(s.queue for s in stats.stats if team.everything or s.queue in team.queues)
        board = LiveBoard(time=now, conversations=rows[:MAX_ROWS], queues=queues, agents=[
            LiveAgent(id=a.id, name=names[a.id], state=R.AgentState.Name(a.state).removeprefix("AGENT_STATE_"),
                      reason=a.state_reason, queues=list(a.queues), conversations=len(a.conversation_ids))
            for a in agents.agents if team.sees_agent(a.id)])
        return web.json_response(board.model_dump(mode="json"))

    async def conversation(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/conversations/{id}: the conversation and the customer's history (no read receipts)."""
        conv = await self.inbox._conversation(supervisor(request), request.match_info["id"])  # in their teams
        history = await self.inbox.store.customer_history(conv.customer_id)
        return web.json_response({"conversation": to_dict(conv), "messages": history})

    async def waiting(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/conversations/{id}/waiting: why it is still waiting, from the router's state now."""
        await self.inbox._conversation(supervisor(request), request.match_info["id"])  # in their teams
        resp = await self.inbox._rpc(self.inbox.router.ExplainWaiting(
            R.ExplainWaitingRequest(conversation_id=request.match_info["id"])))
        out = to_dict(resp)
        out["reason"] = R.WaitingReason.Name(resp.reason).removeprefix("WAITING_REASON_").lower()
        out["waited_seconds"] = resp.waited.ToNanoseconds() / 1e9
        return web.json_response(out)


def register(app: web.Application, inbox: Inbox) -> None:
    """Add the supervisor's live-conversation routes, and monitor, whisper and barge."""
    s = Supervision(inbox)
    r = app.router
    r.add_get("/api/supervisor/live", s.live)
    r.add_get("/api/supervisor/conversations/{id}", s.conversation)
    r.add_get("/api/supervisor/conversations/{id}/waiting", s.waiting)
    intervene.register(app, inbox)
