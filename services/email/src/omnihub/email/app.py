"""Email service wiring: the SMTP server, the outbound sender, attachment downloads and health."""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import privacy, retention, subjects, tombstones
from omnihub.common.config import load_settings
from omnihub.common.health import install_health
from omnihub.common.service import run as run_main
from omnihub.common.service import service_context
from omnihub.email import retention as mail_retention
from omnihub.email.config import EmailSettings, load_email_config
from omnihub.email.inbound import EMAIL, InboundHandler, smtp_factory
from omnihub.email.outbound import Sender
from omnihub.email.store import MailStore

STORE_KEY: web.AppKey[MailStore] = web.AppKey("mail_store")


async def attachment(request: web.Request) -> web.StreamResponse:
    """GET /attachments/{id}: a stored attachment, always as a download (404 for an id of any other shape)."""
    found = await request.app[STORE_KEY].get_file(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="no such attachment")
    data, name, ctype = found
    safe = "".join(ch for ch in name if ch.isalnum() or ch in "._- ")[:120] or "attachment"
    return web.Response(body=data, content_type=ctype if "/" in ctype else "application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{safe}"', "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def tls_context(settings: EmailSettings) -> ssl.SSLContext | None:
    """STARTTLS is offered when a certificate is configured."""
    if not settings.email_tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(settings.email_tls_cert), str(settings.email_tls_key or settings.email_tls_cert))
    return ctx


async def main() -> None:
    """Run until SIGTERM."""
    settings = load_settings(EmailSettings)
    config = load_email_config(settings.config_dir)
    async with service_context("email", settings) as svc:
        bus = await svc.connect_bus()
        store = MailStore(settings.mongo_url, settings.email_db)
        svc.stack.push_async_callback(store.close)
        await store.setup()
        svc.readiness.add("mongodb", store.ping)
        days = retention.policy(settings)
        job = retention.DailyJob(store.db, "email", lambda now: mail_retention.sweep(store.db, days, now))
        erased = tombstones.from_env()
        await tombstones.watch(bus, erased, svc.stack)  # before SMTP and the consumer: erased customers stay erased
        await privacy.install(bus, "email", svc.stack, job=job, tombstones=erased,
                              erase=lambda body: mail_retention.erase_request(store.db, body))
        handler = InboundHandler(bus, store, config, settings.email_max_recipients, settings.email_max_attachment)
        handler.erased = erased
        tls = tls_context(settings)
        server = await asyncio.get_running_loop().create_server(
            lambda: smtp_factory(handler, settings.email_hostname, settings.email_max_size, tls),
            host=settings.http_host, port=settings.email_smtp_port)
        svc.stack.callback(server.close)
        svc.log.info("smtp.listening", port=settings.email_smtp_port, starttls=tls is not None)
        sender = Sender(bus, store, config, settings)
        consumer = await bus.consume(
            stream=subjects.STREAM_CONTACTS_OUT, durable=subjects.outbound_durable(EMAIL),
            subjects=[subjects.outbound(EMAIL)], message_type=messaging_pb2.OutboundMessage,
            handler=sender.deliver, max_deliver=10, ack_wait=120.0)
        svc.stack.push_async_callback(consumer.stop)
        app = web.Application()
        app[STORE_KEY] = store
        app.router.add_get("/attachments/{id}", attachment)
        install_health(app, svc.readiness, "email")
        await svc.start_http(app, settings.http_host, settings.email_http_port)
        await svc.wait()


def run() -> None:
    """Console entry point."""
    run_main(main)
