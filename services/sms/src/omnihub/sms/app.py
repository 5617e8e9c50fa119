"""SMS service wiring: Twilio webhooks over aiohttp and the contacts.outbound.sms and .whatsapp workers."""

from __future__ import annotations

from aiohttp import web

from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import privacy, subjects, tombstones, untrusted
from omnihub.common.config import load_settings
from omnihub.common.health import install_health
from omnihub.common.service import run as run_main
from omnihub.common.service import service_context
from omnihub.sms import erasure
from omnihub.sms.config import SmsSettings
from omnihub.sms.handlers import SMS, WHATSAPP, SmsChannel
from omnihub.sms.twilio_gateway import TwilioMessaging

MAX_WEBHOOK_BYTES = 64 * 1024


def build_app(channel: SmsChannel) -> web.Application:
    """The HTTP application: Twilio webhooks (health routes are added by the caller)."""
    app = web.Application(client_max_size=MAX_WEBHOOK_BYTES, middlewares=[untrusted.reject_invalid])
    app.router.add_post("/twilio/sms", channel.inbound)
    app.router.add_post("/twilio/sms/status", channel.status)
    app.router.add_post("/twilio/whatsapp", channel.inbound)  # the same handler: From says which channel
    return app


async def main() -> None:
    """Run until SIGTERM."""
    settings = load_settings(SmsSettings)
    async with service_context("sms", settings) as svc:
        bus = await svc.connect_bus()
        erased = tombstones.from_env(required=False)  # a reply queued for an erased customer is never sent
        await tombstones.watch(bus, erased, svc.stack, only=(messaging_pb2.OutboundMessage,))
        gateway = TwilioMessaging(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                                  settings.twilio_api_base_url)
        svc.stack.push_async_callback(gateway.close)
        channel = SmsChannel(bus, gateway, settings.twilio_auth_token.get_secret_value(),
                             settings.sms_public_base_url, settings.sms_from_number,
                             await bus.kv(subjects.KV_SMS_OPTOUT), await bus.kv(subjects.KV_SMS_SURVEYS),
                             settings.sms_max_body, await bus.kv(subjects.KV_SMS_SENDERS),
                             await bus.kv(subjects.KV_WHATSAPP_WINDOWS), settings.whatsapp_from)
        for ch in (SMS, WHATSAPP):
            consumer = await bus.consume(
                stream=subjects.STREAM_CONTACTS_OUT, durable=subjects.outbound_durable(ch),
                subjects=[subjects.outbound(ch)], message_type=messaging_pb2.OutboundMessage,
                handler=channel.deliver, max_deliver=8, ack_wait=60.0)
            svc.stack.push_async_callback(consumer.stop)
        await privacy.install(bus, "sms", svc.stack, tombstones=erased, erase=lambda body: erasure.erase(bus, body))
        app = build_app(channel)
        install_health(app, svc.readiness, "sms")
        await svc.start_http(app, settings.http_host, settings.sms_http_port)
        await svc.wait()


def run() -> None:
    """Console entry point."""
    run_main(main)
