"""The supervisor's wallboard: live figures from the router, today's from quality's rollups, alerts from config."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web
from pydantic import ValidationError

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.config import fail
from omnihub.inbox import teams
from omnihub.inbox.supervision import LIVE, supervisor
from omnihub.inbox.wallboard_models import (
    AdherenceAlert,
    AgentFigures,
    Alert,
    AlertKind,
    IntervalFigures,
    QueueFigures,
    Wallboard,
    WallboardConfig,
    WorkItem,
)

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

R = routing_pb2
Answer = dict[str, Any] | None  # a GET /api/kpis answer of quality, None when it did not answer


def load_config(path: Path) -> WallboardConfig:
    """config/wallboard.yaml (the defaults when it is missing), or exit 2 naming the problem."""
    if not path.exists():
        return WallboardConfig()
    try:
        return WallboardConfig.model_validate(yaml.safe_load(path.read_text()) or {})
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        fail(f"invalid wallboard file {path}: {exc}")


def _secs(d: Any) -> float:
    return float(d.ToNanoseconds()) / 1e9


def _rows(answer: Answer) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in (answer or {}).get("rows", [])}


def _instant(key: str) -> int:
    """An interval row's start as epoch seconds: quality keys intervals in local time with the zone's offset
    (2026-03-02T09:15:00+08:00), the board in UTC (...Z), and two queues may be in different zones."""
    return int(dt.datetime.fromisoformat(key).timestamp())


def _utc_key(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def queue_figures(stats: routing_pb2.QueueStats, today: dict[str, Any] | None, available: bool,
                  config: WallboardConfig) -> QueueFigures:
    """One queue's tile: the router's live figures and quality's row for it today (`today` None: no contact today,
    or quality unavailable when `available` is false). Service level is formula B, null when nothing was answered."""
    row = today or {}
    answered = row.get("answered", 0) if available else None
    limits = config.alerts
    q = QueueFigures(
        queue=stats.queue, open_now=stats.open_now, waiting=stats.waiting,
        longest_wait_seconds=round(_secs(stats.longest_wait), 1),
        estimated_wait_seconds=round(_secs(stats.estimated_wait), 1), active=stats.active,
        agents_by_state={k.removeprefix("AGENT_STATE_"): v for k, v in sorted(stats.agents_by_state.items())},
        service_level_target=stats.service_level_target,
        service_level_threshold_seconds=stats.service_level_threshold_seconds,
        offered=row.get("offered", 0) if available else None, answered=answered,
        abandoned=row.get("abandoned", 0) if available else None,
        service_level=row.get("service_level_b") if answered else None,
        asa_seconds=row.get("asa") if answered else None,
        abandonment_rate=row.get("abandonment_rate") if available else None,
        longest_wait_limit_seconds=limits.longest_wait_for(stats.queue), alerts=[])
    if q.waiting and q.longest_wait_seconds > q.longest_wait_limit_seconds:
        q.alerts.append("longest_wait")
    if (q.service_level is not None and limits.service_level_for(q.queue) and q.service_level_target > 0
            and (answered or 0) >= limits.service_level_min_answered and q.service_level < q.service_level_target):
        q.alerts.append("service_level")
    return q


def alerts_of(queues: list[QueueFigures]) -> list[Alert]:
    """The alert list: every queue's alerts, longest waits first."""
    out: list[Alert] = []
    for q in queues:
        for kind in q.alerts:
            value, limit = ((q.longest_wait_seconds, q.longest_wait_limit_seconds) if kind == "longest_wait"
                            else (q.service_level or 0.0, q.service_level_target))
            out.append(Alert(queue=q.queue, kind=kind, value=value, limit=limit))
    order: dict[AlertKind, int] = {"longest_wait": 0, "service_level": 1}
    return sorted(out, key=lambda a: (order[a.kind], -a.value if a.kind == "longest_wait" else a.value))


def agent_figures(agent: routing_pb2.Agent, convs: dict[str, routing_pb2.Conversation],
                  today: dict[str, Any] | None, available: bool) -> AgentFigures:
    """One agent's row: state, reason and since when (the router's), the work held now, occupancy today."""
    since = _secs(agent.state_time) if agent.HasField("state_time") else None
    work = [WorkItem(id=c.id, channel=subjects.channel_token(c.channel) if c.channel else "", queue=c.queue,
                     state=LIVE.get(c.routing_state, "assigned"))
            for c in (convs.get(cid) for cid in agent.conversation_ids) if c is not None]
    row = today or {}
    return AgentFigures(id=agent.id, name=agent.display_name or agent.id,
                        state=R.AgentState.Name(agent.state).removeprefix("AGENT_STATE_"),
                        reason=agent.state_reason, state_since=since, queues=list(agent.queues), work=work,
                        occupancy=row.get("occupancy") if available else None,
                        handled=row.get("handled", 0) if available else None,
                        adherence=row.get("adherence"), conformance=row.get("conformance"))


def interval_figures(answer: Answer, now: float, minutes: int) -> list[IntervalFigures]:
    """Every interval of today up to now (empty ones as zeros, their service level null), from quality's rows."""
    if not answer:
        return []
    width = minutes * 60
    start = dt.datetime.fromisoformat(answer["from"]).timestamp()
    start -= start % width  # quality's interval keys are multiples of the width since the epoch
    rows = {_instant(r["key"]): r for r in answer.get("rows", [])}
    out = []
    t = start
    while t <= now:
        row = rows.get(int(t), {})
        out.append(IntervalFigures(start=_utc_key(t), offered=row.get("offered", 0), answered=row.get("answered", 0),
                                   abandoned=row.get("abandoned", 0),
                                   service_level=row.get("service_level_b") if row.get("answered") else None))
        t += width
    return out


def merge_intervals(answers: list[Answer]) -> Answer:
    """One by-interval answer from several queues' (a team's): counts summed, service level B from the sums."""
    present = [a for a in answers if a is not None]
    if not present:
        return None
    rows: dict[int, dict[str, Any]] = {}  # by instant: the queues' keys may carry different offsets
    for answer in present:
        for r in answer.get("rows", []):
            t = _instant(r["key"])
            row = rows.setdefault(t, {"key": _utc_key(t), "offered": 0, "answered": 0, "abandoned": 0,
                                      "answered_within": 0})
            for k in ("offered", "answered", "abandoned", "answered_within"):
                row[k] += r.get(k) or 0
    for row in rows.values():
        row["service_level_b"] = row["answered_within"] / row["answered"] if row["answered"] else None
    return {**present[0], "rows": [rows[k] for k in sorted(rows)]}


def in_scope(scope: teams.Scope, stats: routing_pb2.GetQueueStatsResponse,
             agents: routing_pb2.ListAgentsResponse) -> tuple[routing_pb2.GetQueueStatsResponse,
                                                              routing_pb2.ListAgentsResponse]:
    """The queues and agents a supervisor's teams cover (everything for admins and supervisors without a team)."""
    if scope.everything:
        return stats, agents
    return (R.GetQueueStatsResponse(stats=[s for s in stats.stats if s.queue in scope.queues]),
            R.ListAgentsResponse(agents=[a for a in agents.agents if scope.sees_agent(a.id)]))


def adherence_alerts(answer: list[dict[str, Any]] | None, agents: routing_pb2.ListAgentsResponse,
                     config: WallboardConfig) -> list[AdherenceAlert]:
    """Quality's out-of-adherence answer (GET /api/wfm/adherence/alerts?minutes=) for the board's agents only (a
    team's supervisor sees their team), longest first; nothing when switched off or quality did not answer."""
    if not answer or not config.alerts.adherence_alert:
        return []
    names = {a.id: a.display_name or a.id for a in agents.agents}
    out = [AdherenceAlert(agent=a["agent"], name=names[a["agent"]], since=a["since"], minutes=a["minutes"],
                          limit_minutes=config.alerts.adherence_minutes, scheduled=a["scheduled"], state=a["state"])
           for a in answer if a["agent"] in names]
    return sorted(out, key=lambda a: (-a.minutes, a.agent))


def build(stats: routing_pb2.GetQueueStatsResponse, agents: routing_pb2.ListAgentsResponse,
          convs: routing_pb2.ListConversationsResponse, by_queue: Answer, by_agent: Answer, by_interval: Answer,
          config: WallboardConfig, now: float, adherence: list[dict[str, Any]] | None = None) -> Wallboard:
    """The whole board from the router's answers and quality's answers for today (one definition of each figure:
    the tests and the KPI vectors check this function's output); `adherence` is quality's alert answer."""
    available = by_queue is not None
    queue_rows, agent_rows = _rows(by_queue), _rows(by_agent)
    open_convs = {c.id: c for c in convs.conversations}
    queues = [queue_figures(s, queue_rows.get(s.queue), available, config) for s in stats.stats]
    return Wallboard(
        time=now, time_zone=(by_queue or {}).get("time_zone", ""), day_start=(by_queue or {}).get("from"),
        rollups_available=available, refresh_seconds=config.refresh_seconds, interval_minutes=config.interval_minutes,
        queues=queues,
        agents=[agent_figures(a, open_convs, agent_rows.get(a.id), by_agent is not None)
                for a in sorted(agents.agents, key=lambda a: (a.display_name or a.id).lower())],
        intervals=interval_figures(by_interval, now, config.interval_minutes), alerts=alerts_of(queues),
        adherence_alerts=adherence_alerts(adherence, agents, config))


class Board:
    """GET /api/supervisor/wallboard."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _adherence(self, config: WallboardConfig) -> list[dict[str, Any]] | None:
        """Quality's agents out of adherence for more than the configured minutes (None: off or unavailable)."""
        if not config.alerts.adherence_alert:
            return None
        try:
            answer = await self.inbox._quality_call("GET", "/api/wfm/adherence/alerts",
                                                    params={"minutes": str(config.alerts.adherence_minutes)})
        except web.HTTPException:  # quality away costs the adherence alerts, not the board
            return None
        return answer if isinstance(answer, list) else None

    async def get(self, request: web.Request) -> web.Response:
        """GET /api/supervisor/wallboard: every queue and agent now (of the supervisor's teams), today by interval,
        the alerts."""
        session = supervisor(request)
        inbox, router, rpc = self.inbox, self.inbox.router, self.inbox._rpc
        config: WallboardConfig = inbox.wallboard_config
        ask = inbox.quality_kpis
        interval = f"{config.interval_minutes}m" if config.interval_minutes < 60 else "1h"
        today = {"period": "today", "group_by": "interval", "interval": interval}
        stats, agents, convs, by_queue, by_agent, adherence = await asyncio.gather(
            rpc(router.GetQueueStats(R.GetQueueStatsRequest())), rpc(router.ListAgents(R.ListAgentsRequest())),
            rpc(router.ListConversations(R.ListConversationsRequest())),
            ask({"period": "today", "group_by": "queue"}), ask({"period": "today", "group_by": "agent"}),
            self._adherence(config))
        scope = teams.scope(inbox.users, session, agents)
        stats, agents = in_scope(scope, stats, agents)
        if scope.everything:
            by_interval = await ask(today)
        else:  # a team's queues only: their intervals added up
            by_interval = merge_intervals(list(await asyncio.gather(*(ask({**today, "queue": s.queue})
                                                                       for s in stats.stats))))
        board = build(stats, agents, convs, by_queue, by_agent, by_interval, config, time.time(), adherence)
        return web.json_response(board.model_dump(mode="json"))


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """Add the wallboard's route."""
    router.add_get("/api/supervisor/wallboard", Board(inbox).get)
