"""Supervisor interventions in a conversation: monitor, whisper (to the agent only), barge (to the customer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import new_id, now_timestamp
from omnihub.common.jsonbody import read_body
from omnihub.inbox.auth import SESSION, Session
from omnihub.inbox.presence import announce, present
from omnihub.inbox.supervision_models import InterventionBody, MonitorBody, PresenceList

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

IV = messaging_pb2.Intervention
OPEN = (routing_pb2.ROUTING_STATE_QUEUED, routing_pb2.ROUTING_STATE_OFFERED, routing_pb2.ROUTING_STATE_ASSIGNED,
        routing_pb2.ROUTING_STATE_WRAP_UP)


def supervisor(request: web.Request) -> Session:
    """The caller's session, when a supervisor or an admin (the middleware checks the path too)."""
    session = request[SESSION]
    if session.role not in ("supervisor", "admin"):
        raise web.HTTPForbidden(text="supervisors only")
    return session


class Interventions:
    """Handlers of the monitor, whisper and barge routes, the list of interventions and the agent's presence list."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _supervised(self, request: web.Request, chat_only: bool = False) -> tuple[Session, Any]:
        s = supervisor(request)
        conv = await self.inbox._conversation(s, request.match_info["id"])  # a supervisor outside the team: 403
        if conv.routing_state not in OPEN:
            raise web.HTTPConflict(text="the conversation is closed")
        if chat_only and conv.channel == contact_pb2.CHANNEL_VOICE:
            raise web.HTTPBadRequest(text="a call: listen, coach or barge through the call controls")
        return s, conv

    async def monitor(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/conversations/{id}/monitor {active}: start or stop watching it (the agent is told)."""
        s, conv = await self._supervised(request)
        body = await read_body(request, MonitorBody, max_bytes=1024)
        action = IV.INTERVENTION_MONITOR_START if body.active else IV.INTERVENTION_MONITOR_STOP
        return web.json_response({"id": await announce(self.inbox, s, conv, action)})

    async def whisper(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/conversations/{id}/whisper {text}: a private note only the agent sees (never sent)."""
        s, conv = await self._supervised(request, chat_only=True)
        body = await read_body(request, InterventionBody)
        if not conv.assigned_agent:
            raise web.HTTPConflict(text="no agent holds this conversation yet")
        message = messaging_pb2.Message(
            id=new_id("wsp"), conversation_id=conv.id, channel=conv.channel, text=body.text.strip(),
            agent_id=s.user, private=True, create_time=now_timestamp(), direction=messaging_pb2.DIRECTION_ACTIVITY,
            intervention=IV.INTERVENTION_WHISPER)
        await announce(self.inbox, s, conv, IV.INTERVENTION_WHISPER, message)
        return web.json_response({"id": message.id})

    async def barge(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/conversations/{id}/barge {text}: a reply to the customer, signed by the supervisor."""
        s, conv = await self._supervised(request, chat_only=True)
        body = await read_body(request, InterventionBody)
        text = body.text.strip()
        message = messaging_pb2.Message(
            id=new_id("out"), conversation_id=conv.id, channel=conv.channel, text=text, agent_id=s.user,
            create_time=now_timestamp(), direction=messaging_pb2.DIRECTION_OUTGOING,
            intervention=IV.INTERVENTION_BARGE)
        out = messaging_pb2.OutboundMessage(
            id=message.id, channel=conv.channel, identity=conv.identity, conversation_id=conv.id,
            thread_key=conv.thread_key, text=text, subject=conv.subject, agent_id=s.user,
            agent_display_name=s.name, kind=messaging_pb2.OUTBOUND_KIND_REPLY, create_time=message.create_time)
        await self.inbox.bus.publish(subjects.outbound(conv.channel), out, msg_id=out.id)
        await announce(self.inbox, s, conv, IV.INTERVENTION_BARGE, message)
        return web.json_response({"id": message.id})

    async def listing(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/conversations/{id}/interventions: every intervention, oldest first."""
        s = supervisor(request)
        conv = await self.inbox._conversation(s, request.match_info["id"])
        docs = await self.inbox.store.interventions_of(conv.id)
        return web.json_response({"interventions": [{"id": d.pop("_id"), **d} for d in docs]})

    async def presence(self, request: web.Request) -> web.Response:
        """GET /api/conversations/{id}/supervisors: the supervisors present in my conversation right now."""
        s = request[SESSION]
        conv = await self.inbox._conversation(s, request.match_info["id"])
        found = present(await self.inbox.store.interventions_of(conv.id))
        return web.json_response(PresenceList(supervisors=found).model_dump(mode="json"))


def register(app: web.Application, inbox: Inbox) -> None:
    """Add the intervention routes."""
    i = Interventions(inbox)
    r = app.router
    r.add_post("/api/supervisor/conversations/{id}/monitor", i.monitor)
    r.add_post("/api/supervisor/conversations/{id}/whisper", i.whisper)
    r.add_post("/api/supervisor/conversations/{id}/barge", i.barge)
    r.add_get("/api/supervisor/conversations/{id}/interventions", i.listing)
    r.add_get("/api/conversations/{id}/supervisors", i.presence)
