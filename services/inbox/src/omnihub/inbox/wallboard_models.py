"""The wallboard's configuration (config/wallboard.yaml), its JSON answer and its OpenAPI operation."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from omnihub.common.openapi import Operation

AlertKind = Literal["service_level", "longest_wait"]


class QueueAlertLimits(BaseModel):
    """Alert limits of one queue (unset: the file's defaults)."""

    model_config = ConfigDict(extra="forbid")

    longest_wait_seconds: float | None = Field(default=None, gt=0, le=86_400)
    service_level_alert: bool | None = None


class AlertLimits(BaseModel):
    """When the board raises an alert: a queue's longest wait over a limit, its service level under its target."""

    model_config = ConfigDict(extra="forbid")

    longest_wait_seconds: float = Field(default=120.0, gt=0, le=86_400)
    service_level_alert: bool = True  # under the queue's routing.yaml target, once something was answered today
    service_level_min_answered: int = Field(default=1, ge=1, le=100_000)  # answers today before SL can alert
    adherence_minutes: float = Field(default=5.0, gt=0, le=240)  # out of schedule adherence longer than this: alert
    adherence_alert: bool = True  # raise schedule adherence alerts at all (#23)
    queues: dict[str, QueueAlertLimits] = Field(default_factory=dict)

    def longest_wait_for(self, queue: str) -> float:
        """The longest-wait limit of a queue."""
        own = self.queues.get(queue)
        return own.longest_wait_seconds if own and own.longest_wait_seconds else self.longest_wait_seconds

    def service_level_for(self, queue: str) -> bool:
        """Whether a queue's service level raises alerts."""
        own = self.queues.get(queue)
        return own.service_level_alert if own and own.service_level_alert is not None else self.service_level_alert


class WallboardConfig(BaseModel):
    """config/wallboard.yaml (every key optional; a missing file means these defaults)."""

    model_config = ConfigDict(extra="forbid")

    refresh_seconds: int = Field(default=5, ge=1, le=300)  # the page's polling period (socket events come sooner)
    interval_minutes: Literal[15, 30, 60] = 15  # width of the chart's intervals
    alerts: AlertLimits = Field(default_factory=AlertLimits)


class Alert(BaseModel):
    """A queue outside its limits now."""

    queue: str
    kind: AlertKind
    value: float  # the service level (fraction) or the longest wait (seconds)
    limit: float  # the target (fraction) or the longest-wait limit (seconds)


class QueueFigures(BaseModel):
    """One queue: live figures from the router, today's from quality's rollups (the center's day)."""

    queue: str
    open_now: bool
    waiting: int
    longest_wait_seconds: float  # the longest current wait, from the router
    estimated_wait_seconds: float
    active: int  # offered, assigned or in wrap-up now
    agents_by_state: dict[str, int]  # AVAILABLE, BUSY, WRAP_UP, AWAY, OFFLINE
    service_level_target: float  # fraction, from routing.yaml
    service_level_threshold_seconds: int
    offered: int | None  # today (null: quality did not answer)
    answered: int | None
    abandoned: int | None
    service_level: float | None = Field(description="answered within the threshold / answered, today; null when "
                                                    "nothing was answered (shown \"—\", never 100%)")
    asa_seconds: float | None  # null when nothing was answered
    abandonment_rate: float | None  # abandoned / offered; null when nothing was offered
    longest_wait_limit_seconds: float  # the alert limit (config/wallboard.yaml)
    alerts: list[AlertKind]


class WorkItem(BaseModel):
    """A conversation an agent holds now."""

    id: str
    channel: str
    queue: str
    state: str  # offered, assigned, wrap_up


class AgentFigures(BaseModel):
    """One agent: state from the router, occupancy today from quality's rollups."""

    id: str
    name: str
    state: str  # AVAILABLE, BUSY, WRAP_UP, AWAY, OFFLINE
    reason: str  # the AWAY reason code, "" otherwise
    state_since: float | None  # epoch seconds of the router's last state change (the page ticks from it)
    queues: list[str]
    work: list[WorkItem]
    occupancy: float | None  # busy / (busy + available) today; null before any such time
    handled: int | None  # conversations handled today
    adherence: float | None = None  # schedule adherence today so far; null: not scheduled today (or quality away)
    conformance: float | None = None  # worked ÷ scheduled work time, today so far


class AdherenceAlert(BaseModel):
    """An agent out of schedule adherence for longer than the configured minutes (quality's real-time check)."""

    agent: str
    name: str
    since: str  # ISO 8601 with the center's offset
    minutes: float  # out of adherence for this long, now
    limit_minutes: float  # config/wallboard.yaml alerts.adherence_minutes
    scheduled: str  # work, break or lunch
    state: str  # the router state the agent is in instead


class IntervalFigures(BaseModel):
    """One interval of today (all queues)."""

    start: str  # RFC 3339, UTC
    offered: int
    answered: int
    abandoned: int
    service_level: float | None  # null when nothing was answered in it


class Wallboard(BaseModel):
    """GET /api/supervisor/wallboard."""

    time: float  # epoch seconds the figures were taken at
    time_zone: str  # the center's zone ("today" is its day)
    day_start: str | None  # ISO 8601 with offset; null when quality did not answer
    rollups_available: bool  # false: quality did not answer, today's figures are null
    refresh_seconds: int
    interval_minutes: int
    queues: list[QueueFigures]
    agents: list[AgentFigures]
    intervals: list[IntervalFigures]
    alerts: list[Alert]
    adherence_alerts: list[AdherenceAlert] = Field(default_factory=list)


OPERATIONS = [
    Operation("GET", "/api/supervisor/wallboard", "Queues and agents live, today's service level by interval, alerts",
              tags=("supervisor",), response=Wallboard),
]
