"""Workforce management in the desktop: the supervisors' intraday view and the week's coverage, agents' own shifts
(the quality service answers; it checks the signed user's role again)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from omnihub.common.jsonbody import describe
from omnihub.common.openapi import Operation

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox



class IntradayQuery(BaseModel):
    """GET /api/supervisor/wfm/intraday."""

    queue: str = Field(default="support", min_length=1, max_length=64)


class WeekQuery(BaseModel):
    """GET /api/supervisor/wfm/schedule and /api/wfm/schedule: an ISO week (default: this one)."""

    week: str = Field(default="", pattern=r"^(\d{4}-W\d{2})?$", max_length=8)


class DayQuery(BaseModel):
    """GET /api/wfm/adherence: a local day (default: today)."""

    day: str = Field(default="", pattern=r"^(\d{4}-\d{2}-\d{2})?$", max_length=10)


def _parse(request: web.Request, model: type[IntradayQuery] | type[WeekQuery] | type[DayQuery]) -> dict[str, str]:
    try:
        return model.model_validate(dict(request.query)).model_dump()
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=describe(exc)) from None


def _week(value: str) -> str:
    if value:
        return value
    year, week, _ = dt.datetime.now(dt.UTC).date().isocalendar()
    return f"{year}-W{week:02d}"


class Wfm:
    """The routes; every call goes to quality as the logged-in user."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def intraday(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/wfm/intraday?queue=: today's forecast band, actuals, re-forecast and gap."""
        query = _parse(request, IntradayQuery)
        return web.json_response(await self.inbox._quality_call("GET", "/api/wfm/intraday", params=query))

    async def team(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/wfm/schedule?week=: the week's schedule with coverage against the requirement."""
        week = _week(_parse(request, WeekQuery)["week"])
        return web.json_response(await self.inbox._quality_call("GET", f"/api/wfm/schedules/{week}"))

    async def mine(self, request: web.Request) -> web.Response:
        """GET /api/wfm/schedule?week=: my shifts of the week (quality keeps an agent to their own)."""
        week = _week(_parse(request, WeekQuery)["week"])
        user = request["session"].user
        return web.json_response(await self.inbox._quality_call("GET", f"/api/wfm/schedules/{week}",
                                                                params={"agent": user}))


    async def my_adherence(self, request: web.Request) -> web.Response:
        """GET /api/wfm/adherence?day=: my adherence and conformance of a day (today so far by default)."""
        params = {k: v for k, v in _parse(request, DayQuery).items() if v} | {"agent": request["session"].user}
        return web.json_response(await self.inbox._quality_call("GET", "/api/wfm/adherence", params=params))


OPERATIONS = [
    Operation("GET", "/api/supervisor/wfm/intraday", "Today's forecast, actuals and staffing gap (supervisors)",
              query=IntradayQuery, tags=("wfm",)),
    Operation("GET", "/api/supervisor/wfm/schedule", "A week's schedule and coverage (supervisors)", query=WeekQuery,
              tags=("wfm",)),
    Operation("GET", "/api/wfm/schedule", "My shifts of a week", query=WeekQuery, tags=("wfm",)),
    Operation("GET", "/api/wfm/adherence", "My adherence and conformance of a day", query=DayQuery, tags=("wfm",)),
]


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """Add the workforce management routes."""
    w = Wfm(inbox)
    router.add_get("/api/supervisor/wfm/intraday", w.intraday)
    router.add_get("/api/supervisor/wfm/schedule", w.team)
    router.add_get("/api/wfm/schedule", w.mine)
    router.add_get("/api/wfm/adherence", w.my_adherence)
