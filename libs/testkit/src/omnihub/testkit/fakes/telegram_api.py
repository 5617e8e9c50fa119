"""A local Telegram Bot API double (aiohttp) with real JSON shapes and programmable failures."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from omnihub.testkit.ports import free_port

MB = 1024 * 1024
URL_LIMITS = {"photo": 5 * MB, "document": 20 * MB}  # sent by HTTP URL
UPLOAD_LIMITS = {"photo": 10 * MB, "document": 50 * MB}  # sent as multipart/form-data

BOT_ID = 7_000_000_001
BOT_USERNAME = "omnihub_test_bot"


@dataclass(slots=True)
class RecordedRequest:
    """One call the bot made: method, token, decoded parameters and arrival time."""

    method: str
    token: str
    params: dict[str, Any]
    time: float


@dataclass(slots=True)
class Failure:
    """A programmed failure for the next calls of one method."""

    kind: str  # "forbidden", "rate_limited", "drop", "bad_request"
    retry_after: int = 1
    times: int = 1
    description: str = ""


@dataclass
class FakeTelegramApi:
    """Serve `/bot<token>/<method>` on 127.0.0.1; record calls; fail on demand."""

    token: str = "123456:TEST-token"
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    # What the Bot API fetched of photos and documents sent by HTTP URL: (url, HTTP status, bytes).
    fetched: list[tuple[str, int, bytes]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """The value for `ApplicationBuilder().base_url(...)` / `Bot(base_url=...)`."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """The value for `base_file_url(...)`."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def fail(self, method: str, kind: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Make the next `times` calls of `method` fail in the given way."""
        self.failures.setdefault(method, []).append(Failure(kind=kind, retry_after=retry_after, times=times))

    def calls(self, method: str) -> list[RecordedRequest]:
        """Recorded calls of one method, in order."""
        return [r for r in self.requests if r.method == method]

    async def start(self) -> FakeTelegramApi:
        """Start serving on a free port."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    params[key] = {"filename": value.filename, "size": len(value.file.read())}
                else:
                    params[key] = _maybe_json(str(value))
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        params = await self._params(request)
        self.requests.append(RecordedRequest(method, token, params, time.monotonic()))
        if token != self.token:
            return _error(401, "Unauthorized")
        failure = self._take_failure(method)
        if failure is not None:
            if failure.kind == "drop":
                assert request.transport is not None
                request.transport.close()  # the client sees a network error
                await asyncio.sleep(0)
                return web.Response()
            if failure.kind == "forbidden":
                return _error(403, "Forbidden: bot was blocked by the user")
            if failure.kind == "rate_limited":
                return _error(
                    429,
                    f"Too Many Requests: retry after {failure.retry_after}",
                    parameters={"retry_after": failure.retry_after},
                )
            return _error(400, failure.description or "Bad Request: chat not found")
        for key in ("photo", "document"):  # Telegram downloads a file given by URL before it sends it
            ref = params.get(key)  # (the double reaches loopback only: other URLs are taken as they are)
            if method.lower() in ("sendphoto", "senddocument") and isinstance(ref, str) and _loopback(ref):
                status, body = await self._download(ref)
                self.fetched.append((ref, status, body))
                if status != 200:
                    return _error(400, "Bad Request: wrong HTTP URL specified")
                if len(body) > URL_LIMITS[key]:  # the Bot API's limits for files it fetches itself
                    return _error(400, "Bad Request: failed to get HTTP URL content")
            upload = params.get(key)  # uploaded (multipart): 10 MB photos, 50 MB other files
            if isinstance(upload, dict) and int(upload.get("size", 0)) > UPLOAD_LIMITS[key]:
                return _error(413, "Request Entity Too Large")
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        return _ok(handler(params))

    async def _download(self, url: str) -> tuple[int, bytes]:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, http.get(url) as resp:
                return resp.status, await resp.read()
        except aiohttp.ClientError:
            return 0, b""

    def _take_failure(self, method: str) -> Failure | None:
        queue = self.failures.get(method) or []
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    async def _file(self, request: web.Request) -> web.StreamResponse:
        data = self.files.get(request.match_info["path"])
        if data is None:
            return _error(404, "Not Found")
        return web.Response(body=data)

    # Bot API methods -------------------------------------------------------------------

    def _m_getme(self, _: dict[str, Any]) -> Any:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "omnihub",
            "username": BOT_USERNAME,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _message(self, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
        chat_id = int(params.get("chat_id", 0))
        msg: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "omnihub"},
            **extra,
        }
        if "reply_markup" in params:
            msg["reply_markup"] = params["reply_markup"]
        return msg

    def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        return self._message(params, text=str(params.get("text", "")))

    def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        photo = [{"file_id": "AgAC-photo", "file_unique_id": "p1", "width": 90, "height": 90}]
        return self._message(params, photo=photo, caption=str(params.get("caption", "")))

    def _m_senddocument(self, params: dict[str, Any]) -> Any:
        doc = {"file_id": "BQAC-doc", "file_unique_id": "d1", "file_name": "file.bin"}
        return self._message(params, document=doc, caption=str(params.get("caption", "")))

    def _m_answercallbackquery(self, _: dict[str, Any]) -> Any:
        return True

    def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> Any:
        return self._message(params, text="")

    def _m_getfile(self, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id", ""))
        return {
            "file_id": file_id,
            "file_unique_id": file_id[-8:],
            "file_size": len(self.files.get(file_id, b"")),
            "file_path": file_id,
        }

    def _m_setwebhook(self, _: dict[str, Any]) -> Any:
        return True

    def _m_deletewebhook(self, _: dict[str, Any]) -> Any:
        return True


def _loopback(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "http://localhost:"))


def _maybe_json(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, **extra: Any) -> web.Response:
    body = {"ok": False, "error_code": status, "description": description, **extra}
    return web.json_response(body, status=status)


def main() -> None:
    """Run the double as a local Telegram Bot API sandbox (for `make run`): OMNIHUB_TELEGRAM_BOT_TOKEN and a port."""
    import argparse
    import os

    parser = argparse.ArgumentParser(description="local Telegram Bot API sandbox")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args()
    fake = FakeTelegramApi(token=os.environ["OMNIHUB_TELEGRAM_BOT_TOKEN"], port=args.port)

    async def serve() -> None:
        await fake.start()
        print(f"Telegram sandbox on {fake.base_url}: bot messages are accepted and logged, never sent", flush=True)
        last = 0
        while True:
            await asyncio.sleep(1)
            for r in fake.requests[last:]:
                if r.method.lower().startswith("send"):
                    print(f"Telegram {r.method} to chat {r.params.get('chat_id')}: {r.params.get('text', '')}",
                          flush=True)
            last = len(fake.requests)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
