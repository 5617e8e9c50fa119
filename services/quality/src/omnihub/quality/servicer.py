"""The omnihub.api.quality.v1.Quality gRPC service (KPIs and staffing)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2

from omnihub import erlang
from omnihub.api.quality.v1 import quality_pb2, quality_pb2_grpc
from omnihub.common.identity import GrpcIdentity
from omnihub.quality import calendar
from omnihub.quality.kpis import Kpi
from omnihub.quality.offload import Busy, Offload
from omnihub.quality.queries import KpiQuery

T = TypeVar("T")
GROUPS = {quality_pb2.GROUP_BY_QUEUE: "queue", quality_pb2.GROUP_BY_AGENT: "agent",
          quality_pb2.GROUP_BY_CHANNEL: "channel", quality_pb2.GROUP_BY_INTERVAL: "interval"}


def _or_nan(value: float | None) -> float:
    """Service level with nothing answered is not a number (JSON says null)."""
    return float("nan") if value is None else value


def kpi_row(row: Kpi) -> quality_pb2.KpiRow:
    """A KPI row as protobuf."""
    return quality_pb2.KpiRow(
        key=row.key, offered=row.offered, answered=row.answered, abandoned=row.abandoned,
        short_abandoned=row.short_abandoned, answered_within_threshold=row.answered_within,
        service_level_a=_or_nan(row.service_level_a), service_level_b=_or_nan(row.service_level_b), asa_seconds=row.asa,
        aht_seconds=row.aht, abandonment_rate=row.abandonment_rate, fcr=row.fcr, csat=row.csat, nps=row.nps,
        occupancy=row.occupancy, availability=row.availability, handled=row.handled,
        csat_responses=row.csat_responses, nps_responses=row.nps_responses, fcr_eligible=row.fcr_eligible,
        service_level_threshold_seconds=row.threshold, service_level_target=row.target,
        talk_seconds=row.talk, wrap_up_seconds=row.wrap, qa_score=row.qa_score)


def staffing(req: quality_pb2.StaffingRequest, deadline: float | None = None) -> quality_pb2.StaffingResponse:
    """Erlang C (or A with patience) for one interval; StaffingError for a question outside the bounds."""
    erlang.check_inputs(req.arrivals, req.interval_seconds, req.aht_seconds, req.target_fraction, req.target_seconds,
                        req.shrinkage, req.max_occupancy, req.patience_seconds, req.agents)
    if req.agents:
        pred = (erlang.predict_erlang_a(req.arrivals, req.interval_seconds, req.aht_seconds, req.agents,
                                        req.target_seconds, req.patience_seconds, deadline)
                if req.patience_seconds else
                erlang.predict(req.arrivals, req.interval_seconds, req.aht_seconds, req.agents, req.target_seconds))
    else:
        pred = erlang.required_agents(req.arrivals, req.interval_seconds, req.aht_seconds, req.target_fraction,
                                      req.target_seconds, req.max_occupancy or 1.0, req.patience_seconds, deadline)
    return quality_pb2.StaffingResponse(
        agents=pred.agents, scheduled_agents=erlang.with_shrinkage(pred.agents, req.shrinkage),
        traffic_erlangs=pred.traffic, probability_wait=pred.probability_wait, service_level=pred.service_level,
        asa_seconds=pred.asa if pred.asa != float("inf") else 0.0, occupancy=pred.occupancy,
        abandonment=pred.abandonment, model=pred.model)


async def plan(query: KpiQuery, offload: Offload, queue: str, day_start: float, interval: int, shrinkage: float,
               ) -> quality_pb2.StaffingPlanResponse:
    """Agents per interval of a day from the arrivals and AHT observed then, at the queue's SL target
    (the maths off the event loop, under the offload's time limit)."""
    if interval not in (900, 1800, 3600, 86400):
        raise erlang.StaffingError("interval must be 15m, 30m, 1h or 1d")
    if not 0 <= shrinkage < 1:
        raise erlang.StaffingError("shrinkage must be in [0, 1)")
    rows, total = await query.rows(day_start, calendar.next_day(day_start, query.zone_for(queue)), "interval", interval,
                                   queue=queue)
    target, threshold = query.targets.get(queue, (0.8, 20.0))
    return await offload.run(lambda deadline: _plan(rows, total.aht or 180.0, interval, target, threshold,
                                                    shrinkage, deadline))


def _plan(rows: list[Kpi], default_aht: float, interval: int, target: float, threshold: float, shrinkage: float,
          deadline: float) -> quality_pb2.StaffingPlanResponse:
    out = quality_pb2.StaffingPlanResponse()
    for row in rows:
        req = quality_pb2.StaffingRequest(arrivals=float(row.offered), interval_seconds=interval,
                                          aht_seconds=row.aht or default_aht, target_fraction=target,
                                          target_seconds=threshold, shrinkage=shrinkage)
        start = timestamp_pb2.Timestamp()
        start.FromJsonString(row.key)
        out.intervals.append(quality_pb2.StaffingInterval(
            start_time=start, arrivals=row.offered, aht_seconds=req.aht_seconds,
            recommendation=staffing(req, deadline) if row.offered else quality_pb2.StaffingResponse(model="erlang_c")))
    return out


class QualityServicer(quality_pb2_grpc.QualityServicer):
    """KPIs and staffing over gRPC."""

    def __init__(self, query: KpiQuery, identity: GrpcIdentity, offload: Offload | None = None) -> None:
        self.query = query
        self.identity = identity
        self.offload = offload or Offload()

    async def GetKpis(self, request: quality_pb2.GetKpisRequest, context: Any) -> quality_pb2.GetKpisResponse:
        actor = await self.identity.actor(context)
        if not actor.supervisor and request.agent_id != actor.sub:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "agents read only their own KPIs")
        start = request.from_time.ToNanoseconds() / 1e9
        end = request.to_time.ToNanoseconds() / 1e9
        if end <= start:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "to_time must be after from_time")
        rows, total = await self.query.rows(start, end, GROUPS.get(request.group_by, ""),
                                            request.interval_seconds or 3600, request.agent_id, request.queue)
        return quality_pb2.GetKpisResponse(rows=[kpi_row(r) for r in rows], total=kpi_row(total))

    async def ComputeStaffing(self, request: quality_pb2.StaffingRequest, context: Any) -> quality_pb2.StaffingResponse:
        await self.identity.actor(context)
        return await self._staffing(context, lambda: self.offload.run(lambda deadline: staffing(request, deadline)))

    async def _staffing(self, context: Any, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except erlang.StaffingError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except Busy as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        raise AssertionError("unreachable: abort raises")

    async def _unimplemented(self, context: Any) -> Any:
        await self.identity.actor(context)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "QA evaluations are served over HTTP in this version")

    async def PlanStaffing(self, request: quality_pb2.StaffingPlanRequest, context: Any) -> quality_pb2.StaffingPlanResponse:
        if not (await self.identity.actor(context)).supervisor:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "supervisors and admins only")
        day = request.day.ToNanoseconds() / 1e9
        day = calendar.day_start(day, self.query.zone_for(request.queue))
        return await self._staffing(context, lambda: plan(self.query, self.offload, request.queue, day,
                                                          request.interval_seconds or 1800, request.shrinkage))

    async def SubmitEvaluation(self, request: Any, context: Any) -> Any:
        return await self._unimplemented(context)

    async def UpdateEvaluation(self, request: Any, context: Any) -> Any:
        return await self._unimplemented(context)

    async def ListEvaluations(self, request: Any, context: Any) -> Any:
        return await self._unimplemented(context)

    async def DrawSample(self, request: Any, context: Any) -> Any:
        return await self._unimplemented(context)

    async def Calibrate(self, request: Any, context: Any) -> Any:
        return await self._unimplemented(context)
