"""My performance: an agent's figures today, this week and this month, beside the team's and the targets."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.identity import Actor
from omnihub.inbox.auth import SESSION
from omnihub.inbox.report_models import MyPerformance, ReportRow, TeamFigures

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

PERIODS = ("today", "week", "month")
TEAM_READER = Actor("inbox", "supervisor")  # the inbox's own reads of team figures it only shows averaged
UNANSWERED = "(unanswered)"  # quality's agent row for contacts nobody answered


def team_figures(answer: dict[str, Any] | None) -> TeamFigures | None:
    """The team's figures from a by-agent answer: conversations handled per agent who handled any, and the
    team's pooled ratios and times (its total); None before anyone handled anything or was scheduled."""
    if not answer:
        return None
    agents = [r for r in answer.get("rows", []) if r["key"] != UNANSWERED and r.get("handled")]
    if not agents and answer.get("total", {}).get("adherence") is None:
        return None
    total = answer["total"]
    return TeamFigures(agents=len(agents), handled=sum(r["handled"] for r in agents) / len(agents) if agents else None,
                       **{k: total.get(k) for k in ("aht", "service_level_b", "fcr", "csat", "csat_responses",
                                                    "occupancy", "adherence", "conformance")})


class Performance:
    """GET /api/kpis/me for the logged-in user."""

    def __init__(self, inbox: Inbox, aht_target: float) -> None:
        self.inbox = inbox
        self.aht_target = aht_target

    async def _service_level_target(self, agent: str) -> float | None:
        """The strictest service-level target of the agent's queues (routing.yaml, through the router)."""
        try:
            stats, agents = await asyncio.gather(
                self.inbox.router.GetQueueStats(routing_pb2.GetQueueStatsRequest()),
                self.inbox.router.ListAgents(routing_pb2.ListAgentsRequest()))
        except grpc.aio.AioRpcError:  # the router being away costs the target line, not the page
            return None
        queues = next((set(a.queues) for a in agents.agents if a.id == agent), set())
        targets = [q.service_level_target for q in stats.stats if q.queue in queues and q.service_level_target > 0]
        return max(targets) if targets else None

    async def mine(self, request: web.Request) -> web.Response:
        """GET /api/kpis/me: my figures today, this week and this month, the team's, the targets, my daily trend."""
        agent = request[SESSION].user
        ask = self.inbox.quality_kpis
        mine = [ask({"period": p, "agent": agent}) for p in PERIODS]
        team = [ask({"period": p, "group_by": "agent"}, TEAM_READER) for p in PERIODS]
        trend = ask({"period": "month", "agent": agent, "group_by": "day"})
        answers, sl_target = await asyncio.gather(asyncio.gather(*mine, *team, trend),
                                                  self._service_level_target(agent))
        trend_answer = answers[-1]
        if answers[0] is None:
            return web.json_response(MyPerformance(available=False).model_dump())
        figures: dict[str, Any] = {}
        for i, period in enumerate(PERIODS):
            own = answers[i]
            figures[period] = {"mine": ReportRow.model_validate(own["total"]) if own else None,
                               "team": team_figures(answers[len(PERIODS) + i])}
        body = MyPerformance(available=True, time_zone=answers[0].get("time_zone", ""), periods=figures,
                             service_level_target=sl_target, aht_target=self.aht_target or None,
                             adherence_target=self.inbox.adherence_target or None,
                             trend=[ReportRow.model_validate(r) for r in (trend_answer or {}).get("rows", [])])
        return web.json_response(body.model_dump())


def register(router: web.UrlDispatcher, inbox: Inbox, aht_target: float) -> None:
    """Add "My performance" to the inbox's router."""
    router.add_get("/api/kpis/me", Performance(inbox, aht_target).mine)
