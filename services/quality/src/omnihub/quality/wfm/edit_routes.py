"""The schedule editor's route: a supervisor's edit of the newest schedule of a week becomes its newest version."""

from __future__ import annotations

import json
import uuid

from aiohttp import web

from omnihub.common.identity import request_actor, require_supervisor
from omnihub.common.jsonbody import read_body
from omnihub.quality import calendar
from omnihub.quality.wfm.edits import EditError, ShiftEdit, apply
from omnihub.quality.wfm.service import WfmService


def _refusal(cls: type[web.HTTPException], error: EditError) -> web.HTTPException:
    return cls(text=json.dumps(error.as_json()), content_type="application/json")


async def edit(request: web.Request, service: WfmService) -> web.Response:
    """POST /api/wfm/schedules/{week}/edits {base, action, agent, date, ...}: supervisors; the answer holds the new
    version (coverage recounted) and the agent's shift before and after. 409 when `base` is no longer the newest."""
    actor = request_actor(request)
    require_supervisor(actor)
    body = await read_body(request, ShiftEdit)
    week = request.match_info["week"][:16]
    doc = await service.store.schedule(week)
    if doc is None:
        raise web.HTTPNotFound(text=f"no schedule for {week}")
    if doc["_id"] != body.base:
        raise _refusal(web.HTTPConflict, EditError("stale", "someone changed this schedule meanwhile; reload it",
                                                   current=doc["_id"]))
    try:
        out, before, after = apply(doc, body, calendar.zone(doc.get("time_zone", "UTC")))
    except EditError as exc:
        raise _refusal(web.HTTPBadRequest, exc) from None
    now = service.clock()
    new_id = f"sc_{uuid.uuid4().hex[:16]}"
    out |= {"_id": new_id, "id": new_id, "created_epoch": now, "based_on": doc["_id"], "edited_by": actor.sub,
            "created": calendar.iso(now, calendar.zone(doc.get("time_zone", "UTC")))}
    await service.store.add_schedule(out)
    public = {k: v for k, v in out.items() if k not in ("_id", "created_epoch")}
    return web.json_response({"schedule": public, "before": before, "after": after}, status=201)


def register(app: web.Application, service: WfmService) -> None:
    """The editor's route."""

    async def handler(request: web.Request) -> web.Response:
        return await edit(request, service)

    app.router.add_post("/api/wfm/schedules/{week}/edits", handler)
