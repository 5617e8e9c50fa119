"""Query and answer models of the historical reports API and of "My performance" (GET /api/kpis/me)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from omnihub.common.openapi import Operation

PERIOD = r"^(|today|yesterday|week|last_week|month|last_month)$"
GROUP_BY = r"^(|queue|agent|channel|interval|day|month)$"
INTERVAL = r"^(15m|30m|1h|1d)$"
WHEN = r"^[0-9T:.+\-Z]*$"  # ISO 8601 local time or with an offset (quality parses it in the center's zone)


class ReportQuery(BaseModel):
    """GET /api/supervisor/reports: a period, or [from, to) in ISO 8601 (no offset: the center's local time)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    period: str = Field(default="", pattern=PERIOD, description="today, yesterday, week, last_week, month, last_month")
    start: str = Field(default="", alias="from", max_length=40, pattern=WHEN)
    to: str = Field(default="", max_length=40, pattern=WHEN)
    group_by: str = Field(default="", pattern=GROUP_BY, description="queue, agent, channel, interval, day or month")
    interval: str = Field(default="1h", pattern=INTERVAL)
    queue: str = Field(default="", max_length=64)
    agent: str = Field(default="", max_length=64)


class ExportQuery(ReportQuery):
    """GET /api/supervisor/reports/export: the same window and grouping as CSV or XLSX."""

    format: str = Field(pattern=r"^(csv|xlsx)$", description="csv or xlsx")
    lang: str = Field(default="en", pattern=r"^(en|zh-CN)$", description="column titles: en or zh-CN")


class ReportRow(BaseModel):
    """One group's figures (ratios 0-1, times in seconds); null where there is nothing to measure."""

    key: str
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    answered_within: int = 0
    service_level_a: float | None = None
    service_level_b: float | None = None
    asa: float | None = None
    aht: float | None = None
    talk: float | None = None
    wrap: float | None = None
    abandonment_rate: float | None = None
    handled: int = 0
    transfers: int = 0
    reopens: int = 0
    callbacks: int = 0
    fcr: float | None = None
    fcr_eligible: int = 0
    csat: float | None = None
    csat_responses: int = 0
    nps: float | None = None
    nps_responses: int = 0
    occupancy: float | None = None
    availability: float | None = None
    adherence: float | None = Field(default=None, description="schedule adherence (agent rows and their total)")
    conformance: float | None = Field(default=None, description="scheduled work time worked (agent rows)")
    qa_score: float | None = None
    qa_evaluations: int = 0
    threshold: int = 20
    target: float = 0.8
    volume: dict[str, int] = Field(default_factory=dict)


class Report(BaseModel):
    """A report: its window with offsets, the center's time zone, rows per group and the total."""

    model_config = ConfigDict(populate_by_name=True)

    start: str = Field(alias="from")
    to: str
    time_zone: str
    group_by: str
    interval: str
    rows: list[ReportRow]
    total: ReportRow


OPERATIONS = [
    Operation("GET", "/api/supervisor/reports", "Historical KPIs for a window, grouped (supervisors and admins)",
              query=ReportQuery, response=Report, tags=("reports",)),
    Operation("GET", "/api/supervisor/reports/export", "The same report as a CSV or XLSX download",
              query=ExportQuery, tags=("reports",)),
]


class TeamFigures(BaseModel):
    """The team beside me: conversations handled per agent who handled any, and the team's pooled figures."""

    agents: int
    handled: float | None = Field(description="null when nobody handled anything yet (adherence can still be known)")
    aht: float | None = None
    service_level_b: float | None = None
    fcr: float | None = None
    csat: float | None = None
    csat_responses: int = 0
    occupancy: float | None = None
    adherence: float | None = Field(default=None, description="the team's pooled schedule adherence")
    conformance: float | None = None


class PeriodFigures(BaseModel):
    """My figures and the team's for one period (null: no data yet)."""

    mine: ReportRow | None = None
    team: TeamFigures | None = None


class MyPerformance(BaseModel):
    """GET /api/kpis/me: today, this week and this month (the center's local calendar), targets, my daily trend."""

    available: bool
    time_zone: str = ""
    periods: dict[str, PeriodFigures] = Field(default_factory=dict, description="today, week and month")
    service_level_target: float | None = Field(default=None, description="the strictest target of my queues")
    aht_target: float | None = Field(default=None, description="seconds (OMNIHUB_INBOX_AHT_TARGET_SECONDS)")
    adherence_target: float | None = Field(default=None, description="OMNIHUB_INBOX_ADHERENCE_TARGET")
    trend: list[ReportRow] = Field(default_factory=list, description="this month by local day")
