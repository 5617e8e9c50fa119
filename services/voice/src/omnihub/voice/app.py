"""Voice service wiring: Twilio Voice webhooks over aiohttp and the bridging worker."""

from __future__ import annotations

from aiohttp import web

from omnihub.api.event.v1 import event_pb2
from omnihub.common import privacy, subjects, untrusted
from omnihub.common.config import load_settings
from omnihub.common.health import install_health
from omnihub.common.service import run as run_main
from omnihub.common.service import service_context
from omnihub.voice import erasure
from omnihub.voice.config import VoiceSettings, load_voice_config
from omnihub.voice.handlers import VoiceChannel


def build_app(channel: VoiceChannel) -> web.Application:
    """The HTTP application: every Twilio Voice webhook (health routes are added by the caller)."""
    app = web.Application(client_max_size=64 * 1024, middlewares=[untrusted.reject_invalid])
    for path, handler in (("", channel.incoming), ("/gather", channel.gather), ("/wait", channel.wait),
                          ("/callback", channel.callback), ("/queue-result", channel.queue_result),
                          ("/status", channel.status), ("/recording", channel.recording),
                          ("/voicemail", channel.voicemail), ("/transcription", channel.transcription)):
        app.router.add_post(f"/twilio/voice{path}", handler)
    for path, handler in (("/conference", channel.conference.status),
                          ("/conference-recording", channel.conference.recording), ("/dtmf", channel.conference.dtmf)):
        app.router.add_post(f"/twilio/voice{path}", handler)
    return app


async def main() -> None:
    """Run until SIGTERM."""
    settings = load_settings(VoiceSettings)
    config = load_voice_config(settings.config_dir)
    async with service_context("voice", settings) as svc:
        bus = await svc.connect_bus()
        channel = VoiceChannel(bus, config, settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                               settings.voice_public_base_url, settings.voice_caller_id,
                               await bus.kv(subjects.KV_VOICE_CALLS, ttl=86400.0), settings.twilio_api_base_url)
        svc.stack.push_async_callback(channel.close)
        consumer = await bus.consume(
            stream=subjects.STREAM_EVENTS, durable=subjects.DURABLE_VOICE_ASSIGNED,
            subjects=[subjects.event("conversation", "assigned")], message_type=event_pb2.Event,
            handler=channel.on_assigned, max_deliver=8, ack_wait=30.0)
        svc.stack.push_async_callback(consumer.stop)
        controls = await bus.nc.subscribe(subjects.VOICE_CONTROL_REQUEST, queue=subjects.VOICE_CONTROL_QUEUE,
                                          cb=channel.conference.on_request)
        svc.stack.push_async_callback(controls.unsubscribe)
        await privacy.install(bus, "voice", svc.stack, erase=lambda body: erasure.erase(bus, body))
        app = build_app(channel)
        install_health(app, svc.readiness, "voice")
        await svc.start_http(app, settings.http_host, settings.voice_http_port)
        await svc.wait()


def run() -> None:
    """Console entry point."""
    run_main(main)
