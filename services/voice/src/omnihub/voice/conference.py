"""A conference per call (the model Flex uses): joining it, its Twilio callbacks, and the call controls the inbox
asks for over NATS (hold, transfers, DTMF, recording pause, supervisor listen/coach/barge) on Twilio's REST API."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from nats.aio.msg import Msg
from twilio.base.exceptions import TwilioRestException

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.voice.v1 import voice_pb2
from omnihub.common import untrusted
from omnihub.common.bus import new_event
from omnihub.common.logging import get_logger
from omnihub.voice import twiml

if TYPE_CHECKING:
    from omnihub.voice.handlers import VoiceChannel

log = get_logger("omnihub.voice.conference")
A = voice_pb2.CallAction
VOICE = contact_pb2.CHANNEL_VOICE
HOLD_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
DIGITS = re.compile(r"[0-9*#w]{1,32}")
XML = "application/xml"
SUPERVISOR_ACTIONS = (A.CALL_ACTION_LISTEN, A.CALL_ACTION_COACH, A.CALL_ACTION_BARGE, A.CALL_ACTION_SUPERVISOR_LEAVE)
SUPERVISOR_MODES = {A.CALL_ACTION_LISTEN: "listen", A.CALL_ACTION_COACH: "coach", A.CALL_ACTION_BARGE: "barge"}


class ControlError(Exception):
    """A control that cannot be carried out, with the HTTP-like status the inbox answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def call_state(call: dict[str, Any]) -> voice_pb2.CallState:
    """What we remember about a call, as the protobuf the inbox and the events carry."""
    return voice_pb2.CallState(
        conference_name=call.get("conference", ""), conference_sid=call.get("conference_sid", ""),
        customer_call_sid=call.get("customer_call", ""), agent_call_sid=call.get("agent_call", ""),
        agent_id=call.get("agent_id", ""), on_hold=bool(call.get("on_hold")),
        recording_paused=bool(call.get("recording_paused")), consult_call_sid=call.get("consult_call", ""),
        consult_target=call.get("consult_target", ""), supervisor_call_sid=call.get("supervisor_call", ""),
        supervisor_id=call.get("supervisor_id", ""), supervisor_mode=call.get("supervisor_mode", ""),
        ended=bool(call.get("ended")))


class Conference:
    """The conference of each routed call and what the desk can do to it."""

    def __init__(self, channel: VoiceChannel) -> None:
        self.channel = channel

    @property
    def client(self) -> Any:
        """The Twilio REST client."""
        return self.channel.client

    def _query(self, thread: str, conversation_id: str) -> str:
        return urlencode({"thread": thread, "conversation_id": conversation_id})

    # ---- joining -----------------------------------------------------------------------
    async def connect(self, thread: str, conversation_id: str, agent_id: str, destination: str,
                      customer_call: str = "") -> dict[str, Any]:
        """Move the customer's call into the conference named after the conversation, then add the agent's leg.

        `customer_call` is given for a callback we just placed (already in the conference by its TwiML)."""
        name = conversation_id
        if not customer_call:
            await self.client.calls(thread).update_async(
                twiml=twiml.join_conference(name, self.channel.base, self._query(thread, conversation_id)))
            customer_call = thread
        await self.channel.remember(thread, conference=name, customer_call=customer_call,
                                    conversation_id=conversation_id)
        return await self.add_agent(thread, conversation_id, agent_id, destination)

    async def add_agent(self, thread: str, conversation_id: str, agent_id: str, destination: str) -> dict[str, Any]:
        """The agent's leg joins the conference (the router gave the call to them, first or after a transfer)."""
        call = await self.channel.state(thread)
        if call.get("agent_call") and call.get("agent_destination") == destination:
            return await self.channel.remember(thread, agent_id=agent_id)  # a warm transfer's target: already in
        participant = await self.client.conferences(call.get("conference_sid") or call["conference"]).participants \
            .create_async(from_=self.channel.caller_id, to=destination, label="agent", early_media=True, beep="false",
                          end_conference_on_exit=False)
        changes: dict[str, Any] = {"conference_sid": participant.conference_sid, "agent_call": participant.call_sid,
                                   "agent_id": agent_id, "agent_destination": destination}
        if call.get("on_hold"):  # waiting for this agent after a transfer
            await self._hold(participant.conference_sid, call["customer_call"], False)
            changes["on_hold"] = False
        log.info("voice.conference_joined", conversation_id=conversation_id, agent=agent_id,
                 conference_sid=participant.conference_sid)
        call = await self.channel.remember(thread, **changes)
        await self._publish(conversation_id, thread, voice_pb2.CallControlled(  # the desk's panel learns the call is up
            action=A.CALL_ACTION_UNSPECIFIED, actor_id=agent_id, actor_role="agent", target=destination,
            state=call_state(call)))
        return call

    async def _publish(self, conversation_id: str, thread: str, controlled: voice_pb2.CallControlled) -> None:
        evt = new_event("voice", conversation_id=conversation_id, channel=VOICE, thread_key=thread,
                        call_controlled=controlled)
        await self.channel.bus.publish_event(evt)

    # ---- controls ------------------------------------------------------------------------
    async def on_request(self, msg: Msg) -> None:
        """omnihub.voice.control: carry out one CallControlRequest and answer with the call's state."""
        try:
            req = voice_pb2.CallControlRequest.FromString(msg.data)
            reply = voice_pb2.CallControlReply(status=200, state=call_state(await self.control(req)))
        except ControlError as exc:
            reply = voice_pb2.CallControlReply(status=exc.status, error=exc.reason)
        except TwilioRestException as exc:
            log.warning("voice.control_refused", code=exc.code, status=exc.status, reason=exc.msg)
            reply = voice_pb2.CallControlReply(status=502, error=f"Twilio refused: {exc.msg}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            reply = voice_pb2.CallControlReply(status=503, error=f"cannot reach Twilio: {exc!r}")
        except Exception as exc:  # a bad request must be answered, never left to time out
            log.exception("voice.control_failed")
            reply = voice_pb2.CallControlReply(status=400, error=f"bad control request: {type(exc).__name__}")
        await msg.respond(reply.SerializeToString())

    async def control(self, req: voice_pb2.CallControlRequest) -> dict[str, Any]:
        """Carry out a control on the call's conference; publish it as a call.controlled event."""
        thread = untrusted.twilio_sid(req.thread_key, "thread_key", ("CA",))
        call = await self.channel.state(thread)
        if not call.get("conference") or call.get("conversation_id") != req.conversation_id:
            raise ControlError(404, "no call in a conference for this conversation")
        if req.action == A.CALL_ACTION_UNSPECIFIED:
            return call
        if call.get("ended"):
            raise ControlError(409, "the call has ended")
        if req.action not in SUPERVISOR_ACTIONS and req.actor_role == "agent" and call.get("agent_id") != req.actor_id:
            raise ControlError(403, "this call is not yours")
        if not call.get("conference_sid"):
            raise ControlError(409, "the conference has not started yet")
        target = untrusted.caller(req.target, "target", required=False)
        changes = await self._act(req, call, target)
        call = await self.channel.remember(thread, **changes)
        await self._publish(req.conversation_id, thread, voice_pb2.CallControlled(
            action=req.action, actor_id=req.actor_id, actor_role=req.actor_role,
            target=target or changes.get("coached", ""), state=call_state(call)))
        log.info("voice.controlled", conversation_id=req.conversation_id, action=A.Name(req.action), actor=req.actor_id)
        return call

    async def _hold(self, conference_sid: str, call_sid: str, hold: bool) -> None:
        participant = self.client.conferences(conference_sid).participants(call_sid)
        if hold:
            await participant.update_async(hold=True, hold_url=HOLD_MUSIC, hold_method="GET")
        else:
            await participant.update_async(hold=False)

    async def _add(self, call: dict[str, Any], to: str, label: str, **options: Any) -> Any:
        return await self.client.conferences(call["conference_sid"]).participants.create_async(
            from_=self.channel.caller_id, to=to, label=label, beep="false", end_conference_on_exit=False, **options)

    async def _remove(self, call: dict[str, Any], call_sid: str) -> None:
        try:
            await self.client.conferences(call["conference_sid"]).participants(call_sid).delete_async()
        except TwilioRestException as exc:
            if exc.status != 404:  # already gone (they hung up): what we wanted
                raise

    async def _act(self, req: voice_pb2.CallControlRequest, call: dict[str, Any], target: str) -> dict[str, Any]:
        conf, customer = call["conference_sid"], call["customer_call"]
        action = req.action
        if action == A.CALL_ACTION_HANGUP:
            await self.client.conferences(conf).update_async(status="completed")
            return {"ended": True, "on_hold": False}
        if action in (A.CALL_ACTION_HOLD, A.CALL_ACTION_RESUME):
            await self._hold(conf, customer, action == A.CALL_ACTION_HOLD)
            return {"on_hold": action == A.CALL_ACTION_HOLD}
        if action == A.CALL_ACTION_TRANSFER:
            changes: dict[str, Any] = {"agent_call": "", "agent_id": "", "agent_destination": ""}
            if target:
                placed = await self._add(call, target, "transfer")
                changes.update(agent_call=placed.call_sid, agent_destination=target)
            else:  # the router brings the next agent; the customer hears music meanwhile
                await self._hold(conf, customer, True)
                changes["on_hold"] = True
            if call.get("agent_call"):
                await self._remove(call, call["agent_call"])
            return changes
        if action == A.CALL_ACTION_CONSULT:
            if not target:
                raise ControlError(400, "a consult needs a target")
            if call.get("consult_call"):
                raise ControlError(409, "a consult is already in progress")
            await self._hold(conf, customer, True)
            placed = await self._add(call, target, "consult")
            return {"on_hold": True, "consult_call": placed.call_sid, "consult_target": target}
        if action in (A.CALL_ACTION_CONSULT_COMPLETE, A.CALL_ACTION_CONSULT_CANCEL):
            if not call.get("consult_call"):
                raise ControlError(409, "no consult in progress")
            if action == A.CALL_ACTION_CONSULT_CANCEL:
                await self._remove(call, call["consult_call"])
                await self._hold(conf, customer, False)
                return {"on_hold": False, "consult_call": "", "consult_target": ""}
            if call.get("agent_call"):
                await self._remove(call, call["agent_call"])
            await self._hold(conf, customer, False)
            return {"on_hold": False, "agent_call": call["consult_call"], "agent_destination": call["consult_target"],
                    "agent_id": "", "consult_call": "", "consult_target": ""}
        if action == A.CALL_ACTION_DTMF:
            if not DIGITS.fullmatch(req.digits):
                raise ControlError(400, "digits are 0-9, *, # and w (a pause), at most 32")
            far_end = call.get("consult_call") or customer  # an IVR reached by a consult, else the customer's side
            await self.client.conferences(conf).participants(far_end).update_async(
                announce_url=f"{self.channel.base}/twilio/voice/dtmf?" + urlencode({"digits": req.digits}),
                announce_method="POST")
            return {}
        if action in (A.CALL_ACTION_RECORDING_PAUSE, A.CALL_ACTION_RECORDING_RESUME):
            paused = action == A.CALL_ACTION_RECORDING_PAUSE
            recording = self.client.conferences(conf).recordings("Twilio.CURRENT")
            if paused:
                await recording.update_async(status="paused", pause_behavior="skip")
            else:
                await recording.update_async(status="in-progress")
            return {"recording_paused": paused}
        return await self._supervise(req, call, target)

    async def _supervise(self, req: voice_pb2.CallControlRequest, call: dict[str, Any], target: str) -> dict[str, Any]:
        """Listen (muted), coach (only the agent hears) or barge (everyone hears) with a supervisor's leg."""
        if req.actor_role not in ("supervisor", "admin"):
            raise ControlError(403, "supervisors only")
        action, conf = req.action, call["conference_sid"]
        mine = call.get("supervisor_call") if call.get("supervisor_id") == req.actor_id else ""
        if call.get("supervisor_call") and not mine:
            raise ControlError(409, "another supervisor is on this call")
        if action == A.CALL_ACTION_SUPERVISOR_LEAVE:
            if not mine:
                raise ControlError(409, "you are not on this call")
            await self._remove(call, mine)
            return {"supervisor_call": "", "supervisor_id": "", "supervisor_mode": ""}
        agent_call = call.get("agent_call", "")
        if action == A.CALL_ACTION_COACH and not agent_call:
            raise ControlError(409, "no agent on the call to coach")
        options: dict[str, Any] = {"muted": action == A.CALL_ACTION_LISTEN, "coaching": action == A.CALL_ACTION_COACH}
        if action == A.CALL_ACTION_COACH:
            options["call_sid_to_coach"] = agent_call
        if mine:
            await self.client.conferences(conf).participants(mine).update_async(**options)
            leg = mine
        else:
            if not target:
                raise ControlError(400, "where should the supervisor's leg ring? (a destination)")
            leg = (await self._add(call, target, "supervisor", **options)).call_sid
        return {"supervisor_call": leg, "supervisor_id": req.actor_id, "supervisor_mode": SUPERVISOR_MODES[action],
                "coached": call.get("agent_id", "") if action == A.CALL_ACTION_COACH else ""}

    # ---- Twilio callbacks ---------------------------------------------------------------------
    async def _signed(self, request: web.Request) -> dict[str, str]:
        form = {k: str(v) for k, v in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.channel.validator.validate(self.channel.base + request.path_qs, form, signature):
            log.warning("voice.bad_signature", path=request.path)
            raise web.HTTPForbidden(text="invalid Twilio signature")
        return form

    async def status(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/conference: the conference's start, end, joins, leaves, holds and mutes."""
        form = await self._signed(request)
        thread = untrusted.twilio_sid(request.query.get("thread"), "thread", ("CA",))
        conference_sid = untrusted.twilio_sid(form.get("ConferenceSid"), "ConferenceSid", ("CF",))
        leg = untrusted.twilio_sid(form.get("CallSid"), "CallSid", ("CA",), required=False)
        event = untrusted.token(form.get("StatusCallbackEvent"), "StatusCallbackEvent")
        call = await self.channel.state(thread)
        changes: dict[str, Any] = {"conference_sid": conference_sid}
        if event == "conference-end":
            changes["ended"] = True
        elif event == "participant-leave" and leg:
            for role in ("agent_call", "consult_call", "supervisor_call"):
                if call.get(role) == leg:
                    changes[role] = ""
            if call.get("supervisor_call") == leg:
                changes.update(supervisor_id="", supervisor_mode="")
        elif event in ("participant-hold", "participant-unhold") and leg and leg == call.get("customer_call"):
            changes["on_hold"] = event == "participant-hold"
        await self.channel.remember(thread, **changes)
        return web.Response(status=204)

    async def recording(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/conference-recording: the conference's recording is on the conversation."""
        form = await self._signed(request)
        thread = untrusted.twilio_sid(request.query.get("thread"), "thread", ("CA",))
        conversation_id = untrusted.token(request.query.get("conversation_id"), "conversation_id")
        rec_sid = untrusted.twilio_sid(form.get("RecordingSid"), "RecordingSid", ("RE",))
        uri = untrusted.url(form.get("RecordingUrl"), "RecordingUrl") or rec_sid
        duration = untrusted.seconds(form.get("RecordingDuration"), "RecordingDuration")
        evt = new_event("voice", id=f"evt_recording_{rec_sid}", conversation_id=conversation_id,
                        channel=VOICE, thread_key=thread,
                        recording_available=event_pb2.RecordingAvailable(recording_uri=uri, call_sid=thread))
        evt.recording_available.duration.FromNanoseconds(int(duration * 1e9))
        await self.channel.bus.publish_event(evt)
        return web.Response(status=204)

    async def dtmf(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/dtmf?digits=: the announcement that plays the agent's DTMF into the conference."""
        await self._signed(request)
        digits = request.query.get("digits", "")
        if not DIGITS.fullmatch(digits):
            raise web.HTTPBadRequest(text="bad digits")
        return web.Response(text=twiml.play_digits(digits), content_type=XML)
