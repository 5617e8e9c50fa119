"""The WeChat Official Account side of the chat service: its consumer, callback, URL check and media routes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.chat.config import ChatSettings
from omnihub.chat.headers import secure_headers
from omnihub.chat.wechat_api import WeChatApi
from omnihub.chat.wechat_gateway import WeChatAdapter
from omnihub.common import subjects
from omnihub.common.bus import Bus, Consumer, Delivery, new_event
from omnihub.common.errors import ChannelError
from omnihub.common.logging import get_logger

log = get_logger("omnihub.chat")
WECHAT_MAX_BYTES = 64 * 1024


class WeChatRoutes:
    """Mixed into ChatService: what it needs from the service is declared here."""

    settings: ChatSettings
    bus: Bus
    wechat: WeChatAdapter | None
    consumers: list[Consumer[Any]]
    tasks: set[asyncio.Task[Any]]
    handle_messenger_outbound: Callable[[Delivery[messaging_pb2.OutboundMessage]], Awaitable[None]]

    def add_wechat_routes(self, app: web.Application) -> None:
        """GET+POST /wechat/callback and GET /wechat/media/{media_id} (404 while WeChat is not configured)."""
        app.router.add_get("/wechat/callback", self.wechat_verify)
        app.router.add_post("/wechat/callback", self.wechat_callback)
        app.router.add_get("/wechat/media/{media_id}", self.wechat_media)

    async def _start_wechat(self) -> None:
        """Open the shared token bucket, build the adapter and start the WeChat outbound consumer."""
        s = self.settings
        assert s.wechat_app_secret is not None and s.wechat_token is not None
        state = await self.bus.kv(subjects.KV_WECHAT, history=1)
        api = WeChatApi(s.wechat_api_base_url, s.wechat_app_id, s.wechat_app_secret.get_secret_value(), state)
        aes_key = s.wechat_encoding_aes_key.get_secret_value() if s.wechat_encoding_aes_key else None
        self.wechat = WeChatAdapter(api, s.wechat_token.get_secret_value(), aes_key, state,
                                    s.var_dir / "chat-wechat-media")
        self.consumers.append(
            await self.bus.consume(
                stream=subjects.STREAM_CONTACTS_OUT,
                durable=subjects.outbound_durable(subjects.Channel.CHANNEL_WECHAT),
                subjects=[subjects.outbound(subjects.Channel.CHANNEL_WECHAT)],
                message_type=messaging_pb2.OutboundMessage,
                handler=self.handle_messenger_outbound,
                max_deliver=10,
            )
        )
        log.info("wechat.ready", app_id=s.wechat_app_id, safe_mode=self.wechat.safe_mode)


    async def wechat_verify(self, request: web.Request) -> web.StreamResponse:
        """GET /wechat/callback: the console's URL check; echo `echostr` when the signature holds."""
        adapter = self.wechat
        if adapter is None:
            raise web.HTTPNotFound()
        if not adapter.check_signature(dict(request.query)):
            log.warning("wechat.bad_signature", remote=request.remote, method="GET")
            return web.Response(status=403, text="forbidden")
        return web.Response(text=request.query.get("echostr", "")[:256])

    async def wechat_callback(self, request: web.Request) -> web.StreamResponse:
        """POST /wechat/callback: verify (and decrypt), publish once per MsgId, answer `success`."""
        adapter = self.wechat
        if adapter is None:
            raise web.HTTPNotFound()
        if (request.content_length or 0) > WECHAT_MAX_BYTES:
            return web.Response(status=413, text="too large")
        body = await request.content.read(WECHAT_MAX_BYTES + 1)
        if len(body) > WECHAT_MAX_BYTES:
            return web.Response(status=413, text="too large")
        query = dict(request.query)
        if not adapter.verify(query, body):
            log.warning("wechat.bad_signature", remote=request.remote, method="POST")
            return web.Response(status=403, text="forbidden")
        try:
            result = await adapter.receive(adapter.open(query, body))
        except ValueError as exc:
            log.warning("wechat.bad_message", error=str(exc)[:200])
            return web.Response(status=400, text="bad message")
        if result.inbound is not None:
            ack = await self.bus.publish(subjects.inbound(adapter.channel), result.inbound, msg_id=result.msg_id)
            if not ack.duplicate:
                for att in result.inbound.text.attachments:
                    self._spawn(self._prefetch_wechat_media(att.uri.removeprefix("wechat-media://")))
        elif result.survey is not None:
            evt = new_event("chat", channel=adapter.channel, thread_key=result.thread_key,
                            conversation_id=result.conversation_id, survey_answered=result.survey)
            evt.identity.CopyFrom(contact_pb2.Identity(channel=adapter.channel,  # type: ignore[arg-type]
                                                       source_id=result.identity_source))
            evt.id = f"evt_{result.msg_id.replace(':', '_')}"
            await self.bus.publish_event(evt)
        elif result.opted_out:
            who = contact_pb2.Identity(channel=adapter.channel, source_id=result.identity_source)  # type: ignore[arg-type]
            evt = new_event("chat", channel=adapter.channel, identity=who, customer_opt_out=event_pb2.CustomerOptOut(
                identity=who, opted_out=True, keyword="unsubscribe"))
            evt.id = f"evt_optout_{result.msg_id.replace(':', '_')}"
            await self.bus.publish_event(evt)
        return web.Response(text="success")  # WeChat's acknowledgement; anything else makes it retry

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _prefetch_wechat_media(self, media_id: str) -> None:
        """Download a follower's media through media/get now: WeChat keeps it for three days only."""
        assert self.wechat is not None
        try:
            await self.wechat.media(media_id)
        except ChannelError as exc:
            log.warning("wechat.media_failed", media_id=media_id[:64], error=str(exc)[:200])

    async def wechat_media(self, request: web.Request) -> web.StreamResponse:
        """GET /wechat/media/{media_id}: a follower's image, voice or video, as a download."""
        adapter = self.wechat
        if adapter is None:
            raise web.HTTPNotFound()
        try:
            found = await adapter.media(request.match_info["media_id"][:128])
        except ChannelError as exc:
            return web.json_response({"error": str(exc)[:200]}, status=502)
        if found is None:
            raise web.HTTPNotFound()
        path, content_type = found
        resp = web.FileResponse(path, headers={"Content-Type": content_type})
        resp.headers["Content-Disposition"] = "attachment"
        return secure_headers(resp)
