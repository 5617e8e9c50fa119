"""Workforce management in the desktop: the supervisors' intraday view and the week's coverage, agents' own shifts
(the quality service answers; it checks the signed user's role again)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from omnihub.common.jsonbody import Body, describe, read_body
from omnihub.common.openapi import Operation
from omnihub.inbox import audit, teams
from omnihub.inbox.auth import SESSION
from omnihub.inbox.supervision import supervisor

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


class PauseBody(Body):
    """A break or lunch inside a shift (local HH:MM)."""

    kind: Literal["break", "lunch"]
    start: str = Field(pattern=r"^\d{2}:\d{2}$")
    end: str = Field(pattern=r"^\d{2}:\d{2}$")


class ShiftEditBody(Body):
    """POST /api/supervisor/wfm/shifts: set (add or move) or remove one agent's shift of a day in a week's schedule."""

    week: str = Field(pattern=r"^\d{4}-W\d{2}$")
    base: str = Field(min_length=1, max_length=40, description="the schedule's id as loaded (409 when a newer exists)")
    action: Literal["set", "remove"]
    agent: str = Field(min_length=1, max_length=64)
    date: dt.date
    from_date: dt.date | None = Field(default=None, description="set: move the agent's shift of this day")
    queue: str = Field(default="", max_length=64)
    start: str = Field(default="", pattern=r"^(\d{2}:\d{2})?$")
    end: str = Field(default="", pattern=r"^(\d{2}:\d{2})?$", description="at or before the start: the next day")
    pauses: list[PauseBody] = Field(default_factory=list, max_length=6)


def _team_only(doc: dict[str, Any], members: frozenset[str] | None) -> dict[str, Any]:
    """A team's supervisor sees their agents' shifts and contracts (the queues' coverage stays whole)."""
    if members is None:
        return doc
    return {**doc, "shifts": [s for s in doc.get("shifts", []) if s["agent"] in members],
            "agents": [a for a in doc.get("agents", []) if a["id"] in members]}


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
        doc = await self.inbox._quality_call("GET", f"/api/wfm/schedules/{week}")
        return web.json_response(_team_only(doc, teams.team_agents(self.inbox.users, supervisor(request))))

    async def edit(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/wfm/shifts: a supervisor edits a shift of an agent of their team; quality checks it
        against the contract and saves a new version; audited with the shift before and after."""
        session = supervisor(request)
        body = await read_body(request, ShiftEditBody)
        await teams.require_agent(self.inbox, session, body.agent)
        change = body.model_dump(mode="json", exclude={"week"})
        answer = await self.inbox._quality_call("POST", f"/api/wfm/schedules/{body.week}/edits", json=change)
        await audit.record(request, f"wfm.shift.{body.action}", f"{body.week}/{body.agent}/{body.date.isoformat()}",
                           before=answer.get("before"), after=answer.get("after"))
        schedule = _team_only(answer["schedule"], teams.team_agents(self.inbox.users, session))
        return web.json_response({**answer, "schedule": schedule}, status=201)

    async def mine(self, request: web.Request) -> web.Response:
        """GET /api/wfm/schedule?week=: my shifts of the week (quality keeps an agent to their own)."""
        week = _week(_parse(request, WeekQuery)["week"])
        user = request[SESSION].user
        return web.json_response(await self.inbox._quality_call("GET", f"/api/wfm/schedules/{week}",
                                                                params={"agent": user}))


    async def my_adherence(self, request: web.Request) -> web.Response:
        """GET /api/wfm/adherence?day=: my adherence and conformance of a day (today so far by default)."""
        params = {k: v for k, v in _parse(request, DayQuery).items() if v} | {"agent": request[SESSION].user}
        return web.json_response(await self.inbox._quality_call("GET", "/api/wfm/adherence", params=params))


OPERATIONS = [
    Operation("GET", "/api/supervisor/wfm/intraday", "Today's forecast, actuals and staffing gap (supervisors)",
              query=IntradayQuery, tags=("wfm",)),
    Operation("GET", "/api/supervisor/wfm/schedule", "A week's schedule and coverage (supervisors)", query=WeekQuery,
              tags=("wfm",)),
    Operation("GET", "/api/wfm/schedule", "My shifts of a week", query=WeekQuery, tags=("wfm",)),
    Operation("POST", "/api/supervisor/wfm/shifts", "Set or remove an agent's shift (checked, saved, audited)",
              body=ShiftEditBody, status=201, tags=("wfm",)),
    Operation("GET", "/api/wfm/adherence", "My adherence and conformance of a day", query=DayQuery, tags=("wfm",)),
]


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """Add the workforce management routes."""
    w = Wfm(inbox)
    router.add_get("/api/supervisor/wfm/intraday", w.intraday)
    router.add_get("/api/supervisor/wfm/schedule", w.team)
    router.add_post("/api/supervisor/wfm/shifts", w.edit)
    router.add_get("/api/wfm/schedule", w.mine)
    router.add_get("/api/wfm/adherence", w.my_adherence)
