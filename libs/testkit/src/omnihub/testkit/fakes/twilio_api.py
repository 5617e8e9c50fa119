"""A local HTTP double of the parts of Twilio's REST API omnihub uses, with Twilio-signed callbacks."""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from omnihub.testkit.fakes.twilio_conference import Conferences
from omnihub.testkit.ports import free_port

API = "/2010-04-01/Accounts/{account}"
TEMPLATE_SID = "HX" + "0" * 31 + "1"  # an approved demo template
WHATSAPP = "whatsapp:"


@dataclass
class Failure:
    """A programmed error response, in Twilio's error format."""

    status: int
    code: int
    message: str


@dataclass
class FakeTwilio:
    """Messages create/fetch, Calls create/update and Queue members; signs webhooks like Twilio."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = field(default_factory=free_port)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    fail_next: list[Failure] = field(default_factory=list)
    unsubscribed: set[str] = field(default_factory=set)
    invalid: set[str] = field(default_factory=set)
    recordings: dict[str, bytes] = field(default_factory=dict)  # RecordingSid -> WAV audio
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # inbound MMS media: MediaSid -> (bytes, type)
    # What Twilio fetched of an outgoing MMS's MediaUrl (it must be public): (url, HTTP status, bytes).
    media_fetched: list[tuple[str, int, bytes]] = field(default_factory=list)
    media_types: dict[str, str] = field(default_factory=dict)  # MediaUrl -> the Content-Type it was served with
    # Approved WhatsApp templates of the Content API: ContentSid -> body with {{1}}-style placeholders.
    templates: dict[str, str] = field(default_factory=lambda: {
        TEMPLATE_SID: "Hello {{1}}, your case {{2}} has an update. Reply to continue. / 您好 {{1}}，您的工单 {{2}} 有新进展。"})
    _runner: web.AppRunner | None = None
    conferences: Conferences = field(init=False)

    def __post_init__(self) -> None:
        self.conferences = Conferences(self.account_sid, lambda status, code, message: self._error(
            Failure(status, code, message)), self._record)

    @property
    def base_url(self) -> str:
        """Point `twilio.rest.Client.api.base_url` here."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def validator(self) -> RequestValidator:
        """Twilio's own signer, keyed with the account's auth token."""
        return RequestValidator(self.auth_token)

    async def start(self) -> None:
        """Serve the API on 127.0.0.1:port."""
        app = web.Application()
        base = API.replace("{account}", "{account}")
        app.router.add_post(f"{base}/Messages.json", self._create_message)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch_message)
        app.router.add_post(f"{base}/Calls.json", self._create_call)
        app.router.add_post(f"{base}/Calls/{{sid}}.json", self._update_call)
        app.router.add_get(f"{base}/Queues/{{queue}}/Members.json", self._queue_members)
        self.conferences.routes(app, base)
        app.router.add_get(f"{base}/Recordings/{{name}}", self._fetch_recording)
        app.router.add_get(f"{base}/Messages/{{msid}}/Media/{{sid}}", self._fetch_media)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner:
            await self._runner.cleanup()

    # ---- REST API --------------------------------------------------------------------
    def _auth(self, request: web.Request) -> web.Response | None:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["account"] != self.account_sid:
            return self._error(Failure(401, 20003, "Authenticate"))
        return None

    def _record(self, request: web.Request, form: dict[str, str]) -> web.Response | None:
        """Log a request; answer an authentication failure or the next programmed failure, if any."""
        self.requests.append((request.method, request.path, form))
        if (denied := self._auth(request)) is not None:
            return denied
        return self._error(self.fail_next.pop(0)) if self.fail_next else None

    def add_recording(self, audio: bytes, sid: str | None = None) -> str:
        """Keep a recording; its RecordingUrl as Twilio gives it (media at that URL + .wav or .mp3, with auth)."""
        sid = sid or "RE" + secrets.token_hex(16)
        self.recordings[sid] = audio
        return f"{self.base_url}{API.format(account=self.account_sid)}/Recordings/{sid}"

    async def _fetch_recording(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        sid, _, ext = request.match_info["name"].partition(".")
        self.requests.append(("GET", f"Recordings/{sid}", {}))
        if sid not in self.recordings or ext not in ("", "wav", "mp3"):
            return self._error(Failure(404, 20404, "The requested resource was not found"))
        # The double has WAV audio only; Twilio transcodes to MP3 on request, the double answers WAV for both.
        return web.Response(body=self.recordings[sid], content_type="audio/x-wav")

    def add_media(self, data: bytes, content_type: str) -> str:
        """Keep an inbound MMS's media; its MediaUrl as Twilio gives it (fetched with the account's auth)."""
        sid = "ME" + secrets.token_hex(16)
        self.media[sid] = (data, content_type)
        return f"{self.base_url}{API.format(account=self.account_sid)}/Messages/MM{secrets.token_hex(16)}/Media/{sid}"

    async def _fetch_media(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._auth(request)) is not None:
            return denied
        found = self.media.get(request.match_info["sid"])
        if found is None:
            return self._error(Failure(404, 20404, "The requested resource was not found"))
        return web.Response(body=found[0], content_type=found[1])

    async def _fetch_public(self, urls: list[str]) -> None:
        """Fetch each MediaUrl without credentials, as Twilio does before sending an MMS (the double reaches
        loopback only: other URLs are recorded with status 0)."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            for url in urls:
                if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
                    self.media_fetched.append((url, 0, b""))
                    continue
                try:
                    async with http.get(url) as resp:
                        self.media_fetched.append((url, resp.status, await resp.read()))
                        self.media_types[url] = resp.content_type
                except aiohttp.ClientError:
                    self.media_fetched.append((url, 0, b""))

    def _error(self, f: Failure) -> web.Response:
        return web.json_response({"code": f.code, "message": f.message,
                                  "more_info": f"https://www.twilio.com/docs/errors/{f.code}",
                                  "status": f.status}, status=f.status)

    async def _create_message(self, request: web.Request) -> web.Response:
        raw = await request.post()
        form = {k: str(v) for k, v in raw.items()}
        self.requests.append(("POST", request.path, form))
        if (denied := self._auth(request)) is not None:
            return denied
        if self.fail_next:
            return self._error(self.fail_next.pop(0))
        to = form.get("To", "")
        content_sid = form.get("ContentSid", "")
        body = form.get("Body", "")
        if content_sid:
            template = self.templates.get(content_sid)
            if template is None:
                return self._error(Failure(400, 21655, "The ContentSid is Invalid"))
            try:
                variables = json.loads(form.get("ContentVariables", "") or "{}")
            except ValueError:
                return self._error(Failure(400, 21656, "The ContentVariables Parameter is invalid"))
            for key, value in variables.items():
                template = template.replace("{{" + str(key) + "}}", str(value))
            body = template
        if to.startswith(WHATSAPP) != form.get("From", "").startswith(WHATSAPP):
            return self._error(Failure(400, 63007, "Twilio could not find a Channel with the specified From address"))
        if to in self.unsubscribed:
            return self._error(Failure(400, 21610, "Attempt to send to unsubscribed recipient"))
        if to in self.invalid or not to.removeprefix(WHATSAPP).startswith("+"):
            return self._error(Failure(400, 21211, f"The 'To' number {to} is not a valid phone number."))
        if len(form.get("Body", "")) > 1600:
            return self._error(Failure(400, 21617, "The concatenated message body exceeds the 1600 character limit."))
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        msg = {
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": form.get("From"), "messaging_service_sid": None,
            "num_media": "0", "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
            "status": "queued", "subresource_uris": {"media": f"{API.format(account=self.account_sid)}/Messages/{sid}/Media.json"},
            "to": to, "uri": f"{API.format(account=self.account_sid)}/Messages/{sid}.json",
            "status_callback": form.get("StatusCallback"),
            "content_sid": content_sid or None, "content_variables": form.get("ContentVariables"),
            "media_url": [str(v) for v in raw.getall("MediaUrl", [])],
        }
        self.messages[sid] = msg
        media = [str(v) for v in raw.getall("MediaUrl", [])]
        if media:
            await self._fetch_public(media)
            msg["num_media"] = str(len(media))
        return web.json_response(msg, status=201)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        msg = self.messages.get(request.match_info["sid"])
        if msg is None:
            return self._error(Failure(404, 20404, "The requested resource was not found"))
        return web.json_response(msg)

    async def _create_call(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(("POST", request.path, form))
        if (denied := self._auth(request)) is not None:
            return denied
        if self.fail_next:
            return self._error(self.fail_next.pop(0))
        sid = "CA" + secrets.token_hex(16)
        call = {"sid": sid, "account_sid": self.account_sid, "to": form.get("To"), "from": form.get("From"),
                "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
                "uri": f"{API.format(account=self.account_sid)}/Calls/{sid}.json", "twiml": form.get("Twiml"),
                "url": form.get("Url"), "date_created": formatdate(usegmt=True)}
        self.calls[sid] = call
        if form.get("Twiml"):
            self.conferences.join_from_twiml(sid, form["Twiml"])
        return web.json_response(call, status=201)

    async def _update_call(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(("POST", request.path, form))
        if (denied := self._auth(request)) is not None:
            return denied
        if self.fail_next:
            return self._error(self.fail_next.pop(0))
        call = self.calls.setdefault(request.match_info["sid"], {"sid": request.match_info["sid"]})
        call.update({k.lower(): v for k, v in form.items()})
        if "Twiml" in form:
            self.conferences.join_from_twiml(request.match_info["sid"], form["Twiml"])
        return web.json_response(call)

    async def _queue_members(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        return web.json_response({"queue_members": [], "page": 0, "page_size": 50, "start": 0, "end": 0,
                                  "uri": request.path, "first_page_uri": request.path, "next_page_uri": None,
                                  "previous_page_uri": None})

    # ---- webhooks to us ------------------------------------------------------------
    def sign(self, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature for a POST of params to url, exactly as Twilio computes it."""
        return str(self.validator.compute_signature(url, params))

    async def post_webhook(self, url: str, params: dict[str, str], signature: str | None = None,
                           public_url: str | None = None) -> aiohttp.ClientResponse:
        """POST a form to our webhook, signed for `public_url` (what Twilio sees) unless overridden."""
        headers = {}
        sig = self.sign(public_url or url, params) if signature is None else signature
        if sig:
            headers["X-Twilio-Signature"] = sig
        async with aiohttp.ClientSession() as session:
            resp = await session.post(url, data=params, headers=headers)
            await resp.read()
            return resp

    def inbound_sms(self, to: str, from_: str, body: str, sid: str | None = None,
                    media: list[tuple[str, str]] | None = None) -> dict[str, str]:
        """The form Twilio posts for an incoming SMS/MMS."""
        params = {"MessageSid": sid or "SM" + secrets.token_hex(16), "SmsSid": "", "AccountSid": self.account_sid,
                  "From": from_, "To": to, "Body": body, "NumMedia": str(len(media or [])), "NumSegments": "1",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        params["SmsSid"] = params["MessageSid"]
        for i, (url, ctype) in enumerate(media or []):
            params[f"MediaUrl{i}"], params[f"MediaContentType{i}"] = url, ctype
        return params

    async def deliver(self, sid: str, status: str = "delivered", error_code: str = "") -> aiohttp.ClientResponse:
        """Send the status callback of a message we created, signed."""
        msg = self.messages[sid]
        msg["status"] = status
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": self.account_sid,
                  "From": str(msg["from"]), "To": str(msg["to"]), "ApiVersion": "2010-04-01",
                  "Timestamp": str(int(time.time()))}
        if error_code:
            params["ErrorCode"] = error_code
        return await self.post_webhook(str(msg["status_callback"]), params)


def main() -> None:
    """Run the double as a local Twilio sandbox (for `make run`): OMNIHUB_TWILIO_* and a port."""
    import argparse
    import asyncio
    import os

    parser = argparse.ArgumentParser(description="local Twilio API sandbox")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    fake = FakeTwilio(account_sid=os.environ["OMNIHUB_TWILIO_ACCOUNT_SID"],
                      auth_token=os.environ["OMNIHUB_TWILIO_AUTH_TOKEN"], port=args.port)

    async def serve() -> None:
        await fake.start()
        print(f"Twilio sandbox on {fake.base_url}: messages are accepted and logged, never sent", flush=True)
        last = 0
        while True:
            await asyncio.sleep(1)
            for sid in list(fake.messages)[last:]:
                m = fake.messages[sid]
                print(f"SMS {sid} to {m['to']}: {m['body']}", flush=True)
                if m.get("status_callback"):
                    await fake.deliver(sid)
            last = len(fake.messages)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
