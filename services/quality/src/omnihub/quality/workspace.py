"""The evaluators' QA workspace: sampling policies, drawn samples (with seeds), the evaluator's queue, one
conversation's QA record, and calibration sessions with Krippendorff's alpha and its reading."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from omnihub.common.bus import new_id
from omnihub.common.identity import request_actor, require_supervisor
from omnihub.common.jsonbody import read_body
from omnihub.quality.calibration import krippendorff_alpha_interval
from omnihub.quality.models import CalibrationSessionBody, DrawBody
from omnihub.quality.qa import QaService
from omnihub.quality.qastore import QaStore

QA_STORE_KEY: web.AppKey[QaStore] = web.AppKey("qa_store")
RELIABLE, TENTATIVE = 0.8, 0.667  # Krippendorff's thresholds: >= 0.8 reliable, < 0.667 not even tentatively


def reading(alpha: float | None) -> str:
    """What an alpha says about the evaluators' agreement."""
    if alpha is None:
        return "insufficient"
    if alpha >= RELIABLE:
        return "reliable"
    return "tentative" if alpha >= TENTATIVE else "unreliable"


class Workspace:
    """The HTTP handlers (supervisors and admins evaluate; the evaluator is always the signed actor)."""

    def __init__(self, qa: QaService, store: QaStore) -> None:
        self.qa = qa
        self.store = store

    async def policies(self, request: web.Request) -> web.Response:
        """GET /api/qa/policies."""
        require_supervisor(request_actor(request))
        return web.json_response([p.model_dump() for p in self.qa.policies.values()])

    async def draw(self, request: web.Request) -> web.Response:
        """POST /api/qa/samples {policy, seed?, from?, to?}: draw and keep a sample; the same policy, seed and
        window draw the same conversations again."""
        actor = request_actor(request)
        require_supervisor(actor)
        body = await read_body(request, DrawBody)
        policy = self.qa.policies.get(body.policy)
        if policy is None:
            raise web.HTTPBadRequest(text=f"policy must be one of {', '.join(self.qa.policies)}")
        end = body.end or time.time()
        start = body.start or end - policy.days * 86400
        if not 0 <= start < end:
            raise web.HTTPBadRequest(text="from must be before to")
        seed = body.seed if body.seed is not None else secrets.randbelow(2**31)
        picked = await self.qa.draw_by_policy(start, end, policy, seed)
        doc = {"_id": new_id("smp"), "policy": policy.id, "seed": seed, "from": start, "to": end,
               "drawn_by": actor.sub, "created": time.time(),
               "items": [{"conversation_id": c.conversation_id, "agent_id": c.agent_id, "channel": c.channel,
                          "queue": c.queue, "has_recording": bool(c.recording_uri), "reason": reason}
                         for c, reason in picked]}
        await self.store.add_sample(doc)
        return web.json_response(doc, status=201)

    async def samples(self, request: web.Request) -> web.Response:
        """GET /api/qa/samples: the newest drawn samples."""
        require_supervisor(request_actor(request))
        return web.json_response(await self.store.recent_samples())

    async def queue(self, request: web.Request) -> web.Response:
        """GET /api/qa/queue: the conversations of the recent samples the calling evaluator has not scored yet,
        each with the sample's policy and seed."""
        actor = request_actor(request)
        require_supervisor(actor)
        samples = await self.store.recent_samples()
        ids = [i["conversation_id"] for s in samples for i in s["items"]]
        done = await self.store.evaluated_by(actor.sub, ids)
        seen: set[str] = set()
        out = []
        for s in samples:
            for item in s["items"]:
                cid = item["conversation_id"]
                if cid in done or cid in seen:
                    continue
                seen.add(cid)
                out.append(item | {"sample_id": s["_id"], "policy": s["policy"], "seed": s["seed"]})
        return web.json_response(out)

    async def conversation(self, request: web.Request) -> web.Response:
        """GET /api/qa/conversations/{id}: who handled it, where, its recording reference and its evaluations."""
        require_supervisor(request_actor(request))
        cid = request.match_info["id"]
        conv = await self.qa.store.conversation(cid)
        if conv is None:
            raise web.HTTPNotFound(text="no such conversation")
        fields = ("channel", "queue", "agent", "customer_id", "created", "answered", "closed", "recording_uri")
        evaluations = await self.qa.store.evaluations_for(conversation_ids=[cid])
        return web.json_response({"conversation_id": cid, **{k: conv.get(k) for k in fields},
                                  "evaluations": evaluations})

    async def open_calibration(self, request: web.Request) -> web.Response:
        """POST /api/qa/calibrations {name, conversation_ids}: several evaluators will score these conversations."""
        actor = request_actor(request)
        require_supervisor(actor)
        body = await read_body(request, CalibrationSessionBody)
        ids = list(dict.fromkeys(c.strip() for c in body.conversation_ids if c.strip()))
        if not ids:
            raise web.HTTPBadRequest(text="name at least one conversation")
        doc = {"_id": new_id("cal"), "name": body.name.strip() or "calibration", "conversation_ids": ids,
               "created_by": actor.sub, "created": time.time()}
        await self.store.add_calibration(doc)
        return web.json_response(await self._result(doc), status=201)

    async def calibrations(self, request: web.Request) -> web.Response:
        """GET /api/qa/calibrations: the sessions with their alpha and its reading."""
        require_supervisor(request_actor(request))
        return web.json_response([await self._result(d) for d in await self.store.calibrations_list()])

    async def calibration(self, request: web.Request) -> web.Response:
        """GET /api/qa/calibrations/{id}: one session with every evaluator's score per conversation."""
        require_supervisor(request_actor(request))
        doc = await self.store.calibration(request.match_info["id"])
        if doc is None:
            raise web.HTTPNotFound(text="no such calibration session")
        return web.json_response(await self._result(doc))

    async def _result(self, doc: dict[str, Any]) -> dict[str, Any]:
        units: dict[str, dict[str, float]] = {}
        for e in await self.store.calibration_scores(doc["_id"]):
            units.setdefault(e["conversation_id"], {})[e["evaluator_id"]] = float(e["score"])
        try:
            alpha: float | None = round(krippendorff_alpha_interval(units), 4)
        except ValueError:
            alpha = None  # nothing scored by two evaluators yet
        evaluators = sorted({e for u in units.values() for e in u})
        return doc | {"scores": units, "evaluators": evaluators, "krippendorff_alpha": alpha, "reading": reading(alpha)}


def register(app: web.Application, qa: QaService, store: QaStore) -> None:
    """The workspace's routes."""
    ws = Workspace(qa, store)
    app[QA_STORE_KEY] = store
    r = app.router
    r.add_get("/api/qa/policies", ws.policies)
    r.add_post("/api/qa/samples", ws.draw)
    r.add_get("/api/qa/samples", ws.samples)
    r.add_get("/api/qa/queue", ws.queue)
    r.add_get("/api/qa/conversations/{id}", ws.conversation)
    r.add_post("/api/qa/calibrations", ws.open_calibration)
    r.add_get("/api/qa/calibrations", ws.calibrations)
    r.add_get("/api/qa/calibrations/{id}", ws.calibration)
