"""The evaluators' QA workspace in the inbox: quality's QA API acting as the logged-in user, the transcript of a
sampled conversation, and its Twilio recording streamed through us with the account's credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from omnihub.common.jsonbody import read_body
from omnihub.inbox import audit, teams
from omnihub.inbox.auth import SESSION
from omnihub.inbox.models import QaCalibrationBody, QaDrawBody, QaEvaluationBody

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

CHUNK = 64 * 1024
AUDIO_TYPES = ("audio/", "application/octet-stream")


@dataclass(frozen=True, slots=True)
class TwilioRecordings:
    """Where the account's recordings live and how to fetch them (HTTP basic auth with the account's token)."""

    account_sid: str
    auth_token: str
    api_base_url: str = "https://api.twilio.com"

    def owns(self, uri: str) -> bool:
        """Only this account's recordings are fetched: a stored URI pointing anywhere else is refused."""
        prefix = f"{self.api_base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Recordings/"
        rest = uri[len(prefix):] if uri.startswith(prefix) else ""
        return bool(rest) and all(c.isalnum() for c in rest)

    def auth(self) -> dict[str, str]:
        """The Authorization header with the credentials the browser never sees (aiohttp deprecates `auth=` and BasicAuth)."""
        return {"Authorization": aiohttp.encode_basic_auth(self.account_sid, self.auth_token)}


class QaWorkspace:
    """The HTTP handlers, all under /api/supervisor/qa/ (agents are refused by the inbox's middleware)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _q(self, method: str, path: str, **kwargs: Any) -> Any:
        return await self.inbox._quality_call(method, path, **kwargs)  # signed as the session's user

    async def policies(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/policies."""
        return web.json_response(await self._q("GET", "/api/qa/policies"))

    async def scorecards(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/scorecards."""
        return web.json_response(await self._q("GET", "/api/scorecards"))

    async def draw(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/qa/samples {policy, seed?}: draw a sample (the same seed draws it again)."""
        body = await read_body(request, QaDrawBody)
        drawn = await self._q("POST", "/api/qa/samples", json=body.model_dump(by_alias=True, exclude_none=True))
        await audit.record(request, "qa.sample", body.policy, after=body.model_dump(by_alias=True, exclude_none=True))
        return web.json_response(drawn)

    async def queue(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/queue: what the logged-in evaluator has still to score, with seeds (their teams')."""
        answer = await self._q("GET", "/api/qa/queue")
        members = teams.team_agents(self.inbox.users, request[SESSION])
        if members is not None and isinstance(answer, list):
            answer = [i for i in answer if i.get("agent_id") in members]
        return web.json_response(answer)

    async def _record(self, request: web.Request, cid: str) -> Any:
        """Quality's QA record of a conversation, when its agent is in the caller's teams (else 403)."""
        record = await self._q("GET", f"/api/qa/conversations/{quote(cid, safe='')}")
        members = teams.team_agents(self.inbox.users, request[SESSION])
        if members is not None and record.get("agent") not in members:
            raise web.HTTPForbidden(text="this conversation's agent is not in your team")
        return record

    async def conversation(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/conversations/{id}: the QA record and the conversation's transcript."""
        cid = request.match_info["id"]
        record = await self._record(request, cid)
        history = await self.inbox.store.customer_history(str(record.get("customer_id") or ""))
        record["messages"] = [m for m in history if m.get("conversation_id") == cid]
        record["has_recording"] = bool(record.pop("recording_uri", ""))
        return web.json_response(record)

    async def recording(self, request: web.Request) -> web.StreamResponse:
        """GET /api/supervisor/qa/conversations/{id}/recording: the call's audio, fetched from Twilio with the
        account's credentials and streamed through; the browser sees neither them nor Twilio's address."""
        source: TwilioRecordings | None = self.inbox.recordings
        if source is None:
            raise web.HTTPNotFound(text="recordings are not configured (OMNIHUB_TWILIO_ACCOUNT_SID)")
        record = await self._record(request, request.match_info["id"])
        uri = str(record.get("recording_uri") or "")
        if not uri:
            raise web.HTTPNotFound(text="this conversation has no recording")
        if not source.owns(uri):
            raise web.HTTPNotFound(text="this recording is not one of the account's")
        assert self.inbox.http is not None  # _quality_call opened it
        try:
            async with self.inbox.http.get(uri + ".mp3", headers=source.auth(),
                                           timeout=aiohttp.ClientTimeout(total=None, sock_read=30)) as upstream:
                kind = upstream.headers.get("Content-Type", "").split(";")[0].strip()
                if upstream.status != 200 or not kind.startswith(AUDIO_TYPES):
                    raise web.HTTPBadGateway(text=f"Twilio answered {upstream.status} for the recording")
                resp = web.StreamResponse(headers={"Content-Type": kind, "Cache-Control": "private, no-store",
                                                   "Content-Disposition": "inline"})
                if upstream.content_length is not None:
                    resp.content_length = upstream.content_length
                await resp.prepare(request)
                async for chunk in upstream.content.iter_chunked(CHUNK):
                    await resp.write(chunk)
                await resp.write_eof()
                return resp
        except (aiohttp.ClientError, TimeoutError):
            raise web.HTTPBadGateway(text="Twilio did not answer for the recording") from None

    async def evaluate(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/qa/evaluations {conversation_id, answers, comments, calibration_id}: the evaluator
        is the logged-in user (quality takes it from the signed actor; no field of the body names it)."""
        body = await read_body(request, QaEvaluationBody)
        if teams.team_agents(self.inbox.users, request[SESSION]) is not None:
            await self._record(request, body.conversation_id)  # the conversation's agent must be in the team
        doc = await self._q("POST", "/api/evaluations", json=body.model_dump())
        saved = doc if isinstance(doc, dict) else {}
        await audit.record(request, "qa.evaluation.submit", str(saved.get("id") or body.conversation_id),
                           after=body.model_dump() | {"score": saved.get("score")})
        return web.json_response(doc, status=201)

    async def evaluations(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/evaluations?status=&agent=: e.g. the disputes to resolve."""
        params = {k: request.query[k][:64] for k in ("status", "agent") if request.query.get(k)}
        if params.get("agent"):
            await teams.require_agent(self.inbox, request[SESSION], params["agent"])
        docs = await self._q("GET", "/api/evaluations", params=params)
        members = teams.team_agents(self.inbox.users, request[SESSION])
        if members is not None and isinstance(docs, list):
            docs = [d for d in docs if d.get("agent_id") in members]
        return web.json_response(docs)

    async def calibrations(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/calibrations: sessions with Krippendorff's alpha and its reading."""
        return web.json_response(await self._q("GET", "/api/qa/calibrations"))

    async def open_calibration(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/qa/calibrations {name, conversation_ids}."""
        body = await read_body(request, QaCalibrationBody)
        opened = await self._q("POST", "/api/qa/calibrations", json=body.model_dump())
        target = str(opened.get("id", "")) if isinstance(opened, dict) else ""
        await audit.record(request, "qa.calibration.open", target, after=body.model_dump())
        return web.json_response(opened, status=201)

    async def calibration(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/qa/calibrations/{id}."""
        return web.json_response(await self._q("GET", f"/api/qa/calibrations/{quote(request.match_info['id'], safe='')}"))


def register(app: web.Application, inbox: Inbox) -> None:
    """The QA workspace's routes."""
    qa = QaWorkspace(inbox)
    r = app.router
    base = "/api/supervisor/qa"
    r.add_get(f"{base}/policies", qa.policies)
    r.add_get(f"{base}/scorecards", qa.scorecards)
    r.add_post(f"{base}/samples", qa.draw)
    r.add_get(f"{base}/queue", qa.queue)
    r.add_get(f"{base}/conversations/{{id}}", qa.conversation)
    r.add_get(f"{base}/conversations/{{id}}/recording", qa.recording)
    r.add_post(f"{base}/evaluations", qa.evaluate)
    r.add_get(f"{base}/evaluations", qa.evaluations)
    r.add_get(f"{base}/calibrations", qa.calibrations)
    r.add_post(f"{base}/calibrations", qa.open_calibration)
    r.add_get(f"{base}/calibrations/{{id}}", qa.calibration)
