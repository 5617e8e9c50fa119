"""Call controls from the desk: the inbox checks who may act, then asks the voice service over NATS; and the Twilio
Voice access token of the agent's browser softphone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats.errors
from aiohttp import web
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.api.voice.v1 import voice_pb2
from omnihub.common import subjects, untrusted
from omnihub.common.jsonbody import read_body
from omnihub.inbox import audit
from omnihub.inbox.auth import SESSION, Session
from omnihub.inbox.call_models import AGENT_ACTIONS, SUPERVISOR_MODES, CallControlBody, SupervisorCallBody
from omnihub.inbox.presence import CALL_MODES, announce

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

A = voice_pb2.CallAction
ACTIONS = {"hangup": A.CALL_ACTION_HANGUP, "hold": A.CALL_ACTION_HOLD, "resume": A.CALL_ACTION_RESUME,
           "transfer": A.CALL_ACTION_TRANSFER, "consult": A.CALL_ACTION_CONSULT,
           "complete": A.CALL_ACTION_CONSULT_COMPLETE, "cancel": A.CALL_ACTION_CONSULT_CANCEL,
           "dtmf": A.CALL_ACTION_DTMF, "recording-pause": A.CALL_ACTION_RECORDING_PAUSE,
           "recording-resume": A.CALL_ACTION_RECORDING_RESUME, "listen": A.CALL_ACTION_LISTEN,
           "coach": A.CALL_ACTION_COACH, "barge": A.CALL_ACTION_BARGE, "leave": A.CALL_ACTION_SUPERVISOR_LEAVE}
ACTION_NAMES = {value: name for name, value in ACTIONS.items()}
TOKEN_TTL = 3600  # seconds; the desktop fetches a new one before it runs out
TIMEOUT = 10.0  # a control is a few Twilio REST calls


@dataclass(frozen=True, slots=True)
class Softphone:
    """Twilio settings for browser softphones: an API key and a TwiML App for outgoing calls."""

    account_sid: str
    api_key: str
    api_secret: str
    twiml_app_sid: str

    def token(self, identity: str) -> str:
        """A Voice access token for `client:<identity>`: incoming calls allowed, outgoing through the TwiML App."""
        token = AccessToken(self.account_sid, self.api_key, self.api_secret, identity=identity, ttl=TOKEN_TTL)
        token.add_grant(VoiceGrant(outgoing_application_sid=self.twiml_app_sid, incoming_allow=True))
        return str(token.to_jwt())


def view(conversation_id: str, state: voice_pb2.CallState) -> dict[str, Any]:
    """The call as the desk shows it (CallView)."""
    if state.ended:
        phase = "ended"
    elif state.consult_call_sid:
        phase = "transferring"
    elif state.on_hold and not state.agent_call_sid:
        phase = "waiting"  # for the router's next agent after a cold transfer
    elif state.on_hold:
        phase = "on_hold"
    elif state.agent_call_sid:
        phase = "connected"
    else:
        phase = "connecting"
    return {"conversation_id": conversation_id, "state": phase, "on_hold": state.on_hold,
            "recording_paused": state.recording_paused, "consult_target": state.consult_target,
            "agent_id": state.agent_id, "supervisor_id": state.supervisor_id, "supervisor_mode": state.supervisor_mode}


# Controls written into the transcript as activity lines; not DTMF (its digits may be a card number) and not the
# agent's leg joining (UNSPECIFIED, no name).
LOGGED = frozenset(ACTIONS) - {"dtmf"}


def call_activity_doc(evt: event_pb2.Event) -> dict[str, Any] | None:
    """A carried-out call control as an activity line stored with the conversation's messages (None if not logged)."""
    c = evt.call_controlled
    action = ACTION_NAMES.get(c.action, "")
    if action not in LOGGED:
        return None
    return {"_id": f"act_{evt.id}", "conversation_id": evt.conversation_id, "customer_id": evt.customer_id,
            "channel": "voice", "direction": "activity", "text": "", "subject": "", "agent_id": c.actor_id,
            "private": False, "time": evt.time.ToNanoseconds() / 1e9, "status": "received", "attachments": [],
            "activity": {"kind": "call", "action": action, "actor_id": c.actor_id, "actor_role": c.actor_role,
                         "target": c.target}}


def call_notice(evt: event_pb2.Event) -> dict[str, Any]:
    """A call.controlled event as the desk's socket message: what was done, by whom, and the call afterwards."""
    c = evt.call_controlled
    return {"conversation_id": evt.conversation_id, "action": ACTION_NAMES.get(c.action, ""), "actor_id": c.actor_id,
            "actor_role": c.actor_role, "target": c.target, "call": view(evt.conversation_id, c.state)}


class Calls:
    """The call routes."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _voice_conversation(self, s: Session, cid: str) -> routing_pb2.Conversation:
        conv = await self.inbox._conversation(s, cid)  # holder or supervisor, else 403
        if conv.channel != contact_pb2.CHANNEL_VOICE:
            raise web.HTTPBadRequest(text="not a voice conversation")
        return conv

    async def _ask(self, s: Session, conv: routing_pb2.Conversation, action: int, target: str = "",
                   digits: str = "") -> dict[str, Any]:
        req = voice_pb2.CallControlRequest(conversation_id=conv.id, thread_key=conv.thread_key, actor_id=s.user,
                                           actor_role=s.role, action=action, target=target,  # type: ignore[arg-type]
                                           digits=digits)
        try:
            msg = await self.inbox.bus.nc.request(subjects.VOICE_CONTROL_REQUEST, req.SerializeToString(),
                                                  timeout=TIMEOUT)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            raise web.HTTPServiceUnavailable(text="the voice service is unavailable") from None
        reply = voice_pb2.CallControlReply.FromString(msg.data)
        if reply.status != 200:
            cls: type[web.HTTPException] = {400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
                                            409: web.HTTPConflict, 502: web.HTTPBadGateway}.get(
                reply.status, web.HTTPServiceUnavailable)
            raise cls(text=reply.error)
        return view(conv.id, reply.state)

    async def _destination(self, agent_id: str) -> str:
        """Where an agent's calls ring (the router's voice_destination, else their softphone)."""
        agents = await self.inbox._rpc(self.inbox.router.ListAgents(routing_pb2.ListAgentsRequest()))
        for agent in agents.agents:
            if agent.id == agent_id:
                return str(agent.voice_destination or f"client:{agent.id}")
        raise web.HTTPNotFound(text="unknown agent")

    async def _agent_at(self, destination: str) -> str:
        agents = await self.inbox._rpc(self.inbox.router.ListAgents(routing_pb2.ListAgentsRequest()))
        return next((a.id for a in agents.agents if (a.voice_destination or f"client:{a.id}") == destination), "")

    async def get(self, request: web.Request) -> web.Response:
        """GET /api/calls/{id}: the call's state."""
        s = request[SESSION]
        conv = await self._voice_conversation(s, request.match_info["id"])
        return web.json_response(await self._ask(s, conv, A.CALL_ACTION_UNSPECIFIED))

    async def control(self, request: web.Request) -> web.Response:
        """POST /api/calls/{id}/{action} {to_agent|to_queue|to_number, digits}: a control on my call."""
        s = request[SESSION]
        action = request.match_info["action"]
        if action not in AGENT_ACTIONS:
            raise web.HTTPNotFound(text="unknown call control")
        body = await read_body(request, CallControlBody, max_bytes=4096)
        conv = await self._voice_conversation(s, request.match_info["id"])
        if s.role == "agent" and conv.assigned_agent != s.user:
            raise web.HTTPForbidden(text="this call is not yours")
        try:
            number = untrusted.phone(body.to_number, "to_number") if body.to_number else ""
        except untrusted.InvalidField as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        if action == "transfer":
            if number:
                return web.json_response(await self._ask(s, conv, A.CALL_ACTION_TRANSFER, number))
            req = routing_pb2.TransferRequest(agent_id=s.user, conversation_id=conv.id, note="voice transfer")
            if body.to_agent:
                req.to_agent = body.to_agent
            elif body.to_queue:
                req.to_queue = body.to_queue
            else:
                raise web.HTTPBadRequest(text="give to_agent, to_queue or to_number")
            await self.inbox._rpc(self.inbox.router.Transfer(req))  # the router brings the next agent to the call
            return web.json_response(await self._ask(s, conv, A.CALL_ACTION_TRANSFER))
        if action == "consult":
            target = number or (await self._destination(body.to_agent) if body.to_agent else "")
            if not target:
                raise web.HTTPBadRequest(text="give to_agent or to_number")
            return web.json_response(await self._ask(s, conv, A.CALL_ACTION_CONSULT, target))
        if action == "complete":
            before = await self._ask(s, conv, A.CALL_ACTION_UNSPECIFIED)
            done = await self._ask(s, conv, A.CALL_ACTION_CONSULT_COMPLETE)
            colleague = await self._agent_at(before["consult_target"])
            if colleague:  # the conversation follows the call to the colleague
                await self.inbox._rpc(self.inbox.router.Transfer(routing_pb2.TransferRequest(
                    agent_id=s.user, conversation_id=conv.id, to_agent=colleague, note="warm transfer")))
            return web.json_response(done)
        return web.json_response(await self._ask(s, conv, ACTIONS[action], digits=body.digits))

    async def supervise(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/calls/{id}/{mode} {destination}: listen, coach, barge or leave."""
        s = request[SESSION]
        mode = request.match_info["mode"]
        if mode not in SUPERVISOR_MODES:
            raise web.HTTPNotFound(text="unknown intervention")
        body = await read_body(request, SupervisorCallBody, max_bytes=4096)
        try:
            destination = untrusted.caller(body.destination, "destination", required=False) or f"client:{s.user}"
        except untrusted.InvalidField as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        conv = await self._voice_conversation(s, request.match_info["id"])
        answer = await self._ask(s, conv, ACTIONS[mode], destination)
        await audit.record(request, "call.supervise", conv.id, after={"mode": mode, "destination": destination})
        await announce(self.inbox, s, conv, CALL_MODES[mode])  # the intervention, as for chat (supervisor.intervened)
        return web.json_response(answer)

    async def token(self, request: web.Request) -> web.Response:
        """GET /api/voice/token: a Twilio Voice access token for my `client:` identity, where Twilio is configured."""
        s = request[SESSION]
        softphone: Softphone | None = self.inbox.softphone
        if softphone is None:
            raise web.HTTPNotFound(text="the softphone is not configured")
        return web.json_response({"token": softphone.token(s.user), "identity": s.user, "ttl": TOKEN_TTL})


def register(app: web.Application, inbox: Inbox) -> None:
    """Add the call routes."""
    calls = Calls(inbox)
    r = app.router
    r.add_get("/api/calls/{id}", calls.get)
    r.add_post("/api/calls/{id}/{action}", calls.control)
    r.add_post("/api/supervisor/calls/{id}/{mode}", calls.supervise)
    r.add_get("/api/voice/token", calls.token)
