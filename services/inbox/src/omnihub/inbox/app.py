"""Inbox service wiring: users, sessions, MongoDB, the router client, NATS events and HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

from aiohttp import web
from limits.aio.strategies import FixedWindowRateLimiter
from pymongo.errors import PyMongoError

from omnihub.api.routing.v1 import routing_pb2_grpc
from omnihub.common import identity, retention, subjects, tombstones
from omnihub.common.clientaddr import parse_networks
from omnihub.common.config import load_settings
from omnihub.common.health import install_health
from omnihub.common.identity import Credentials
from omnihub.common.logging import get_logger
from omnihub.common.service import run as run_main
from omnihub.common.service import service_context
from omnihub.inbox import kb, kbsearch, wallboard
from omnihub.inbox import retention as inbox_retention
from omnihub.inbox.api import Inbox
from omnihub.inbox.attachments import Sources
from omnihub.inbox.auth import LoginLimiter, SessionStore, SharedCounters
from omnihub.inbox.calls import Softphone
from omnihub.inbox.config import InboxSettings, load_users
from omnihub.inbox.files import FileStore
from omnihub.inbox.live import consume_events
from omnihub.inbox.qa import TwilioRecordings
from omnihub.inbox.search import consume_for_search
from omnihub.inbox.sso import OidcConfig, SingleSignOn
from omnihub.inbox.store import InboxStore
from omnihub.inbox.urlguard import UrlGuard
from omnihub.inbox.wrapup import load_dispositions

log = get_logger("inbox.app")


def softphone(settings: InboxSettings) -> Softphone | None:
    """The softphone's Twilio settings, when all four are given."""
    secret = settings.twilio_api_secret.get_secret_value()
    if not (settings.twilio_account_sid and settings.twilio_api_key and secret and settings.twilio_twiml_app_sid):
        return None
    return Softphone(settings.twilio_account_sid, settings.twilio_api_key, secret, settings.twilio_twiml_app_sid)


async def sweep_uploads(files: FileStore, keep_seconds: float, every: float = 3600.0) -> None:
    """The periodic job: uploads never sent go after `keep_seconds` (a failed round is logged and retried)."""
    while True:
        try:
            removed = await files.sweep(keep_seconds)
            if removed:
                log.info("inbox.uploads_swept", removed=removed)
        except PyMongoError as exc:
            log.warning("inbox.upload_sweep_failed", error=repr(exc))
        await asyncio.sleep(min(every, keep_seconds))


async def cancel(task: asyncio.Task[None]) -> None:
    """Stop a background job and wait for it."""
    task.cancel()
    await asyncio.wait([task])


def build_app(inbox: Inbox) -> web.Application:
    """The inbox's HTTP application (health is added by the caller)."""
    app = web.Application(middlewares=[inbox.security], client_max_size=256 * 1024)
    inbox.routes(app)
    return app


async def main() -> None:
    """Run until SIGTERM."""
    settings = load_settings(InboxSettings)
    users = load_users(settings)
    credentials = Credentials.from_env()
    async with service_context("inbox", settings) as svc:
        bus = await svc.connect_bus()
        store = InboxStore(settings.mongo_url, settings.inbox_db)
        svc.stack.push_async_callback(store.close)
        await store.setup()
        await kb.seed(store, settings.config_dir / "kb.yaml")  # the demo's articles, once per database
        # jieba's dictionary loads in the background (seconds on a busy machine): the first search waits for it
        warm = asyncio.create_task(asyncio.to_thread(kbsearch.prepare))
        svc.stack.push_async_callback(lambda: asyncio.wait([warm]))
        svc.readiness.add("mongodb", store.ping)
        channel = identity.channel(settings.router_addr, credentials, identity.ROUTER_AUDIENCE)
        svc.stack.push_async_callback(channel.close, None)
        sessions = SessionStore(store.db["sessions"], settings.inbox_session_key.get_secret_value().encode(), users,
                                settings.inbox_session_hours)
        await sessions.setup()
        limits_storage = SharedCounters(f"async+{settings.mongo_url}", database_name=settings.inbox_db,
                                        counter_collection_name="login_counters",
                                        window_collection_name="login_windows")
        svc.stack.callback(limits_storage.storage.close)
        limiter = LoginLimiter(limits_storage, settings.inbox_login_limit_account, settings.inbox_login_limit_address)
        inbox = Inbox(users, sessions, store, bus, routing_pb2_grpc.RouterStub(channel),  # type: ignore[arg-type]
                      settings.quality_url, settings.inbox_secure_cookies, limiter,
                      parse_networks(settings.inbox_trusted_proxies), credentials, settings.inbox_aht_target_seconds)
        inbox.softphone = softphone(settings)
        inbox.adherence_target = settings.inbox_adherence_target
        if (oidc := OidcConfig.from_settings(settings)) is not None:
            inbox.sso = SingleSignOn(oidc, store.db["sso_pending"])
            await inbox.sso.setup()
        inbox.admins_only = settings.inbox_local_login_admins_only
        inbox.webhooks.guard = UrlGuard(parse_networks(settings.inbox_webhook_allow_networks))
        link_key = hmac.new(settings.inbox_session_key.get_secret_value().encode(), b"file links", hashlib.sha256)
        inbox.files = inbox.hub.files = FileStore(store.db, link_key.digest())
        inbox.public_url, inbox.file_link_ttl = settings.inbox_public_url, settings.inbox_file_link_hours * 3600
        inbox.attachments.sources = Sources(settings.inbox_email_url, settings.inbox_chat_url,
                                            settings.twilio_api_base_url or "https://api.twilio.com",
                                            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                                            credentials.bearer)
        svc.stack.push_async_callback(inbox.attachments.close)
        sweeper = asyncio.create_task(sweep_uploads(inbox.files, settings.inbox_upload_keep_hours * 3600))
        svc.stack.push_async_callback(lambda: cancel(sweeper))
        inbox.dispositions = load_dispositions(settings.inbox_desktop_file or settings.config_dir / "desktop.yaml")
        inbox.wallboard_config = wallboard.load_config(settings.inbox_wallboard_file or settings.config_dir / "wallboard.yaml")
        if settings.twilio_account_sid and settings.twilio_auth_token.get_secret_value():
            inbox.recordings = TwilioRecordings(settings.twilio_account_sid,
                                                settings.twilio_auth_token.get_secret_value(),
                                                settings.twilio_api_base_url or "https://api.twilio.com")
        if inbox.sso_members is not None:
            await inbox.sso_members.load()  # SSO agents' teams: supervisors see them after their sessions end
            inbox.sso_members.follow(svc.stack)
        inbox.tombstones = tombstones.from_env()
        await tombstones.watch(bus, inbox.tombstones, svc.stack)  # before any consumer: erased customers stay erased
        consumer = await consume_events(bus, inbox.hub.on_events)
        svc.stack.push_async_callback(consumer.stop)
        await inbox.search.setup()
        await inbox.audit.setup()
        inbox.retention_days = days = retention.policy(settings)
        inbox.retention_job = retention.DailyJob(store.db, "inbox", lambda now: inbox_retention.sweep(store.db, days, now))
        retention.start(inbox.retention_job, svc.stack)
        inbox.tokens.limiter = FixedWindowRateLimiter(limits_storage)  # per-token limits shared by replicas
        await inbox.webhooks.setup()
        await inbox.webhooks.start(bus)
        svc.stack.push_async_callback(inbox.webhooks.stop)
        indexer = await consume_for_search(bus, inbox.search)
        svc.stack.push_async_callback(indexer.stop)
        await bus.nc.subscribe(f"{subjects.CHAT_TYPING_VISITOR_ROOT}.*", cb=inbox.hub.on_visitor_typing)
        app = build_app(inbox)
        install_health(app, svc.readiness, "inbox")
        await svc.start_http(app, settings.http_host, settings.inbox_http_port)
        await svc.wait()
        if inbox.http is not None:
            await inbox.http.close()


def run() -> None:
    """Console entry point."""
    run_main(main)
