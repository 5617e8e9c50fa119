"""Workforce management HTTP routes of the quality service: forecasts, schedules (and who may read them)."""

from __future__ import annotations

import datetime as dt

from aiohttp import web

from omnihub.common.identity import request_actor, require_supervisor
from omnihub.common.jsonbody import read_body
from omnihub.erlang import StaffingError
from omnihub.quality.wfm import edit_routes
from omnihub.quality.wfm.forecast import ForecastError
from omnihub.quality.wfm.models import ForecastBody, ScheduleBody
from omnihub.quality.wfm.schedule import ScheduleError
from omnihub.quality.wfm.service import WfmService

WFM_KEY: web.AppKey[WfmService] = web.AppKey("wfm")
STEPS = {"15m": 900, "30m": 1800}


async def make_forecast(request: web.Request) -> web.Response:
    """POST /api/wfm/forecasts {queue, channel, weeks, interval, history_weeks, uplift}: supervisors."""
    require_supervisor(request_actor(request))
    body = await read_body(request, ForecastBody)
    try:
        doc = await request.app[WFM_KEY].forecast(body.queue, body.channel, body.weeks, STEPS[body.interval],
                                                  body.history_weeks, body.uplift)
    except ForecastError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(doc, status=201)


async def forecast(request: web.Request) -> web.Response:
    """GET /api/wfm/forecasts/{id}: a stored forecast beside the actual arrivals so far (supervisors)."""
    require_supervisor(request_actor(request))
    doc = await request.app[WFM_KEY].accuracy(request.match_info["id"][:64])
    if doc is None:
        raise web.HTTPNotFound(text="no such forecast")
    return web.json_response(doc)


async def make_schedule(request: web.Request) -> web.Response:
    """POST /api/wfm/schedules {week, templates, agents, ...}: supervisors; too few agents is not an error
    (the answer lists the uncovered intervals)."""
    require_supervisor(request_actor(request))
    body = await read_body(request, ScheduleBody)
    try:
        doc = await request.app[WFM_KEY].schedule(body)
    except (ScheduleError, StaffingError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(doc, status=201)


async def schedule(request: web.Request) -> web.Response:
    """GET /api/wfm/schedules/{week}?agent=: an agent reads their own shifts, supervisors anyone's or all."""
    actor = request_actor(request)
    agent = request.query.get("agent", "")[:64]
    if not actor.supervisor:
        if agent not in ("", actor.sub):
            raise web.HTTPForbidden(text="agents read only their own schedule")
        agent = actor.sub
    week = request.match_info["week"][:16]
    doc = await request.app[WFM_KEY].saved_schedule(week, agent)
    if doc is None:
        raise web.HTTPNotFound(text=f"no schedule for {week}")
    if not actor.supervisor:
        doc.pop("coverage", None)  # the team's figures are the supervisors'
        doc.pop("uncovered", None)
    return web.json_response(doc)


async def adherence(request: web.Request) -> web.Response:
    """GET /api/wfm/adherence?day=YYYY-MM-DD&agent=: adherence and conformance per agent (an agent: their own)."""
    actor = request_actor(request)
    agent = request.query.get("agent", "")[:64]
    if not actor.supervisor:
        if agent not in ("", actor.sub):
            raise web.HTTPForbidden(text="agents read only their own adherence")
        agent = actor.sub
    service = request.app[WFM_KEY]
    raw = request.query.get("day", "")
    try:
        day = dt.date.fromisoformat(raw) if raw else dt.datetime.fromtimestamp(
            service.clock(), service.query.zone_for()).date()
    except ValueError:
        raise web.HTTPBadRequest(text=f"day must be a date such as 2026-12-07; got {raw[:20]!r}") from None
    return web.json_response(await service.adherence(day, agent))


async def alerts(request: web.Request) -> web.Response:
    """GET /api/wfm/adherence/alerts?minutes=5: agents out of adherence for more than that, now (supervisors)."""
    require_supervisor(request_actor(request))
    raw = request.query.get("minutes", "5")[:16]
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not 0 < minutes <= 240:
        raise web.HTTPBadRequest(text=f"minutes must be a number in (0, 240]; got {raw!r}")
    return web.json_response(await request.app[WFM_KEY].alerts(minutes * 60))


async def intraday(request: web.Request) -> web.Response:
    """GET /api/wfm/intraday?queue=support: today's actuals, the re-scaled rest of the day and the staffing gap
    per remaining interval (supervisors)."""
    require_supervisor(request_actor(request))
    try:
        doc = await request.app[WFM_KEY].intraday(request.query.get("queue", "support")[:64])
    except (ForecastError, StaffingError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response(doc)


def register(app: web.Application, service: WfmService) -> None:
    """The workforce management routes."""
    app[WFM_KEY] = service
    r = app.router
    r.add_post("/api/wfm/forecasts", make_forecast)
    r.add_get("/api/wfm/forecasts/{id}", forecast)
    r.add_post("/api/wfm/schedules", make_schedule)
    r.add_get("/api/wfm/schedules/{week}", schedule)
    r.add_get("/api/wfm/adherence", adherence)
    r.add_get("/api/wfm/adherence/alerts", alerts)
    r.add_get("/api/wfm/intraday", intraday)
    edit_routes.register(app, service)  # the supervisors' schedule editor (wfm2)
