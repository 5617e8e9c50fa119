"""Twilio webhooks (inbound SMS and WhatsApp, delivery and read status) and the outbound worker of both."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

import nats.js.errors
from aiohttp import web
from nats.js.kv import KeyValue
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects, untrusted
from omnihub.common.bus import Bus, Delivery, kv_key, new_event, new_id, now_timestamp
from omnihub.common.errors import PermanentChannelError
from omnihub.common.file_rules import refuse_unless_carried
from omnihub.common.logging import get_logger
from omnihub.common.outbound import deliver_outbound
from omnihub.common.retry import RetryPolicy
from omnihub.sms import keywords
from omnihub.sms.segments import segments
from omnihub.sms.twilio_gateway import TwilioMessaging

log = get_logger("omnihub.sms")
SMS = contact_pb2.CHANNEL_SMS
WHATSAPP = contact_pb2.CHANNEL_WHATSAPP
WHATSAPP_PREFIX = "whatsapp:"
WHATSAPP_WINDOW = 24 * 3600.0  # WhatsApp's customer-service window: free-form replies only this long after
SURVEY_WINDOW = 86_400.0
EMPTY_TWIML = str(MessagingResponse())
MESSAGE_SIDS = ("SM", "MM")
NUMBER_SCHEMES = ("whatsapp",)  # Twilio's WhatsApp senders come as whatsapp:+E.164
MAX_MEDIA = 10
MAX_INBOUND_BODY = 4096
SMS_RETRY = RetryPolicy(first=2.0, cap=60.0)  # Twilio's 429/5xx: 2 s, 4 s ... 1 min (its Retry-After wins)


class SmsChannel:
    """State shared by the webhooks and the outbound worker."""

    def __init__(self, bus: Bus, gateway: TwilioMessaging, auth_token: str, public_base_url: str,
                 from_number: str, optouts: KeyValue, surveys: KeyValue, max_body: int = 1600,
                 senders: KeyValue | None = None, windows: KeyValue | None = None,
                 whatsapp_from: str = "", clock: Callable[[], float] = time.time) -> None:
        self.bus = bus
        self.gateway = gateway
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")
        self.from_number = from_number
        self.optouts = optouts
        self.surveys = surveys
        self.max_body = max_body
        self.senders = senders  # customer number -> our number they last texted, to reply from it
        self.windows = windows  # WhatsApp address -> time of the customer's last message (24-hour window)
        self.whatsapp_from = whatsapp_from
        self.clock = clock

    # ---- webhooks --------------------------------------------------------------------
    async def verified_form(self, request: web.Request) -> dict[str, str]:
        """The POSTed form if X-Twilio-Signature matches (constant-time compare), else 403."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        url = self.public_base_url + request.path_qs
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not self.validator.validate(url, form, signature):
            log.warning("sms.bad_signature", path=request.path)
            raise web.HTTPForbidden(text="invalid Twilio signature")
        return form

    async def inbound(self, request: web.Request) -> web.Response:
        """POST /twilio/sms: one InboundMessage per MessageSid, then empty TwiML.

        Every field is checked (400 otherwise) before it reaches a NATS subject, header or message.
        """
        form = await self.verified_form(request)
        sid = untrusted.twilio_sid(form.get("MessageSid"), "MessageSid", MESSAGE_SIDS)
        from_ = untrusted.phone(form.get("From"), "From", schemes=NUMBER_SCHEMES)
        to = untrusted.phone(form.get("To"), "To", schemes=NUMBER_SCHEMES, required=False)
        body = untrusted.text(form.get("Body"), "Body", max_chars=MAX_INBOUND_BODY)
        media = untrusted.count(form.get("NumMedia"), "NumMedia", maximum=MAX_MEDIA)
        attachments = [contact_pb2.Attachment(
            uri=untrusted.url(form.get(f"MediaUrl{i}"), f"MediaUrl{i}", required=True),
            content_type=untrusted.media_type(form.get(f"MediaContentType{i}"), f"MediaContentType{i}"),
            file_name=f"media-{i}") for i in range(media)]
        channel = WHATSAPP if from_.startswith(WHATSAPP_PREFIX) else SMS
        token = subjects.channel_token(channel)
        identity = contact_pb2.Identity(channel=channel, source_id=from_)
        if channel == WHATSAPP and self.windows is not None:
            await self.windows.put(kv_key(from_), str(self.clock()).encode())
        if keywords.is_opt_out(body) or keywords.is_opt_in(body):
            await self._opt(identity, body, sid)
        elif await self._survey_answer(identity, body, sid):
            return web.Response(text=EMPTY_TWIML, content_type="application/xml")
        msg = messaging_pb2.InboundMessage(
            id=new_id("msg"), channel=channel, identity=identity, thread_key=from_, receive_time=now_timestamp(),
            provider_message_id=sid, recipient=to,
            routing_hints=messaging_pb2.RoutingHints(entry_point=f"{token}:{to.removeprefix(WHATSAPP_PREFIX)}"),
            text=messaging_pb2.TextPayload(text=body, attachments=attachments))
        if self.senders is not None and to:
            await self.senders.put(kv_key(from_), to.encode())
        ack = await self.bus.publish(subjects.inbound(channel), msg, msg_id=f"{token}:{sid}")
        log.info("sms.inbound", sid=sid, channel=token, duplicate=ack.duplicate)
        return web.Response(text=EMPTY_TWIML, content_type="application/xml")

    async def _opt(self, identity: contact_pb2.Identity, body: str, sid: str) -> None:
        opted_out = keywords.is_opt_out(body)
        key = kv_key(identity.source_id)
        if opted_out:
            await self.optouts.put(key, str(time.time()).encode())
        else:
            await self.optouts.delete(key)
        evt = new_event("sms", identity=identity, channel=identity.channel, customer_opt_out=event_pb2.CustomerOptOut(
            identity=identity, opted_out=opted_out, keyword=keywords.keyword(body)))
        evt.id = f"evt_optout_{sid}"
        await self.bus.publish_event(evt)

    async def _survey_answer(self, identity: contact_pb2.Identity, body: str, sid: str) -> bool:
        try:
            entry = await self.surveys.get(kv_key(identity.source_id))
        except Exception:
            return False
        pending = json.loads(entry.value or b"{}")
        if time.time() - pending.get("sent", 0) > SURVEY_WINDOW:
            return False
        low, high = (0, 10) if pending.get("question") == "nps" else (1, 5)
        score = keywords.survey_score(body, low, high)
        if score is None:
            return False
        evt = new_event("sms", conversation_id=pending.get("conversation_id", ""), channel=identity.channel,
                        identity=identity,
                        survey_answered=event_pb2.SurveyAnswered(
                            survey_id=pending["survey_id"], question=pending.get("question", "csat"), score=score))
        evt.id = f"evt_survey_{sid}"
        await self.bus.publish_event(evt)
        await self.surveys.delete(kv_key(identity.source_id))
        return True

    async def status(self, request: web.Request) -> web.Response:
        """POST /twilio/sms/status: delivery callbacks become message.delivered / message.failed."""
        form = await self.verified_form(request)
        out_id = untrusted.token(request.query.get("omnihub_id"), "omnihub_id", required=False)
        conversation_id = untrusted.token(request.query.get("conversation_id"), "conversation_id", required=False)
        sid = untrusted.twilio_sid(form.get("MessageSid"), "MessageSid", MESSAGE_SIDS)
        status = untrusted.token(form.get("MessageStatus"), "MessageStatus", max_len=32)
        channel = WHATSAPP if form.get("To", "").startswith(WHATSAPP_PREFIX) else SMS
        error_code = untrusted.token(form.get("ErrorCode"), "ErrorCode", max_len=16, required=False)
        if status in ("delivered", "read"):
            delivery = (messaging_pb2.DELIVERY_STATUS_READ if status == "read"
                        else messaging_pb2.DELIVERY_STATUS_DELIVERED)
            evt = new_event("sms", conversation_id=conversation_id, channel=channel, message_delivered=event_pb2.MessageDelivered(
                message_id=out_id, provider_message_id=sid, status=delivery))
        elif status in ("failed", "undelivered"):
            evt = new_event("sms", conversation_id=conversation_id, channel=channel, message_failed=event_pb2.MessageFailed(
                message_id=out_id, provider_message_id=sid, error_code=error_code,
                error_message=f"Twilio status {status}", permanent=True))
        else:
            return web.Response(status=204)
        evt.id = f"evt_status_{sid}_{status}"
        await self.bus.publish_event(evt)
        return web.Response(status=204)

    # ---- outbound ----------------------------------------------------------------------
    async def deliver(self, d: Delivery[messaging_pb2.OutboundMessage]) -> None:
        """Send one OutboundMessage through the common outbound path (`deliver_outbound`): permanent
        problems become message.failed, transient ones retry after SMS_RETRY's delay."""
        out = d.message
        to = out.identity.source_id
        body = self._body(out)

        async def send() -> str:
            if await self._opted_out(to):
                raise PermanentChannelError("the recipient replied STOP and has opted out", code="opted_out")
            if len(body) > self.max_body:
                raise PermanentChannelError(
                    f"body is {len(body)} characters; SMS allows at most {self.max_body}", code="body_too_long")
            if out.channel == WHATSAPP and not out.template_id and not await self._window_open(to):
                raise PermanentChannelError(
                    "WhatsApp allows free-form replies only within 24 hours of the customer's last message; "
                    "outside it, send an approved template", code="window_closed")
            callback = f"{self.public_base_url}/twilio/sms/status?" + urlencode(
                {"omnihub_id": out.id, "conversation_id": out.conversation_id})
            refuse_unless_carried(subjects.channel_token(out.channel or SMS), out.attachments)
            media = [a.uri for a in out.attachments if a.uri.startswith(("https://", "http://"))]
            if len(media) != len(out.attachments):
                raise PermanentChannelError("attachments must be http(s) URLs Twilio can fetch", code="media")
            return await self.gateway.send(
                to, out.sender or await self._our_number(to), "" if out.template_id else body, callback, media,
                content_sid=out.template_id, content_variables=dict(out.template_variables))

        async def remember_survey(_: str) -> None:
            if out.kind == messaging_pb2.OUTBOUND_KIND_SURVEY:
                await self.surveys.put(kv_key(to), json.dumps({
                    "survey_id": out.survey_id, "question": out.survey_question or "csat",
                    "conversation_id": out.conversation_id, "sent": time.time()}).encode())

        sid = await deliver_outbound(self.bus, d, send, source="sms", policy=SMS_RETRY, on_sent=remember_survey,
                                     channel=out.channel or SMS)
        if sid is not None:
            log.info("sms.sent", id=out.id, sid=sid, segments=segments(body))

    def _body(self, out: messaging_pb2.OutboundMessage) -> str:
        if out.kind == messaging_pb2.OUTBOUND_KIND_SURVEY and not out.text:
            if out.survey_question == "nps":
                return "How likely are you to recommend us to a friend? Reply 0-10."
            return "How satisfied were you with our help today? Reply 1 (poor) to 5 (excellent)."
        return out.text

    async def _window_open(self, address: str) -> bool:
        """True while a WhatsApp customer's last message is less than 24 hours old."""
        if self.windows is None:
            return False
        try:
            entry = await self.windows.get(kv_key(address))
            return self.clock() - float((entry.value or b"0").decode()) < WHATSAPP_WINDOW
        except (nats.js.errors.KeyNotFoundError, ValueError):
            return False

    async def _our_number(self, customer: str) -> str:
        """Reply from the number the customer wrote to; the configured one otherwise."""
        if self.senders is not None:
            try:
                entry = await self.senders.get(kv_key(customer))
                if entry.value:
                    return entry.value.decode()
            except Exception:
                pass
        if customer.startswith(WHATSAPP_PREFIX):
            return self.whatsapp_from or WHATSAPP_PREFIX + self.from_number
        return self.from_number

    async def _opted_out(self, number: str) -> bool:
        try:
            await self.optouts.get(kv_key(number))
        except Exception:
            return False
        return True
