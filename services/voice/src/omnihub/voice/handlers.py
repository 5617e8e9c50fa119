"""Twilio Voice webhooks (IVR, queue, callback, status, recordings) and agent bridging."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import nats.errors
from aiohttp import web
from nats.js.kv import KeyValue
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects, untrusted
from omnihub.common.bus import Bus, Delivery, kv_key, new_event, new_id, now_timestamp
from omnihub.common.errors import ChannelError, ErrorMap, PermanentChannelError, TransientChannelError
from omnihub.common.logging import get_logger
from omnihub.common.outbound import attempt
from omnihub.common.retry import RetryPolicy
from omnihub.voice import twiml
from omnihub.voice.conference import Conference
from omnihub.voice.config import Menu, VoiceConfig

log = get_logger("omnihub.voice")
VOICE = contact_pb2.CHANNEL_VOICE
Event = messaging_pb2.CallEventType
XML = "application/xml"
MAX_SPEECH = 4000
MAX_QUEUE_POSITION = 100_000
VOICE_RETRY = RetryPolicy(first=2.0, cap=30.0)  # bridging a waiting caller: 2 s, 4 s ... 30 s


def _rest_error(exc: TwilioRestException) -> ChannelError:
    """429 and 5xx from Twilio's REST API can be retried; other 4xx (the call ended, say) cannot."""
    if exc.status == 429 or exc.status >= 500:
        return TransientChannelError(f"Twilio {exc.status}: {exc.msg}", code=str(exc.code or exc.status))
    return PermanentChannelError(str(exc.msg), code=str(exc.code or exc.status))


def _unreachable(exc: BaseException) -> ChannelError:
    return TransientChannelError(f"cannot reach Twilio: {exc!r}", code="network")


TWILIO_REST_ERRORS: ErrorMap = {TwilioRestException: _rest_error, aiohttp.ClientError: _unreachable,
                                TimeoutError: _unreachable}


def call_sid(value: str | None, field: str = "CallSid", *, required: bool = True) -> str:
    """A Twilio call SID (CA and 32 hex digits): it becomes a KV key and a NATS message id."""
    return untrusted.twilio_sid(value, field, ("CA",), required=required)


def _dur(seconds: float) -> Any:
    from google.protobuf import duration_pb2

    d = duration_pb2.Duration()
    d.FromNanoseconds(int(max(0.0, seconds) * 1e9))
    return d


class VoiceChannel:
    """State shared by the webhooks and the bridging worker."""

    def __init__(self, bus: Bus, config: VoiceConfig, account_sid: str, auth_token: str, public_base_url: str,
                 caller_id: str, calls: KeyValue, api_base_url: str = "") -> None:
        self.bus = bus
        self.config = config
        self.validator = RequestValidator(auth_token)
        self.base = public_base_url.rstrip("/")
        self.caller_id = caller_id
        self.calls = calls
        self._http = AsyncTwilioHttpClient()
        self.client = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")
        self.conference = Conference(self)

    async def close(self) -> None:
        """Close the Twilio HTTP session."""
        if self._http.session is not None:
            await self._http.session.close()

    # ---- helpers -------------------------------------------------------------------
    async def form(self, request: web.Request) -> dict[str, str]:
        """The POSTed form if X-Twilio-Signature is valid for our public URL, else 403; then the fields
        every webhook shares are checked (400 otherwise): CallSid, From, To."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(self.base + request.path_qs, form, signature):
            log.warning("voice.bad_signature", path=request.path)
            raise web.HTTPForbidden(text="invalid Twilio signature")
        call_sid(form.get("CallSid"))
        untrusted.caller(form.get("From"), "From", required=False)
        untrusted.caller(form.get("To"), "To", required=False)
        return form

    async def state(self, call_sid: str) -> dict[str, Any]:
        """What we remember about a call."""
        try:
            entry = await self.calls.get(kv_key(call_sid))
            return dict(json.loads(entry.value or b"{}"))
        except Exception:
            return {}

    async def remember(self, call_sid: str, **changes: Any) -> dict[str, Any]:
        """Update what we remember about a call."""
        current = await self.state(call_sid)
        current.update(changes)
        await self.calls.put(kv_key(call_sid), json.dumps(current).encode())
        return current

    async def publish(self, call_sid: str, step: str, caller: str, called: str, voice: messaging_pb2.VoicePayload,
                      hints: messaging_pb2.RoutingHints | None = None) -> None:
        """One voice InboundMessage per call step; the step makes Twilio's retries idempotent."""
        msg = messaging_pb2.InboundMessage(
            id=new_id("msg"), channel=VOICE, identity=contact_pb2.Identity(channel=VOICE, source_id=caller),
            thread_key=call_sid, receive_time=now_timestamp(), provider_message_id=f"{call_sid}:{step}",
            recipient=called, voice=voice, routing_hints=hints or messaging_pb2.RoutingHints())
        await self.bus.publish(subjects.inbound(VOICE), msg, msg_id=f"voice:{call_sid}:{step}")

    def menu(self, called: str) -> Menu:
        """The IVR of the number called."""
        return self.config.menu_for(called)

    async def queue_stats(self, queue: str, call_sid: str = "") -> routing_pb2.GetQueueStatsResponse | None:
        """Live figures from the router over NATS request/reply (None when no router answers)."""
        req = routing_pb2.GetQueueStatsRequest(queues=[queue] if queue else [], thread_key=call_sid, channel=VOICE)
        try:
            reply = await self.bus.nc.request(subjects.QUEUE_STATS_REQUEST, req.SerializeToString(), timeout=1.5)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            return None
        return routing_pb2.GetQueueStatsResponse.FromString(reply.data)

    # ---- webhooks -------------------------------------------------------------------
    async def incoming(self, request: web.Request) -> web.Response:
        """POST /twilio/voice: greet and offer the IVR menu of the number called."""
        f = await self.form(request)
        sid, caller, called = f["CallSid"], f.get("From", ""), f.get("To", "")
        await self.remember(sid, caller=caller, called=called, start=time.time())
        await self.publish(sid, "ringing", caller, called, messaging_pb2.VoicePayload(
            event=Event.CALL_EVENT_TYPE_RINGING, called_number=called))
        return web.Response(text=twiml.greeting(self.menu(called), self.base), content_type=XML)

    async def gather(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/gather: the IVR choice picks queue and language; closed hours go to voicemail."""
        f = await self.form(request)
        sid = f.get("CallSid", "")
        call = await self.state(sid)
        called, caller = call.get("called", f.get("To", "")), call.get("caller", f.get("From", ""))
        menu = self.menu(called)
        digits = untrusted.text(f.get("Digits"), "Digits", max_chars=64)
        speech = untrusted.text(f.get("SpeechResult"), "SpeechResult", max_chars=MAX_SPEECH).lower()
        option = next((o for o in menu.options if digits == o.digit or any(w.lower() in speech for w in o.words if speech)),
                      None)
        queue = (option.queue if option else "") or menu.default_queue
        language = (option.language if option else "") or ""
        hints = messaging_pb2.RoutingHints(queue=queue, language_code=language, entry_point=f"ivr:{called}",
                                           topic=option.label if option else "")
        await self.publish(sid, "ivr", caller, called, messaging_pb2.VoicePayload(
            event=Event.CALL_EVENT_TYPE_IVR_CHOICE, ivr_choice=digits or speech, called_number=called), hints)
        stats = await self.queue_stats(queue)
        if stats is not None and stats.stats and not stats.stats[0].open_now:
            await self.remember(sid, queue=queue, voicemail=True)
            return web.Response(text=twiml.voicemail(self.base, menu.language), content_type=XML)
        await self.remember(sid, queue=queue, language=language, queued_at=time.time())
        await self.publish(sid, "queued", caller, called, messaging_pb2.VoicePayload(
            event=Event.CALL_EVENT_TYPE_QUEUED, called_number=called), hints)
        return web.Response(text=twiml.enqueue(queue, self.base, menu.language), content_type=XML)

    async def wait(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/wait: position and estimated wait from the router, and the callback offer."""
        f = await self.form(request)
        sid = f.get("CallSid", "")
        call = await self.state(sid)
        menu = self.menu(call.get("called", ""))
        stats = await self.queue_stats(call.get("queue", ""), sid)
        reported = untrusted.count(f.get("QueuePosition"), "QueuePosition", maximum=MAX_QUEUE_POSITION)
        position = stats.position if stats and stats.position else reported
        ewt = stats.estimated_wait.ToNanoseconds() / 1e9 if stats and stats.position else 60.0 * max(1, position)
        return web.Response(text=twiml.waiting(position, ewt, self.base, menu.callback_digit, menu.language),
                            content_type=XML)

    async def callback(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/callback: the caller pressed a key while waiting."""
        f = await self.form(request)
        sid = f.get("CallSid", "")
        call = await self.state(sid)
        menu = self.menu(call.get("called", ""))
        if f.get("Digits") != menu.callback_digit:
            return web.Response(text=twiml.empty(), content_type=XML)
        await self.remember(sid, callback=True)
        await self.publish(sid, "callback", call.get("caller", f.get("From", "")), call.get("called", ""),
                           messaging_pb2.VoicePayload(event=Event.CALL_EVENT_TYPE_CALLBACK_REQUESTED,
                                                      callback_number=call.get("caller", f.get("From", ""))))
        return web.Response(text=twiml.callback_confirmed(menu.language), content_type=XML)

    async def queue_result(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/queue-result: how the caller left the queue (hangup = abandoned)."""
        f = await self.form(request)
        sid = f.get("CallSid", "")
        call = await self.state(sid)
        waited = untrusted.seconds(f.get("QueueTime"), "QueueTime")
        if f.get("QueueResult") == "hangup" and not call.get("callback"):
            await self.publish(sid, "abandoned", call.get("caller", ""), call.get("called", ""), messaging_pb2.VoicePayload(
                event=Event.CALL_EVENT_TYPE_ABANDONED, wait_duration=_dur(waited)))
        return web.Response(text=twiml.empty(), content_type=XML)

    async def status(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/status: a finished call gives talk time, or an abandon if never answered."""
        f = await self.form(request)
        thread = call_sid(request.query.get("thread"), "thread", required=False) or f["CallSid"]
        conversation_id = untrusted.token(request.query.get("conversation_id"), "conversation_id", required=False)
        call = await self.state(thread)
        if f.get("CallStatus") not in ("completed", "busy", "no-answer", "failed", "canceled"):
            return web.Response(status=204)
        if call.get("bridged_at"):
            talk = max(0.0, time.time() - float(call["bridged_at"]))
            await self.publish(thread, f"completed:{f.get('CallSid', '')}", call.get("caller", ""), call.get("called", ""),
                               messaging_pb2.VoicePayload(event=Event.CALL_EVENT_TYPE_COMPLETED, talk_duration=_dur(talk)))
            evt = new_event("voice", conversation_id=conversation_id or call.get("conversation_id", ""),
                            channel=VOICE, thread_key=thread, call_completed=event_pb2.CallCompleted(
                                call_sid=f.get("CallSid", ""), talk_duration=_dur(talk), status=f.get("CallStatus", "")))
            evt.id = f"evt_call_completed_{f.get('CallSid', '')}"
            await self.bus.publish_event(evt)
        elif call.get("queued_at") and not call.get("callback") and not call.get("voicemail"):
            waited = time.time() - float(call["queued_at"])
            await self.publish(thread, "abandoned", call.get("caller", ""), call.get("called", ""), messaging_pb2.VoicePayload(
                event=Event.CALL_EVENT_TYPE_ABANDONED, wait_duration=_dur(waited)))
        return web.Response(status=204)

    async def recording(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/recording: store the recording reference on the conversation."""
        f = await self.form(request)
        thread = call_sid(request.query.get("thread"), "thread", required=False) or f["CallSid"]
        conversation_id = untrusted.token(request.query.get("conversation_id"), "conversation_id", required=False)
        rec_sid = untrusted.twilio_sid(f.get("RecordingSid"), "RecordingSid", ("RE",))
        uri = untrusted.url(f.get("RecordingUrl"), "RecordingUrl") or rec_sid
        duration = untrusted.seconds(f.get("RecordingDuration"), "RecordingDuration")
        call = await self.state(thread)
        await self.publish(thread, f"recording:{rec_sid}", call.get("caller", ""), call.get("called", ""),
                           messaging_pb2.VoicePayload(event=Event.CALL_EVENT_TYPE_COMPLETED, recording_uri=uri))
        evt = new_event("voice", conversation_id=conversation_id or call.get("conversation_id", ""),
                        channel=VOICE, thread_key=thread, recording_available=event_pb2.RecordingAvailable(
                            recording_uri=uri, duration=_dur(duration),
                            call_sid=f.get("CallSid", "")))
        evt.id = f"evt_recording_{rec_sid or thread}"
        await self.bus.publish_event(evt)
        return web.Response(status=204)

    async def voicemail(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/voicemail: a message left outside business hours opens a voicemail conversation."""
        f = await self.form(request)
        sid = f.get("CallSid", "")
        call = await self.state(sid)
        await self.publish(sid, "voicemail", call.get("caller", f.get("From", "")), call.get("called", ""),
                           messaging_pb2.VoicePayload(event=Event.CALL_EVENT_TYPE_VOICEMAIL,
                                                      recording_uri=untrusted.url(f.get("RecordingUrl"), "RecordingUrl")),
                           messaging_pb2.RoutingHints(queue=call.get("queue", ""), topic="voicemail"))
        return web.Response(text=twiml.empty(), content_type=XML)

    async def transcription(self, request: web.Request) -> web.Response:
        """POST /twilio/voice/transcription: the voicemail's text becomes the conversation preview."""
        f = await self.form(request)
        sid = f.get("CallSid", "")
        call = await self.state(sid)
        await self.publish(sid, "transcript", call.get("caller", ""), call.get("called", ""), messaging_pb2.VoicePayload(
            event=Event.CALL_EVENT_TYPE_VOICEMAIL, transcript=f.get("TranscriptionText", "")[:4000],
            recording_uri=untrusted.url(f.get("RecordingUrl"), "RecordingUrl")))
        return web.Response(status=204)

    # ---- bridging ------------------------------------------------------------------
    async def on_assigned(self, d: Delivery[event_pb2.Event]) -> None:
        """conversation.assigned on voice: bridge the waiting call, or place the callback call."""
        evt = d.message
        if evt.channel != VOICE or evt.WhichOneof("kind") != "conversation_assigned":
            return
        a = evt.conversation_assigned
        call = await self.state(evt.thread_key)
        destination = a.agent_destination or f"client:{a.agent_id}"
        query = urlencode({"thread": evt.thread_key, "conversation_id": evt.conversation_id})

        async def bridge() -> None:
            if call.get("conference") and not call.get("ended"):  # transferred: the next agent joins the same call
                await self.conference.add_agent(evt.thread_key, evt.conversation_id, a.agent_id, destination)
            elif a.callback or call.get("callback"):
                placed = await self.client.calls.create_async(
                    to=call.get("caller") or evt.identity.source_id, from_=self.caller_id,
                    twiml=twiml.join_conference(evt.conversation_id, self.base, query),
                    status_callback=f"{self.base}/twilio/voice/status?{query}")
                await self.remember(evt.thread_key, bridged_at=time.time(), callback_call=placed.sid,
                                    conversation_id=evt.conversation_id)
                await self.conference.connect(evt.thread_key, evt.conversation_id, a.agent_id, destination,
                                              customer_call=placed.sid)
                log.info("voice.callback_placed", conversation_id=evt.conversation_id, call_sid=placed.sid)
            else:
                await self.remember(evt.thread_key, bridged_at=time.time(), conversation_id=evt.conversation_id)
                await self.conference.connect(evt.thread_key, evt.conversation_id, a.agent_id, destination)
                log.info("voice.bridged", conversation_id=evt.conversation_id, agent=a.agent_id)

        try:  # the common outbound attempt: 429/5xx/unreachable retry later (VOICE_RETRY), other 4xx are final
            await attempt(d, bridge, policy=VOICE_RETRY, errors=TWILIO_REST_ERRORS)
        except PermanentChannelError as exc:
            log.warning("voice.bridge_failed", conversation_id=evt.conversation_id, code=exc.code, reason=exc.message)
