"""The chat service: HTTP routes, the widget WebSocket, the Telegram and WeChat webhooks and outbound workers."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import telegram
from aiohttp import BodyPartReader, WSMsgType, web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.chat import erasure, tokens
from omnihub.chat.admission import Admission
from omnihub.chat.config import ChatSettings, signing_key, telegram_configured, wechat_configured
from omnihub.chat.headers import secure_headers
from omnihub.chat.messenger import Messenger
from omnihub.chat.retention import UploadRetention
from omnihub.chat.telegram_gateway import TelegramAdapter
from omnihub.chat.webchat import ErrorFrame, Session, WebChatHub
from omnihub.chat.wechat_gateway import WeChatAdapter
from omnihub.chat.wechat_routes import WeChatRoutes
from omnihub.chat.widget_config import DEFAULT as DEFAULT_WIDGET
from omnihub.chat.widget_config import WidgetConfig, load_widget_config
from omnihub.chat.widget_config import register as register_widget_config
from omnihub.common import privacy, retention, subjects, tombstones, untrusted
from omnihub.common.bus import Bus, Consumer, Delivery, new_event
from omnihub.common.clientaddr import Network, client_address, parse_networks
from omnihub.common.config import fail, load_settings
from omnihub.common.errors import ChannelError, ConfigError
from omnihub.common.health import Readiness, install_health
from omnihub.common.identity import Credentials
from omnihub.common.logging import get_logger
from omnihub.common.outbound import deliver_outbound
from omnihub.common.retry import RetryPolicy
from omnihub.common.service import run as run_main
from omnihub.common.service import service_context

log = get_logger("omnihub.chat")
MESSENGER_RETRY = RetryPolicy(first=0.5, cap=30.0)  # Telegram/WeChat busy or unreachable (Retry-After wins)

HELLO_TIMEOUT = 15.0
WS_MAX_FRAME = 64 * 1024
WEBHOOK_MAX_BYTES = 1024 * 1024
TELEGRAM_FILE_LIMIT = 20 * 1024 * 1024  # the Bot API's getFile limit
UPLOAD_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
}


def _static(name: str) -> bytes:
    return (resources.files("omnihub.chat") / "static" / name).read_bytes()


MAX_SEQ = 2**31 - 1


class Refused(Exception):
    """A hello that is answered with an error frame and a close code (4401 bad token, 4429 rate limited)."""

    def __init__(self, close_code: int, frame: dict[str, Any]) -> None:
        super().__init__(frame["message"])
        self.close_code = close_code
        self.frame = frame


def _too_many(wait: int) -> str:
    return (f"Too many new chats from your network; please try again in {wait} s. "
            f"来自您网络的新对话过多，请 {wait} 秒后再试。")


def _seq(value: Any) -> int:
    """A sequence number from a visitor's frame: a whole number from 0 to 2^31-1 (absent = 0)."""
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= MAX_SEQ:
        raise ErrorFrame("bad_request", f"seq and ack are whole numbers from 0 to {MAX_SEQ}")
    return value


def _score(value: Any) -> int:
    """A survey score: a small whole number (the survey checks its own range)."""
    if type(value) is not int or not 0 <= value <= 10:
        raise ErrorFrame("bad_request", "score is a whole number from 0 to 10")
    return value


@dataclass
class ChatService(WeChatRoutes):
    """Everything the chat service runs, buildable in tests without a process."""

    settings: ChatSettings
    bus: Bus
    hub: WebChatHub | None = None
    telegram: Messenger | None = None
    wechat: WeChatAdapter | None = None
    consumers: list[Consumer[Any]] = field(default_factory=list)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    typing_sub: Any = None
    read_sub: Any = None

    signing_key: bytes = b""
    widget: WidgetConfig = field(default_factory=lambda: DEFAULT_WIDGET)
    admission: Admission | None = None
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def upload_dir(self) -> Path:
        """Where widget uploads are stored."""
        return self.settings.var_dir / "chat-uploads"

    async def start(self, readiness: Readiness | None = None) -> web.Application:
        """Open KV, start the outbound consumers and return the HTTP application."""
        kv = await self.bus.kv(subjects.KV_CHAT_SESSIONS, history=1)
        s = self.settings
        self.signing_key = signing_key(s)
        self.widget = load_widget_config(s.chat_widget_file or s.config_dir / "widget.yaml")
        self.admission = Admission(s.widget_connects_per_address, s.widget_new_visitors_per_address)
        self.trusted_proxies = parse_networks(s.chat_trusted_proxies)
        self.hub = WebChatHub(
            self.bus,
            kv,
            max_chars=s.widget_max_message_chars,
            rate_per_minute=s.widget_rate_per_minute,
            entry_point=s.widget_entry_point,
        )
        self.consumers.append(
            await self.bus.consume(
                stream=subjects.STREAM_CONTACTS_OUT,
                durable=subjects.outbound_durable(subjects.Channel.CHANNEL_WEBCHAT),
                subjects=[subjects.outbound(subjects.Channel.CHANNEL_WEBCHAT)],
                message_type=messaging_pb2.OutboundMessage,
                handler=self.hub.handle_outbound,
                max_deliver=8,
            )
        )
        self.typing_sub = await self.bus.nc.subscribe(
            f"{subjects.CHAT_TYPING_AGENT_ROOT}.*", cb=self._agent_typing
        )
        self.read_sub = await self.bus.nc.subscribe(f"{subjects.CHAT_READ_AGENT_ROOT}.*", cb=self._agent_read)
        if telegram_configured(s):
            assert s.telegram_bot_token is not None and s.telegram_webhook_secret is not None
            bot = telegram.Bot(
                s.telegram_bot_token.get_secret_value(),
                base_url=s.telegram_base_url,
                base_file_url=s.telegram_base_file_url,
            )
            self.telegram = TelegramAdapter(
                bot, s.telegram_webhook_secret.get_secret_value(), s.telegram_bot_username
            )
            if s.telegram_webhook_url:
                await bot.set_webhook(
                    s.telegram_webhook_url,
                    secret_token=s.telegram_webhook_secret.get_secret_value(),
                    allowed_updates=["message", "edited_message", "callback_query"],
                )
                log.info("telegram.webhook_set", url=s.telegram_webhook_url)
            self.consumers.append(
                await self.bus.consume(
                    stream=subjects.STREAM_CONTACTS_OUT,
                    durable=subjects.outbound_durable(subjects.Channel.CHANNEL_TELEGRAM),
                    subjects=[subjects.outbound(subjects.Channel.CHANNEL_TELEGRAM)],
                    message_type=messaging_pb2.OutboundMessage,
                    handler=self.handle_messenger_outbound,
                    max_deliver=10,
                )
            )
        if wechat_configured(s):
            await self._start_wechat()
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=s.widget_max_upload_bytes + 64 * 1024)
        install_health(app, readiness or Readiness(), "chat")
        app.router.add_get("/widget", self.widget_page)
        app.router.add_get("/widget.js", self.widget_js)
        app.router.add_get("/widget.css", self.widget_css)
        register_widget_config(app.router, self.widget)
        app.router.add_get("/ws/chat", self.ws_chat)
        app.router.add_post("/widget/upload", self.upload)
        app.router.add_get("/widget/uploads/{name}", self.uploaded)
        app.router.add_post("/telegram/webhook", self.telegram_webhook)
        app.router.add_get("/telegram/files/{file_id}", self.telegram_file)
        self.add_wechat_routes(app)
        return app

    async def _agent_typing(self, msg: Any) -> None:
        assert self.hub is not None
        visitor_id = msg.subject.rsplit(".", 1)[-1]
        try:
            data = json.loads(msg.data)
        except ValueError:
            return
        frame = {"type": "typing", "on": bool(data.get("typing")), "agent": str(data.get("agent", ""))}
        await self.hub.push(visitor_id, frame)

    async def _agent_read(self, msg: Any) -> None:
        assert self.hub is not None
        visitor_id = msg.subject.rsplit(".", 1)[-1]
        try:
            ids = json.loads(msg.data).get("message_ids", [])
        except (ValueError, AttributeError):
            return
        for message_id in ids[:100]:
            await self.hub.push(visitor_id, {"type": "receipt", "id": str(message_id), "status": "read"})

    async def stop(self) -> None:
        """Stop consumers, subscriptions and the bot; safe to call twice."""
        subs, self.typing_sub, self.read_sub = (self.typing_sub, self.read_sub), None, None
        for sub in subs:
            if sub is not None:
                await sub.unsubscribe()
        consumers, self.consumers = self.consumers, []
        for consumer in consumers:
            await consumer.stop()
        for task in self.tasks:
            task.cancel()
        adapter, self.telegram = self.telegram, None
        if isinstance(adapter, TelegramAdapter):
            await adapter.bot.shutdown()
        wechat, self.wechat = self.wechat, None
        if wechat is not None:
            await wechat.api.close()

    # Static pages -----------------------------------------------------------------------

    async def widget_page(self, _: web.Request) -> web.StreamResponse:
        """The demo page embedding the widget."""
        return secure_headers(web.Response(body=_static("widget.html"), content_type="text/html"))

    async def widget_js(self, _: web.Request) -> web.StreamResponse:
        """The embeddable widget script."""
        resp = web.Response(body=_static("widget.js"), content_type="text/javascript")
        return secure_headers(resp)

    async def widget_css(self, _: web.Request) -> web.StreamResponse:
        """The widget's stylesheet (no inline styles: the CSP forbids them)."""
        return secure_headers(web.Response(body=_static("widget.css"), content_type="text/css"))

    # WebSocket --------------------------------------------------------------------------

    async def ws_chat(self, request: web.Request) -> web.StreamResponse:
        """The visitor's socket: hello (token or new visitor), replay, then frames."""
        assert self.hub is not None and self.admission is not None
        address = client_address(request, self.trusted_proxies)
        wait = await self.admission.connect(address)
        if wait:
            log.warning("webchat.connects_limited", retry_after=wait)
            return web.json_response({"error": "rate_limited", "message": _too_many(wait)}, status=429,
                                     headers={"Retry-After": str(wait)})
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=WS_MAX_FRAME)
        await ws.prepare(request)
        hello = await self._receive_hello(ws)
        if hello is None:
            await ws.close()
            return ws
        try:
            session = await self._hello(ws, hello, address)
        except Refused as refused:
            await ws.send_json(refused.frame)
            await ws.close(code=refused.close_code, message=refused.frame["code"].encode())
            return ws
        visitor_id = session.visitor_id
        self.hub.sockets.setdefault(visitor_id, set()).add(ws)
        try:
            await self._replay(ws, session, _seq(hello.get("ack")))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                await self._frame(ws, session, msg.data)
        finally:
            self.hub.sockets.get(visitor_id, set()).discard(ws)
        return ws

    async def _receive_hello(self, ws: web.WebSocketResponse) -> dict[str, Any] | None:
        """The first well-formed hello frame; malformed frames get an error frame and the socket stays
        open until HELLO_TIMEOUT. None when the time is up or the socket closed."""
        deadline = asyncio.get_running_loop().time() + HELLO_TIMEOUT
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except TimeoutError:
                break
            if msg.type != WSMsgType.TEXT:
                return None
            try:
                hello = untrusted.parse_json(msg.data)
                if not isinstance(hello, dict) or hello.get("type") != "hello":
                    raise ErrorFrame("bad_hello", "send hello first")
                _seq(hello.get("ack"))
                return hello
            except (ErrorFrame, ValueError) as exc:
                await ws.send_json({"type": "error", "code": "bad_hello", "message": str(exc)[:200]})
        await ws.send_json({"type": "error", "code": "bad_hello", "message": "send hello first"})
        return None

    async def _hello(self, ws: web.WebSocketResponse, hello: dict[str, Any], address: str) -> Session:
        """The visitor's session: theirs for a valid token, a new one otherwise (limited per address)."""
        assert self.hub is not None and self.admission is not None
        token = str(hello.get("token") or "")
        if token:
            visitor_id = tokens.verify(token, self.signing_key)
            if visitor_id is None:
                raise Refused(4401, {"type": "error", "code": "bad_token", "message": "invalid visitor token"})
        else:
            wait = await self.admission.new_visitor(address)
            if wait:
                log.warning("webchat.new_visitors_limited", retry_after=wait)
                raise Refused(4429, {"type": "error", "code": "rate_limited", "message": _too_many(wait),
                                     "retry_after": wait})
            visitor_id = tokens.new_visitor_id()
            token = tokens.sign(visitor_id, self.signing_key)
        session = await self.hub.load(visitor_id)
        for key in ("name", "email", "topic"):
            value = str(hello.get(key) or "")[:200]
            if key == "topic" and not self.widget.knows(value):
                continue  # only a configured topic may steer routing
            if value and not getattr(session, key):
                setattr(session, key, value)
        await ws.send_json(
            {
                "type": "welcome",
                "token": token,
                "visitor_id": visitor_id,
                "name": session.name,
                "topic": session.topic,
                "seq": session.seq,
            }
        )
        return session

    async def _replay(self, ws: web.WebSocketResponse, session: Session, ack: int) -> None:
        for entry in session.after(ack):
            await ws.send_json(entry.frame())

    async def _frame(self, ws: web.WebSocketResponse, session: Session, data: str) -> None:
        assert self.hub is not None
        try:
            frame = untrusted.parse_json(data)
            if not isinstance(frame, dict):
                raise ErrorFrame("bad_request", "frames are JSON objects")
            kind = frame.get("type")
            if kind == "message":
                attachments = self._attachments(frame.get("attachments") or [])
                await self.hub.visitor_message(
                    session, str(frame.get("client_id", "")), str(frame.get("text", "")), attachments
                )
                if not session.agent_seen:
                    await ws.send_json(await self.hub.queue_status(session))
            elif kind == "typing":
                await self.hub.visitor_typing(session, bool(frame.get("on")))
            elif kind in ("ack", "read"):
                await self.hub.visitor_acked(session, _seq(frame.get("seq")), kind == "read")
            elif kind == "survey":
                await self.hub.survey_answered(
                    session,
                    str(frame.get("survey_id", "")),
                    str(frame.get("question", "")),
                    _score(frame.get("score")),
                )
            elif kind == "close":
                await self.hub.visitor_closed(session)
            elif kind == "queue":
                await ws.send_json(await self.hub.queue_status(session))
            else:
                raise ErrorFrame("bad_request", f"unknown frame type {kind!r}")
        except ErrorFrame as err:
            await ws.send_json(err.frame())
        except (ValueError, TypeError) as exc:
            await ws.send_json({"type": "error", "code": "bad_request", "message": str(exc)[:200]})

    def _attachments(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or len(raw) > 5:
            raise ErrorFrame("bad_request", "at most 5 attachments")
        out = []
        for item in raw:
            uri = str(item.get("uri", "")) if isinstance(item, dict) else ""
            name = uri.removeprefix("/widget/uploads/")
            if not uri.startswith("/widget/uploads/") or not (self.upload_dir / name).is_file():
                raise ErrorFrame("bad_request", "attachments must be uploaded first")
            out.append(
                {
                    "uri": uri,
                    "file_name": str(item.get("file_name", name))[:200],
                    "content_type": str(item.get("content_type", "")),
                    "size_bytes": (self.upload_dir / name).stat().st_size,
                }
            )
        return out

    # Uploads ----------------------------------------------------------------------------

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """Store one attachment (size and type limited) for a visitor holding a valid token."""
        if tokens.verify(request.headers.get("X-Visitor-Token", ""), self.signing_key) is None:
            return web.json_response({"error": "invalid visitor token"}, status=403)
        limit = self.settings.widget_max_upload_bytes
        if request.content_length is not None and request.content_length > limit + 64 * 1024:
            return web.json_response({"error": f"file larger than {limit} bytes"}, status=413)
        try:
            reader = await request.multipart()
            part = await reader.next()
        except (ValueError, AssertionError):
            return web.json_response({"error": "multipart/form-data expected"}, status=400)
        if not isinstance(part, BodyPartReader) or part.name != "file":
            return web.json_response({"error": "field 'file' missing"}, status=400)
        content_type = (part.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        suffix = UPLOAD_TYPES.get(content_type)
        if suffix is None:
            allowed = ", ".join(sorted(UPLOAD_TYPES))
            return web.json_response({"error": f"type not allowed; allowed: {allowed}"}, status=415)
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                return web.json_response({"error": f"file larger than {limit} bytes"}, status=413)
        name = secrets.token_hex(16) + suffix
        await asyncio.to_thread((self.upload_dir / name).write_bytes, bytes(data))
        return web.json_response(
            {
                "uri": f"/widget/uploads/{name}",
                "file_name": (part.filename or name)[:200],
                "content_type": content_type,
                "size_bytes": len(data),
            }
        )

    async def uploaded(self, request: web.Request) -> web.StreamResponse:
        """Serve an upload as a download, never rendered inline as active content."""
        name = request.match_info["name"]
        path = self.upload_dir / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        resp = web.FileResponse(path)
        resp.headers["Content-Disposition"] = "attachment"
        return secure_headers(resp)

    # Telegram ---------------------------------------------------------------------------

    async def telegram_file(self, request: web.Request) -> web.StreamResponse:
        """GET /telegram/files/{file_id}: a customer's Telegram file for the inbox (the deployment's service token)."""
        adapter = self.telegram
        if not isinstance(adapter, TelegramAdapter):
            raise web.HTTPNotFound()
        try:
            credentials = Credentials.from_env()
        except Exception:  # no service token configured: nobody may fetch files
            raise web.HTTPNotFound() from None
        if not credentials.token_ok(request.headers.get("Authorization")):
            raise web.HTTPUnauthorized(text="service token required")
        try:
            data = await adapter.download(request.match_info["file_id"][:256], TELEGRAM_FILE_LIMIT)
        except ChannelError as exc:
            return web.json_response({"error": str(exc)[:200]}, status=502)
        if data is None:
            raise web.HTTPNotFound()
        resp = web.Response(body=data, content_type="application/octet-stream")
        resp.headers["Content-Disposition"] = "attachment"
        return secure_headers(resp)

    async def telegram_webhook(self, request: web.Request) -> web.StreamResponse:
        """Verify the secret, normalise the update, publish once per update_id."""
        adapter = self.telegram
        if adapter is None:
            raise web.HTTPNotFound()
        if not adapter.verify(request.headers, b""):
            log.warning("telegram.bad_secret", remote=request.remote)
            return web.Response(status=403, text="forbidden")
        if (request.content_length or 0) > WEBHOOK_MAX_BYTES:
            return web.Response(status=413, text="too large")
        try:
            payload = untrusted.parse_json(await request.read())
            if not isinstance(payload, dict) or "update_id" not in payload:
                raise ValueError("not an update")
            result = adapter.normalise(payload)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("telegram.bad_update", error=str(exc)[:200])
            return web.Response(status=400, text="bad update")
        duplicate = False
        if result.inbound is not None:
            ack = await self.bus.publish(
                subjects.inbound(adapter.channel), result.inbound, msg_id=result.msg_id
            )
            duplicate = bool(ack.duplicate)
        elif result.survey is not None:
            evt = new_event(
                "chat",
                channel=adapter.channel,
                thread_key=result.thread_key,
                survey_answered=result.survey,
            )
            evt.identity.CopyFrom(
                contact_pb2.Identity(channel=adapter.channel, source_id=result.identity_source)  # type: ignore[arg-type]
            )
            evt.id = f"evt_{result.msg_id.replace(':', '_')}"
            ack = await self.bus.publish_event(evt)
            duplicate = bool(ack.duplicate)
        if not duplicate:
            await adapter.acknowledge(payload)
        return web.json_response({"ok": True})

    async def handle_messenger_outbound(self, delivery: Delivery[messaging_pb2.OutboundMessage]) -> None:
        """Send via the message's messenger (Telegram or WeChat) through the common outbound path."""
        out = delivery.message
        adapter: Messenger | None = self.wechat if out.channel == contact_pb2.CHANNEL_WECHAT else self.telegram
        assert adapter is not None

        async def send() -> str:
            return (await adapter.send(out)).provider_message_id

        await deliver_outbound(self.bus, delivery, send, source="chat", policy=MESSENGER_RETRY)


async def main() -> None:
    """Run the chat service until SIGINT/SIGTERM."""
    settings = load_settings(ChatSettings)
    try:
        telegram_configured(settings)
        wechat_configured(settings)
    except ConfigError as exc:
        fail(f"invalid configuration: {exc}")
    async with service_context("chat", settings) as svc:
        bus = await svc.connect_bus()
        erased = tombstones.from_env(required=False)  # a reply queued for an erased customer is never sent
        await tombstones.watch(bus, erased, svc.stack, only=(messaging_pb2.OutboundMessage,))
        service = ChatService(settings, bus)
        app = await service.start(svc.readiness)
        svc.stack.push_async_callback(service.stop)
        await privacy.install(bus, "chat", svc.stack, tombstones=erased,
                              erase=lambda body: erasure.erase(bus, service.upload_dir, body))
        await UploadRetention(bus, service.upload_dir, retention.policy(settings)).start(svc.stack)
        await svc.start_http(app, settings.http_host, settings.chat_http_port)
        await svc.wait()


def run() -> None:
    """Console entry point."""
    run_main(main)
