"""The WeChat Official Account HTTP API (httpx, async): one access token shared in KV, errcode mapping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import nats.js.errors
from nats.js.kv import KeyValue

from omnihub.common.bus import kv_key, new_id
from omnihub.common.errors import ChannelError, ErrorMap, PermanentChannelError, TransientChannelError, map_exceptions
from omnihub.common.logging import get_logger

log = get_logger("omnihub.chat.wechat")

# errcodes (https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html)
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # the access token is invalid or expired: refresh once, retry
TRANSIENT_ERRORS = frozenset({-1, 45047, 45009})  # busy, too many replies in a row, daily API quota
PERMANENT_HINTS = {
    45015: "outside WeChat's 48-hour customer-service window (or the follower unsubscribed)",
    40003: "unknown OpenID for this Official Account",
}
MAX_MEDIA_BYTES = 10 * 1024 * 1024


def _unreachable(exc: BaseException) -> ChannelError:
    return TransientChannelError(f"cannot reach WeChat: {exc!r}", code="network")


HTTP_ERRORS: ErrorMap = {httpx.HTTPError: _unreachable}


def map_errcode(errcode: int, errmsg: str) -> ChannelError:
    """Our ChannelError for a WeChat errcode: retry for busy/limits, permanent for the rest."""
    text = f"{PERMANENT_HINTS.get(errcode, errmsg)} (WeChat errcode {errcode}: {errmsg})"
    if errcode in TRANSIENT_ERRORS or errcode in TOKEN_ERRORS:
        return TransientChannelError(text, code=str(errcode))
    return PermanentChannelError(text, code=str(errcode))


class SharedAccessToken:
    """The Official Account's access token, kept in JetStream KV with its expiry for every replica.

    WeChat invalidates the previous token whenever a new one is fetched, so replicas must not refresh
    on their own: the first to see the token near expiry (or rejected) claims the KV entry by
    compare-and-set on its revision, fetches, and writes the new token back; the others keep using
    the old token while it lasts, or wait for the claim's result.
    """

    def __init__(self, kv: KeyValue, app_id: str, fetch: Callable[[], Awaitable[tuple[str, float]]], *,
                 margin: float = 300.0, claim_timeout: float = 15.0, clock: Callable[[], float] = time.time) -> None:
        self.kv = kv
        self.key = kv_key(f"access_token.{app_id}")
        self.fetch = fetch
        self.margin = margin
        self.claim_timeout = claim_timeout
        self.clock = clock
        self.claimant = new_id("wxtok")

    async def _read(self) -> tuple[dict[str, Any], int]:
        try:
            entry = await self.kv.get(self.key)
        except nats.js.errors.KeyNotFoundError:
            return {}, 0
        try:
            value = json.loads(entry.value or b"{}")
        except ValueError:
            value = {}
        return (value if isinstance(value, dict) else {}), int(entry.revision or 0)

    async def get(self, stale: str = "") -> str:
        """A valid token; `stale` is one WeChat just rejected, so it is never returned again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.claim_timeout + 5.0
        while True:
            if loop.time() > deadline:
                raise TransientChannelError("the shared access token could not be refreshed", code="token_wait")
            value, revision = await self._read()
            now = self.clock()
            token = str(value.get("token", ""))
            usable = bool(token) and token != stale and float(value.get("expires_at", 0)) > now
            if usable and float(value["expires_at"]) - self.margin > now:
                return token
            claimed = bool(value.get("claim")) and now - float(value.get("claim_at", 0)) < self.claim_timeout
            if claimed and usable:
                return token  # another replica is refreshing; the old token is still good meanwhile
            if not claimed:
                fresh = await self._refresh(value, revision, now)
                if fresh is not None:
                    return fresh
                continue  # another replica moved first: read what it wrote
            await asyncio.sleep(0.05)  # another replica holds the claim: its token lands in KV shortly

    async def _refresh(self, value: dict[str, Any], revision: int, now: float) -> str | None:
        claim = json.dumps({**value, "claim": self.claimant, "claim_at": now}).encode()
        try:
            if revision:
                claimed_rev = await self.kv.update(self.key, claim, last=revision)
            else:
                claimed_rev = await self.kv.create(self.key, claim)
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.APIError):
            return None
        try:
            token, expires_in = await self.fetch()
        except BaseException:
            release = {k: v for k, v in value.items() if k not in ("claim", "claim_at")}
            with contextlib.suppress(nats.js.errors.Error):  # otherwise the claim times out by itself
                await self.kv.update(self.key, json.dumps(release).encode(), last=claimed_rev)
            raise
        fresh = json.dumps({"token": token, "expires_at": self.clock() + expires_in}).encode()
        try:
            await self.kv.update(self.key, fresh, last=claimed_rev)
        except nats.js.errors.KeyWrongLastSequenceError:
            log.warning("wechat.token_claim_lost")  # our claim timed out and another replica took over
            return None
        log.info("wechat.token_refreshed", expires_in=expires_in)
        return token


@dataclass(frozen=True, slots=True)
class Media:
    """A file fetched through media/get."""

    data: bytes
    content_type: str


class WeChatApi:
    """`cgi-bin/token`, `message/custom/send`, `media/get` and `media/upload` over one httpx client.

    wechatpy's client is synchronous (requests), so the calls are made here with httpx;
    wechatpy does the callback crypto and message parsing (`omnihub.chat.wechat_gateway`).
    """

    def __init__(self, base_url: str, app_id: str, app_secret: str, kv: KeyValue, *, timeout: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self.http = httpx.AsyncClient(timeout=timeout)
        self.tokens = SharedAccessToken(kv, app_id, self.fetch_token, clock=clock)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def fetch_token(self) -> tuple[str, float]:
        """A new access token from cgi-bin/token and its lifetime in seconds."""
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        body = await self._json(await self._request("GET", "/cgi-bin/token", params=params))
        if body.get("errcode"):
            raise map_errcode(int(body["errcode"]), str(body.get("errmsg", "")))
        return str(body["access_token"]), float(body.get("expires_in", 7200))

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with map_exceptions(HTTP_ERRORS):
            resp = await self.http.request(method, self.base_url + path, **kwargs)
        if resp.status_code >= 500:
            raise TransientChannelError(f"WeChat answered HTTP {resp.status_code}", code=str(resp.status_code))
        return resp

    @staticmethod
    async def _json(resp: httpx.Response) -> dict[str, Any]:
        try:
            body = resp.json()
        except ValueError as exc:
            raise TransientChannelError("WeChat answered with something other than JSON", code="bad_json") from exc
        if not isinstance(body, dict):
            raise TransientChannelError("WeChat answered with an unexpected JSON shape", code="bad_json")
        return body

    async def _with_token(self, call: Callable[[str], Awaitable[httpx.Response]]) -> httpx.Response:
        """Run `call(token)`; on 40001/42001 refresh the shared token once and run it again."""
        token = await self.tokens.get()
        resp = await call(token)
        if _errcode(resp) in TOKEN_ERRORS:
            log.info("wechat.token_rejected", errcode=_errcode(resp))
            resp = await call(await self.tokens.get(stale=token))
        return resp

    async def custom_send(self, message: dict[str, Any]) -> None:
        """POST message/custom/send; raises a ChannelError for any errcode but 0."""
        data = json.dumps(message, ensure_ascii=False).encode()  # WeChat shows \\uXXXX escapes literally

        async def call(token: str) -> httpx.Response:
            return await self._request("POST", "/cgi-bin/message/custom/send", params={"access_token": token},
                                       content=data, headers={"Content-Type": "application/json"})

        body = await self._json(await self._with_token(call))
        if body.get("errcode"):
            raise map_errcode(int(body["errcode"]), str(body.get("errmsg", "")))

    async def media_get(self, media_id: str) -> Media:
        """Download one temporary media file (images, voice, video) by its MediaId."""

        async def call(token: str) -> httpx.Response:
            return await self._request("GET", "/cgi-bin/media/get",
                                       params={"access_token": token, "media_id": media_id})

        resp = await self._with_token(call)
        content_type = resp.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
        if content_type in ("application/json", "text/plain"):
            body = await self._json(resp)
            raise map_errcode(int(body.get("errcode", -1)), str(body.get("errmsg", "")))
        if len(resp.content) > MAX_MEDIA_BYTES:
            raise PermanentChannelError(f"media larger than {MAX_MEDIA_BYTES} bytes", code="media_too_large")
        return Media(resp.content, content_type)

    async def media_upload(self, kind: str, file_name: str, data: bytes, content_type: str) -> str:
        """Upload temporary media (`kind` image/voice/video) and return its media_id."""

        async def call(token: str) -> httpx.Response:
            return await self._request("POST", "/cgi-bin/media/upload", params={"access_token": token, "type": kind},
                                       files={"media": (file_name, data, content_type)})

        body = await self._json(await self._with_token(call))
        if body.get("errcode"):
            raise map_errcode(int(body["errcode"]), str(body.get("errmsg", "")))
        return str(body["media_id"])


def _errcode(resp: httpx.Response) -> int:
    if not resp.headers.get("Content-Type", "").startswith(("application/json", "text/plain")):
        return 0
    try:
        body = resp.json()
    except ValueError:
        return 0
    return int(body.get("errcode", 0) or 0) if isinstance(body, dict) else 0
