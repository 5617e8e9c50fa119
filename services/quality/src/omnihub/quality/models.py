"""Request models of quality's HTTP API, and the OpenAPI document built from them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from omnihub.common.jsonbody import Body
from omnihub.common.openapi import Operation, document
from omnihub.quality.wfm.edits import ShiftEdit
from omnihub.quality.wfm.models import ForecastBody, ScheduleBody

Id = Field(min_length=1, max_length=128)
When = Field(default="", max_length=40, description="ISO 8601 or epoch seconds")


class EvaluationBody(Body):
    """POST /api/evaluations: score a conversation with a scorecard."""

    conversation_id: str = Id
    agent_id: str = Field(default="", max_length=64, description="taken from the conversation when it is known")
    scorecard_id: str = Field(default="default", max_length=64)
    answers: dict[str, float] = Field(default_factory=dict, max_length=100)
    comments: str = Field(default="", max_length=2000)
    calibration: bool = False
    calibration_id: str = Field(default="", max_length=64, description="a calibration session this scores for")


class EvaluationActionBody(Body):
    """POST /api/evaluations/{id}/{action}: acknowledge, dispute or resolve (who acts is the signed actor)."""

    note: str = Field(default="", max_length=2000)
    new_score: float | None = Field(default=None, ge=0, le=100)


class SampleBody(Body):
    """POST /api/qa/sample: a reproducible stratified sample of handled conversations."""

    start: str | float = Field(default="", alias="from", union_mode="left_to_right")
    end: str | float = Field(default="", alias="to", union_mode="left_to_right")
    fraction: float = Field(default=0.05, gt=0, le=1)
    minimum: int = Field(default=3, ge=0, le=10_000)
    seed: int = Field(default=0, ge=-(2**63), lt=2**63)
    stratify_by_channel: bool = True


class CalibrationBody(Body):
    """POST /api/qa/calibration: Krippendorff's alpha across evaluators of these conversations."""

    conversation_ids: list[str] = Field(default_factory=list, max_length=1000)


class DrawBody(Body):
    """POST /api/qa/samples: draw a sample by a sampling policy; the same seed and window draw it again."""

    policy: str = Field(default="weekly", max_length=32)
    seed: int | None = Field(default=None, ge=0, lt=2**63)
    start: float = Field(default=0, alias="from", ge=0, lt=1e11, description="epoch seconds; default: the policy's")
    end: float = Field(default=0, alias="to", ge=0, lt=1e11)


class CalibrationSessionBody(Body):
    """POST /api/qa/calibrations: a calibration session over these conversations."""

    name: str = Field(default="", max_length=200)
    conversation_ids: list[str] = Field(min_length=1, max_length=50)


class EvaluationsQuery(BaseModel):
    """GET /api/evaluations."""

    agent: str = Field(default="", max_length=64)
    status: str = Field(default="", max_length=32)


class KpiQuery(BaseModel):
    """GET /api/kpis: a period or [from, to) in ISO 8601 (no offset: the center's local time)."""

    period: str = Field(default="", max_length=16, description="today, yesterday, week, last_week, month, last_month")
    start: str = Field(default="", alias="from", max_length=40)
    to: str = Field(default="", max_length=40)
    group_by: str = Field(default="", max_length=16, description="queue, agent, channel, interval, day or month")
    format: str = Field(default="json", max_length=8, description="json, csv or xlsx (the same numbers)")
    lang: str = Field(default="en", max_length=8, description="column titles of exports: en or zh-CN")
    interval: str = Field(default="1h", max_length=8)
    agent: str = Field(default="", max_length=64)
    queue: str = Field(default="", max_length=64)


class StaffingQuery(BaseModel):
    """GET /api/staffing."""

    arrivals: str = Field(max_length=32)
    aht: str = Field(max_length=32)
    interval: str = Field(default="30m", max_length=8)
    target: str = Field(default="0.8/20", max_length=32)
    shrinkage: str = Field(default="0", max_length=32)


class PlanQuery(BaseModel):
    """GET /api/staffing/plan."""

    queue: str = Field(default="", max_length=64)
    day: str = When
    interval: str = Field(default="30m", max_length=8)
    shrinkage: str = Field(default="0", max_length=32)


OPERATIONS = [
    Operation("GET", "/api/scorecards", "QA scorecards", tags=("qa",)),
    Operation("POST", "/api/evaluations", "Submit an evaluation", body=EvaluationBody, status=201, tags=("qa",)),
    Operation("GET", "/api/evaluations", "Evaluations by agent and status", query=EvaluationsQuery, tags=("qa",)),
    Operation("POST", "/api/evaluations/{id}/{action}", "Acknowledge, dispute or resolve an evaluation",
              body=EvaluationActionBody, tags=("qa",)),
    Operation("POST", "/api/qa/sample", "Draw a QA sample", body=SampleBody, tags=("qa",)),
    Operation("POST", "/api/qa/calibration", "Calibration across evaluators", body=CalibrationBody, tags=("qa",)),
    Operation("GET", "/api/qa/policies", "Sampling policies", tags=("qa",)),
    Operation("POST", "/api/qa/samples", "Draw and keep a sample by a policy", body=DrawBody, status=201,
              tags=("qa",)),
    Operation("GET", "/api/qa/samples", "The newest drawn samples", tags=("qa",)),
    Operation("GET", "/api/qa/queue", "The calling evaluator's queue", tags=("qa",)),
    Operation("GET", "/api/qa/conversations/{id}", "A conversation's QA record", tags=("qa",)),
    Operation("POST", "/api/qa/calibrations", "Open a calibration session", body=CalibrationSessionBody,
              status=201, tags=("qa",)),
    Operation("GET", "/api/qa/calibrations", "Calibration sessions with Krippendorff's alpha", tags=("qa",)),
    Operation("GET", "/api/qa/calibrations/{id}", "One calibration session", tags=("qa",)),
    Operation("GET", "/api/kpis", "KPIs by queue, agent, channel, interval, day or month", query=KpiQuery, tags=("kpis",)),
    Operation("GET", "/api/staffing", "Erlang C/A staffing", query=StaffingQuery, tags=("staffing",)),
    Operation("GET", "/api/staffing/plan", "Agents per interval from observed traffic", query=PlanQuery,
              tags=("staffing",)),
    Operation("POST", "/api/wfm/forecasts", "Forecast arrivals and AHT per interval (kept)", body=ForecastBody,
              status=201, tags=("wfm",)),
    Operation("GET", "/api/wfm/forecasts/{id}", "A kept forecast beside the actuals so far", tags=("wfm",)),
    Operation("POST", "/api/wfm/schedules", "Solve and keep a week's schedule", body=ScheduleBody, status=201,
              tags=("wfm",)),
    Operation("GET", "/api/wfm/schedules/{week}", "A week's schedule (agents: their own shifts)", tags=("wfm",)),
    Operation("POST", "/api/wfm/schedules/{week}/edits", "Set or remove an agent's shift (a new version; 409 if stale)",
              body=ShiftEdit, status=201, tags=("wfm",)),
    Operation("GET", "/api/wfm/adherence", "Adherence and conformance per agent for a day", tags=("wfm",)),
    Operation("GET", "/api/wfm/adherence/alerts", "Agents out of adherence for more than N minutes", tags=("wfm",)),
    Operation("GET", "/api/wfm/intraday", "Today's re-forecast and staffing gap per remaining interval",
              tags=("wfm",)),
]


def openapi() -> dict[str, Any]:
    """Quality's OpenAPI document."""
    return document("omnihub quality", "1", OPERATIONS)
