"""Historical reports for supervisors and admins: the quality service's KPIs and their CSV/XLSX exports."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from omnihub.common.identity import QUALITY_AUDIENCE
from omnihub.common.jsonbody import describe
from omnihub.inbox import audit, teams
from omnihub.inbox.auth import SESSION
from omnihub.inbox.report_models import ExportQuery, Report, ReportQuery

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

READERS = ("supervisor", "admin")  # no team model yet: a supervisor sees the whole center, as on the wallboard
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
MAX_EXPORT = 32 * 1024 * 1024
Q = TypeVar("Q", bound=ReportQuery)


def _query(request: web.Request, model: type[Q]) -> Q:
    """The request's query string as `model`, or a 400 that names the bad field; only supervisors and admins."""
    if request[SESSION].role not in READERS:  # the middleware refuses agents too; this handler never trusts it alone
        raise web.HTTPForbidden(text="supervisors and admins only")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=describe(exc)) from None


def _params(query: ReportQuery) -> dict[str, str]:
    return {k: v for k, v in query.model_dump(by_alias=True).items() if v}


class Reports:
    """The report routes, calling quality as the logged-in user (its own role checks apply too)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _get(self, params: dict[str, str]) -> tuple[int, bytes, str, str]:
        """Status, body, content type and Content-Disposition of quality's GET /api/kpis."""
        if self.inbox.http is None:
            self.inbox.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        headers = self.inbox.credentials.headers(QUALITY_AUDIENCE)
        try:
            async with self.inbox.http.get(f"{self.inbox.quality_url}/api/kpis", params=params,
                                           headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as resp:
                body = await resp.content.read(MAX_EXPORT + 1)
                return (resp.status, body, resp.headers.get("Content-Type", ""),
                        resp.headers.get("Content-Disposition", ""))
        except (aiohttp.ClientError, TimeoutError):
            raise web.HTTPServiceUnavailable(text="the quality service is unavailable") from None

    @staticmethod
    def _failed(status: int, body: bytes) -> web.HTTPException:
        if status == 400:  # a window quality refuses (too long, reversed): the user can fix it
            return web.HTTPBadRequest(text=body.decode(errors="replace")[:500])
        return web.HTTPServiceUnavailable(text="the quality service could not answer")

    async def report(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/reports?period=|from=&to=&group_by=&interval=&queue=&agent=: KPIs per group."""
        query = _query(request, ReportQuery)
        if query.agent:
            await teams.require_agent(self.inbox, request[SESSION], query.agent)
        status, body, _, _ = await self._get(_params(query))
        if status != 200:
            raise self._failed(status, body)
        answer = Report.model_validate_json(body)
        members = teams.team_agents(self.inbox.users, request[SESSION])
        if members is not None and query.group_by == "agent":  # a team's supervisor: their agents' rows only
            answer.rows = [r for r in answer.rows if r.key in members]
        return web.json_response(answer.model_dump(by_alias=True))

    async def export(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/reports/export?format=csv|xlsx&lang=&...: the same report as a download."""
        query = _query(request, ExportQuery)
        if query.agent:
            await teams.require_agent(self.inbox, request[SESSION], query.agent)
        elif query.group_by == "agent" and teams.team_agents(self.inbox.users, request[SESSION]) is not None:
            # quality's file holds every agent's row; the page narrows them to the team, a file cannot be narrowed
            # here, so a team's supervisor exports agents one at a time rather than see other teams' agents
            raise web.HTTPForbidden(text="a team's supervisor exports agent rows one agent at a time (agent=)")
        status, body, _, disposition = await self._get(_params(query))
        if status != 200:
            raise self._failed(status, body)
        if len(body) > MAX_EXPORT:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_EXPORT, actual_size=len(body),
                                                text="the export is too large; choose a shorter window")
        await audit.record(request, "export.report", "reports", after=query.model_dump(mode="json", by_alias=True))
        return web.Response(body=body, headers={"Content-Type": EXPORT_TYPES[query.format],
                                                "Content-Disposition": disposition or "attachment",
                                                "Cache-Control": "no-store"})


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """Add the report routes to the inbox's router."""
    reports = Reports(inbox)
    router.add_get("/api/supervisor/reports", reports.report)
    router.add_get("/api/supervisor/reports/export", reports.export)
