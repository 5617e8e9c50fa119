"""A local WeChat Official Account API double: access tokens, customer-service sends, media, signed callbacks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import aiohttp
from aiohttp import web
from wechatpy.crypto import PrpCrypto

from omnihub.testkit.ports import free_port

# WeChat's own errcode/errmsg texts for the errors the double produces.
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40005: "invalid file type",
    40007: "invalid media_id",
    40009: "invalid image size",
    40013: "invalid appid",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    44002: "empty post data",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
}
IMAGE_TYPES = frozenset({"image/bmp", "image/png", "image/jpeg", "image/gif"})
IMAGE_EXTENSIONS = (".bmp", ".png", ".jpeg", ".jpg", ".gif")
IMAGE_MAX_BYTES = 10 * 1024 * 1024


def signature(*parts: str) -> str:
    """WeChat's signature: SHA1 of the parts sorted and joined (token, timestamp, nonce[, encrypt])."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def new_aes_key() -> str:
    """A random EncodingAESKey as the Official Account console makes them: 43 base64 characters."""
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(msg_type: str, from_user: str, to_user: str = "gh_omnihub", create_time: int | None = None,
                msg_id: int | None = None, **fields: str) -> str:
    """A message or event as WeChat pushes it: <xml> with CDATA strings, e.g. message_xml("text", Content="hi")."""
    parts = [
        f"<ToUserName>{_cdata(to_user)}</ToUserName>",
        f"<FromUserName>{_cdata(from_user)}</FromUserName>",
        f"<CreateTime>{create_time if create_time is not None else int(time.time())}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    parts += [f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items()]
    if msg_id is not None:
        parts.append(f"<MsgId>{msg_id}</MsgId>")
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass(slots=True)
class SignedCallback:
    """One callback request as WeChat sends it: the query string and the XML body."""

    params: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Recorded:
    """One API call the service made."""

    path: str
    params: dict[str, str]
    body: Any
    time: float


@dataclass
class FakeWeChatApi:
    """Serve api.weixin.qq.com's `cgi-bin` on 127.0.0.1; sign and encrypt callbacks as WeChat does.

    Every `cgi-bin/token` call issues a new token and invalidates the older ones (WeChat keeps the
    previous one for five minutes; the double is stricter so that racing refreshes show).
    """

    app_id: str = "wx0123456789abcdef"
    app_secret: str = "test-app-secret-0123456789abcdef"
    callback_token: str = "testCallbackToken42"
    encoding_aes_key: str = field(default_factory=new_aes_key)
    original_id: str = "gh_omnihub"
    port: int = 0
    token_lifetime: int = 7200
    requests: list[Recorded] = field(default_factory=list)
    errors: dict[str, list[int]] = field(default_factory=dict)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    valid_tokens: dict[str, float] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The value for OMNIHUB_WECHAT_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}"

    def fail(self, path: str, *errcodes: int) -> None:
        """Answer the next calls of `path` ("message/custom/send", "token", "media/get") with these errcodes."""
        self.errors.setdefault(path, []).extend(errcodes)

    def calls(self, path: str) -> list[Recorded]:
        """Recorded calls of one path (without the cgi-bin/ prefix), in order."""
        return [r for r in self.requests if r.path == path]

    def expire_tokens(self) -> None:
        """Make every issued token invalid, as when WeChat's 7,200 s run out."""
        self.valid_tokens.clear()

    async def start(self) -> FakeWeChatApi:
        """Start serving on a free port (or the one given)."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/cgi-bin/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- callbacks, signed (and in safe mode encrypted) exactly as WeChat ------------------------
    def sign(self, xml: str, *, safe: bool = False, timestamp: str | None = None,
             nonce: str | None = None) -> SignedCallback:
        """The request WeChat would POST for `xml`: plain mode, or safe mode (AES) with msg_signature."""
        ts = timestamp or str(int(time.time()))
        nc = nonce or str(secrets.randbelow(10**10))
        params = {"signature": signature(self.callback_token, ts, nc), "timestamp": ts, "nonce": nc}
        if not safe:
            return SignedCallback(params, xml.encode())
        openid = xml.split("<FromUserName>", 1)[1].split("</FromUserName>", 1)[0]
        key = base64.b64decode(self.encoding_aes_key + "=")
        encrypt = PrpCrypto(key).encrypt(xml, self.app_id)
        encrypt = encrypt.decode() if isinstance(encrypt, bytes) else str(encrypt)
        params |= {"openid": openid.removeprefix("<![CDATA[").removesuffix("]]>"), "encrypt_type": "aes",
                   "msg_signature": signature(self.callback_token, ts, nc, encrypt)}
        body = f"<xml><ToUserName>{_cdata(self.original_id)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        return SignedCallback(params, body.encode())

    def verification(self, echostr: str = "echo-1234") -> dict[str, str]:
        """The query of WeChat's GET URL verification."""
        ts, nc = str(int(time.time())), str(secrets.randbelow(10**10))
        return {"signature": signature(self.callback_token, ts, nc), "timestamp": ts, "nonce": nc,
                "echostr": echostr}

    async def push(self, url: str, xml: str, *, safe: bool = False) -> tuple[int, str]:
        """POST one message to the service's callback URL as WeChat does; returns (status, body)."""
        cb = self.sign(xml, safe=safe)
        async with aiohttp.ClientSession() as http, http.post(
            f"{url}?{urlencode(cb.params)}", data=cb.body, headers={"Content-Type": "text/xml"}
        ) as resp:
            return resp.status, await resp.text()

    # ---- the API -----------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        params = dict(request.query)
        body: Any = None
        if request.method == "POST":
            if request.content_type.startswith("multipart/"):
                form = await request.post()
                upload = form.get("media")
                body = {"media": (upload.filename, upload.file.read(), upload.content_type)
                        if isinstance(upload, web.FileField) else None}
            else:
                raw = await request.read()
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
        self.requests.append(Recorded(path, params, body, time.monotonic()))
        if path == "token":
            return self._token(params)
        token = params.get("access_token", "")
        if not token:
            return _err(41001)
        queued = self.errors.get(path) or []
        if queued:
            return _err(queued.pop(0))
        expires = self.valid_tokens.get(token)
        if expires is None:
            return _err(40001)
        if expires < time.time():
            return _err(42001)
        if path == "message/custom/send":
            return self._custom_send(body)
        if path == "media/get":
            return self._media_get(params.get("media_id", ""))
        if path == "media/upload":
            return self._media_upload(params.get("type", ""), body)
        return _err(-1)

    def _token(self, params: dict[str, str]) -> web.Response:
        queued = self.errors.get("token") or []
        if queued:
            return _err(queued.pop(0))
        if params.get("grant_type") != "client_credential" or params.get("appid") != self.app_id:
            return _err(40013)
        if params.get("secret") != self.app_secret:
            return _err(40125)
        token = f"ACCESS_{next(self._ids)}_{secrets.token_hex(8)}"
        self.valid_tokens = {token: time.time() + self.token_lifetime}
        return web.json_response({"access_token": token, "expires_in": self.token_lifetime})

    def _custom_send(self, body: Any) -> web.Response:
        if not isinstance(body, dict) or not body.get("touser") or body.get("msgtype") not in (
                "text", "image", "voice", "video", "news", "mpnews", "msgmenu"):
            return _err(44002)
        kind = body["msgtype"]
        if not isinstance(body.get(kind), dict):
            return _err(44002)
        if kind in ("image", "voice", "video") and body[kind].get("media_id") not in self.media:
            return _err(40007)  # media messages name media uploaded (or received) before
        self.sent.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _media_get(self, media_id: str) -> web.Response:
        found = self.media.get(media_id)
        if found is None:
            return _err(40007)
        data, content_type = found
        return web.Response(body=data, content_type=content_type,
                            headers={"Content-Disposition": f'attachment; filename="{escape(media_id)}"'})

    def _media_upload(self, kind: str, body: Any) -> web.Response:
        upload = body.get("media") if isinstance(body, dict) else None
        if kind not in ("image", "voice", "video", "thumb") or upload is None:
            return _err(40007)
        # Temporary media as WeChat takes it: images are BMP/PNG/JPEG/GIF of at most 10 MB.
        if kind == "image" and (upload[2] not in IMAGE_TYPES or not str(upload[0]).lower().endswith(IMAGE_EXTENSIONS)):
            return _err(40005)
        if kind == "image" and len(upload[1]) > IMAGE_MAX_BYTES:
            return _err(40009)
        media_id = f"MEDIA_{secrets.token_hex(12)}"
        self.media[media_id] = (upload[1], upload[2] or "application/octet-stream")
        return web.json_response({"type": kind, "media_id": media_id, "created_at": int(time.time())})

    def texts_to(self, openid: str) -> list[str]:
        """Text contents sent to one follower, in order."""
        return [m["text"]["content"] for m in self.sent if m["touser"] == openid and m["msgtype"] == "text"]


def _err(code: int) -> web.Response:
    # WeChat answers errors with HTTP 200 and an errcode/errmsg body.
    return web.json_response({"errcode": code, "errmsg": f"{ERRMSG.get(code, 'error')} rid: {secrets.token_hex(6)}"})


def main() -> None:
    """Run the double as a local WeChat API sandbox (for `make run`): app id, secret and token from the env."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description="local WeChat Official Account API sandbox")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args()
    fake = FakeWeChatApi(app_id=os.environ["OMNIHUB_WECHAT_APP_ID"], app_secret=os.environ["OMNIHUB_WECHAT_APP_SECRET"],
                         callback_token=os.environ["OMNIHUB_WECHAT_TOKEN"],
                         encoding_aes_key=os.environ.get("OMNIHUB_WECHAT_ENCODING_AES_KEY", "") or new_aes_key(),
                         port=args.port)

    async def serve() -> None:
        await fake.start()
        print(f"WeChat sandbox on {fake.base_url}: customer-service messages are accepted and logged, never sent",
              flush=True)
        last = 0
        while True:
            await asyncio.sleep(1)
            for m in fake.sent[last:]:
                content = m.get("text", {}).get("content", "") if m.get("msgtype") == "text" else m.get("msgtype")
                print(f"WeChat message to {m.get('touser')}: {content}", flush=True)
            last = len(fake.sent)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
