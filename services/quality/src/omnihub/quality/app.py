"""Quality service wiring: event ingest, KPI HTTP API and chart, gRPC, health."""

from __future__ import annotations

import datetime as dt
import html
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web
from google.protobuf.json_format import MessageToDict

from omnihub import erlang
from omnihub.api.quality.v1 import quality_pb2, quality_pb2_grpc
from omnihub.common import identity, privacy, retention, tombstones
from omnihub.common.config import bind_address, load_settings
from omnihub.common.grpcserver import new_server
from omnihub.common.health import add_grpc_health, install_health
from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials, request_actor, require_supervisor
from omnihub.common.jsonbody import read_body
from omnihub.common.openapi import OPENAPI_PATH
from omnihub.common.openapi import serve as serve_openapi
from omnihub.common.service import run as run_main
from omnihub.common.service import service_context
from omnihub.erlang import StaffingError
from omnihub.quality import calendar, daily_report, export, workspace
from omnihub.quality import privacy as quality_privacy
from omnihub.quality import retention as quality_retention
from omnihub.quality.config import QualitySettings, queue_holidays, queue_targets, queue_zones
from omnihub.quality.ingest import Ingestor, consume_events
from omnihub.quality.models import CalibrationBody, EvaluationActionBody, EvaluationBody, SampleBody, openapi
from omnihub.quality.offload import Busy, Offload
from omnihub.quality.qa import QaError, QaService
from omnihub.quality.qapolicy import load_policies
from omnihub.quality.qastore import QaStore
from omnihub.quality.queries import KpiQuery, as_json
from omnihub.quality.scorecards import SCORECARDS
from omnihub.quality.servicer import QualityServicer, plan, staffing
from omnihub.quality.store import QualityStore
from omnihub.quality.wfm import adherence_kpis
from omnihub.quality.wfm import routes as wfm_routes
from omnihub.quality.wfm.service import WfmService
from omnihub.quality.wfm.store import WfmStore
from omnihub.quality.workspace import QA_STORE_KEY

INTERVALS = {"15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}
GROUP_BYS = {"", "queue", "agent", "channel", "interval", "day", "month"}
QUERY_KEY: web.AppKey[KpiQuery] = web.AppKey("kpi_query")
QA_KEY: web.AppKey[QaService] = web.AppKey("qa")
OFFLOAD_KEY: web.AppKey[Offload] = web.AppKey("offload")
T = TypeVar("T")


def _qa_errors(exc: QaError) -> web.HTTPException:
    return {403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict}.get(exc.status, web.HTTPBadRequest)(
        text=str(exc))


async def scorecards(request: web.Request) -> web.Response:
    """GET /api/scorecards."""
    return web.json_response([c.as_json() for c in SCORECARDS.values()])


async def submit_evaluation(request: web.Request) -> web.Response:
    """POST /api/evaluations {conversation_id, agent_id, scorecard_id, answers, calibration}: supervisors;
    the evaluator is the signed actor."""
    actor = request_actor(request)
    require_supervisor(actor)
    try:
        body = await read_body(request, EvaluationBody)
        doc = body.model_dump() | {"evaluator_id": actor.sub}
        if body.calibration_id:
            session = await request.app[QA_STORE_KEY].calibration(body.calibration_id)
            if session is None or body.conversation_id not in session["conversation_ids"]:
                raise QaError("the conversation is not part of that calibration session")
            doc["calibration"] = True
        return web.json_response(await request.app[QA_KEY].submit(doc), status=201)
    except QaError as exc:
        raise _qa_errors(exc) from None


async def list_evaluations(request: web.Request) -> web.Response:
    """GET /api/evaluations?agent=&status=: an agent reads only their own."""
    agent = _own(request_actor(request), request.query.get("agent", ""), "evaluations")
    docs = await request.app[QA_KEY].store.evaluations_for(agent, request.query.get("status", ""))
    return web.json_response(docs)


async def act_on_evaluation(request: web.Request) -> web.Response:
    """POST /api/evaluations/{id}/{acknowledge|dispute|resolve} {note, new_score}: the signed actor acts;
    the evaluated agent acknowledges or disputes, a supervisor resolves."""
    actor = request_actor(request)
    if request.match_info["action"] == "resolve":
        require_supervisor(actor)
    body = await read_body(request, EvaluationActionBody)
    try:
        doc = await request.app[QA_KEY].act(request.match_info["id"], request.match_info["action"],
                                            actor.sub, body.note, body.new_score)
    except QaError as exc:
        raise _qa_errors(exc) from None
    return web.json_response(doc)


async def draw_sample(request: web.Request) -> web.Response:
    """POST /api/qa/sample {from, to, fraction, minimum, seed, stratify_by_channel}: supervisors."""
    require_supervisor(request_actor(request))
    body = await read_body(request, SampleBody)
    now = time.time()
    try:
        picked = await request.app[QA_KEY].draw_sample(
            parse_time(str(body.start or ""), now - 7 * 86400), parse_time(str(body.end or ""), now + 1),
            body.fraction, body.minimum, body.seed, body.stratify_by_channel)
    except (QaError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return web.json_response([{"conversation_id": c.conversation_id, "agent_id": c.agent_id, "channel": c.channel,
                               "recording_uri": c.recording_uri} for c in picked])


async def calibration(request: web.Request) -> web.Response:
    """POST /api/qa/calibration {conversation_ids}: Krippendorff's alpha across evaluators (supervisors)."""
    require_supervisor(request_actor(request))
    body = await read_body(request, CalibrationBody)
    try:
        return web.json_response(await request.app[QA_KEY].calibrate(body.conversation_ids))
    except QaError as exc:
        raise _qa_errors(exc) from None


def _own(actor: Actor, agent: str, what: str) -> str:
    """The agent filter a request may use: an agent's own id (the default for them); anyone's for supervisors."""
    if actor.supervisor:
        return agent
    if agent not in ("", actor.sub):
        raise web.HTTPForbidden(text=f"agents read only their own {what}")
    return actor.sub


def parse_time(value: str | None, default: float) -> float:
    """ISO 8601 or epoch seconds."""
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if not 0 <= seconds < 1e11:  # also refuses nan and infinities
            raise web.HTTPBadRequest(text=f"bad time {value!r}; epoch seconds must be finite and positive")
        return seconds
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise web.HTTPBadRequest(text=f"bad time {value!r}; use ISO 8601 or epoch seconds") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def kpi_window(query: KpiQuery, params: Any, now: float) -> tuple[float, float, Any]:
    """[from, to) and the time zone of a KPI request: `period` (today, week, ...) or `from`/`to` in ISO 8601
    (a time without an offset is local to the center, or to the queue's own zone)."""
    tz = query.zone_for(params.get("queue", ""))
    try:
        if params.get("period"):
            start, end = calendar.period(params["period"], now, tz)
        else:
            start = calendar.parse(params["from"], tz) if params.get("from") else now - 86400
            end = calendar.parse(params["to"], tz) if params.get("to") else now + 1
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"{exc}; times are ISO 8601 (or epoch seconds)") from None
    if not end > start or end - start > 400 * 86400:
        raise web.HTTPBadRequest(text="the window must be positive and at most 400 days")
    return start, end, tz


async def kpi_answer(request: web.Request) -> dict[str, Any]:
    """The JSON answer of GET /api/kpis (the exports are made from it, so they hold the same numbers)."""
    q = request.query
    query = request.app[QUERY_KEY]
    start, end, tz = kpi_window(query, q, time.time())
    group_by = q.get("group_by", "")
    if group_by not in GROUP_BYS:
        raise web.HTTPBadRequest(text="group_by must be queue, agent, channel, interval, day or month")
    interval = q.get("interval", "1h")
    if interval not in INTERVALS:
        raise web.HTTPBadRequest(text="interval must be 15m, 30m, 1h or 1d")
    agent = _own(request_actor(request), q.get("agent", ""), "KPIs")
    rows, total = await query.rows(start, end, group_by, INTERVALS[interval], agent, q.get("queue", ""))
    rows_json, total_json = [as_json(r) for r in rows], as_json(total)
    await adherence_kpis.add(request.app[wfm_routes.WFM_KEY], start, end, group_by, agent, q.get("queue", ""),
                             rows_json, total_json)
    return {"from": calendar.iso(start, tz), "to": calendar.iso(end, tz), "time_zone": tz.key,
            "group_by": group_by, "interval": interval, "rows": rows_json, "total": total_json}


async def kpis(request: web.Request) -> web.Response:
    """GET /api/kpis?period=today|yesterday|week|last_week|month|last_month or from=&to= (ISO 8601, [from, to))
    &group_by=queue|agent|channel|interval|day|month&interval=15m|30m|1h|1d&agent=&queue=[&format=csv|xlsx&lang=]."""
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "xlsx"):
        raise web.HTTPBadRequest(text="format must be json, csv or xlsx")
    answer = await kpi_answer(request)
    if fmt == "json":
        return web.json_response(answer)
    lang = request.query.get("lang", "en")
    name = f"kpis_{answer['from'][:10]}_{answer['to'][:10]}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return web.Response(text=export.to_csv(answer, lang), content_type="text/csv", charset="utf-8", headers=headers)
    return web.Response(body=export.to_xlsx(answer, lang), headers=headers,
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _number(q: Mapping[str, str], name: str, default: str | None = None) -> float:
    raw = q.get(name, default)
    if raw is None:
        raise web.HTTPBadRequest(text=f"{name} is required")
    try:
        return float(raw[:32])
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be a number; got {raw[:32]!r}") from None


def _interval(q: Mapping[str, str]) -> int:
    name = q.get("interval", "30m")
    if name not in INTERVALS:
        raise web.HTTPBadRequest(text="interval must be 15m, 30m, 1h or 1d")
    return INTERVALS[name]


async def _offloaded(fn: Callable[[], Awaitable[T]]) -> T:
    """Staffing maths off the event loop: 400 for a question out of bounds or too slow, 503 when busy."""
    try:
        return await fn()
    except StaffingError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    except Busy as exc:
        raise web.HTTPServiceUnavailable(text=str(exc), headers={"Retry-After": "5"}) from None


async def staffing_api(request: web.Request) -> web.Response:
    """GET /api/staffing?arrivals=100&interval=30m&aht=180&target=0.8/20&shrinkage=0.3[&patience=][&agents=]."""
    q = request.query
    target, _, seconds = q.get("target", "0.8/20").partition("/")
    agents = _number(q, "agents", "0")
    if not agents.is_integer() or not 0 <= agents <= erlang.MAX_AGENTS:
        raise web.HTTPBadRequest(text=f"agents must be a whole number from 0 to {erlang.MAX_AGENTS}")
    req = quality_pb2.StaffingRequest(
        arrivals=_number(q, "arrivals"), interval_seconds=_interval(q), aht_seconds=_number(q, "aht"),
        target_fraction=_number({"target": target}, "target"), target_seconds=_number({"seconds": seconds or "20"}, "seconds"),
        shrinkage=_number(q, "shrinkage", "0"), max_occupancy=_number(q, "max_occupancy", "0"),
        patience_seconds=_number(q, "patience", "0"), agents=int(agents))
    result = await _offloaded(lambda: request.app[OFFLOAD_KEY].run(lambda deadline: staffing(req, deadline)))
    return web.json_response(MessageToDict(result, preserving_proto_field_name=True,
                                           always_print_fields_with_no_presence=True))


async def staffing_plan(request: web.Request) -> web.Response:
    """GET /api/staffing/plan?queue=&day=&interval=30m&shrinkage=0.3: agents per interval from observed traffic
    (supervisors)."""
    require_supervisor(request_actor(request))
    q = request.query
    now = time.time()
    day = parse_time(q.get("day"), now)
    shrinkage = _number(q, "shrinkage", "0")
    if not 0 <= shrinkage < 1:
        raise web.HTTPBadRequest(text="shrinkage must be in [0, 1)")
    query, queue = request.app[QUERY_KEY], q.get("queue", "")[:64]
    result = await _offloaded(lambda: plan(query, request.app[OFFLOAD_KEY], queue,
                                           calendar.day_start(day, query.zone_for(queue)), _interval(q), shrinkage))
    return web.json_response(MessageToDict(result, preserving_proto_field_name=True))


async def chart(request: web.Request) -> web.Response:
    """GET /kpis: service level and AHT by interval today (the center's day), as an inline SVG chart (supervisors)."""
    require_supervisor(request_actor(request))
    query = request.app[QUERY_KEY]
    start, end = calendar.period("today", time.time(), query.zone_for())
    rows, total = await query.rows(start, end, "interval", 3600)
    width, height, pad = 720, 240, 30
    step = (width - 2 * pad) / 24
    bars = []
    for r in rows:
        hour = int(dt.datetime.fromisoformat(r.key).hour)
        h = (height - 2 * pad) * (r.service_level_b or 0.0)
        x = pad + hour * step
        colour = "#2e7d32" if (r.service_level_b or 0.0) >= r.target else "#c62828"
        bars.append(f'<rect x="{x:.1f}" y="{height - pad - h:.1f}" width="{step * 0.8:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{html.escape(r.key)}: SL {_pct(r.service_level_b)}, '
                    f'AHT {r.aht:.0f}s, {r.offered} offered</title></rect>')
    target_y = height - pad - (height - 2 * pad) * 0.8
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="Service level by hour">{"".join(bars)}'
           f'<line x1="{pad}" x2="{width - pad}" y1="{target_y:.1f}" y2="{target_y:.1f}" stroke="#555" '
           f'stroke-dasharray="4"/><text x="{pad}" y="{pad - 8}" font-size="12">Service level by hour '
           f'(target line 80%) - today: SL {_pct(total.service_level_b)}, ASA {total.asa:.0f}s, '
           f'AHT {total.aht:.0f}s, abandonment {total.abandonment_rate:.0%}</text></svg>')
    page = f"<!doctype html><meta charset=utf-8><title>omnihub KPIs</title><body>{svg}</body>"
    return web.Response(text=page, content_type="text/html",
                        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def build_app(query: KpiQuery, credentials: Credentials, qa: QaService | None = None,
              offload: Offload | None = None, wfm: WfmService | None = None) -> web.Application:
    """HTTP routes (health is added by the caller); every route but health, metrics and the OpenAPI document
    needs the service token and a signed actor."""
    auth = identity.http_middleware(credentials, QUALITY_AUDIENCE, identity.OPEN_HTTP_PATHS | {OPENAPI_PATH})
    app = web.Application(client_max_size=64 * 1024, middlewares=[auth])
    app[QUERY_KEY] = query
    app[QA_KEY] = qa or QaService(query.store, None)
    app[OFFLOAD_KEY] = offload or Offload()
    app.router.add_get("/api/scorecards", scorecards)
    app.router.add_post("/api/evaluations", submit_evaluation)
    app.router.add_get("/api/evaluations", list_evaluations)
    app.router.add_post("/api/evaluations/{id}/{action}", act_on_evaluation)
    app.router.add_post("/api/qa/sample", draw_sample)
    app.router.add_post("/api/qa/calibration", calibration)
    app.router.add_get("/api/kpis", kpis)
    app.router.add_get("/api/staffing", staffing_api)
    app.router.add_get("/api/staffing/plan", staffing_plan)
    app.router.add_get("/kpis", chart)
    workspace.register(app, app[QA_KEY], QaStore(query.store))
    wfm_routes.register(app, wfm or WfmService(query, WfmStore(query.store)))
    serve_openapi(app, openapi())
    return app


async def main() -> None:
    """Run until SIGTERM."""
    settings = load_settings(QualitySettings)
    credentials = Credentials.from_env()
    async with service_context("quality", settings) as svc:
        bus = await svc.connect_bus()
        store = QualityStore(settings.mongo_url, settings.quality_db)
        svc.stack.push_async_callback(store.close)
        await store.setup()
        await QaStore(store).setup()
        await WfmStore(store).setup()
        svc.readiness.add("mongodb", store.ping)
        days = retention.policy(settings)
        job = retention.DailyJob(store.db, "quality", lambda now: quality_retention.sweep(store.db, days, now))
        tombs = tombstones.from_env()
        await tombstones.watch(bus, tombs, svc.stack)  # before the consumer: erased customers stay erased
        await privacy.install(bus, "quality", svc.stack, job=job, tombstones=tombs,
                              erase=lambda body: quality_privacy.erase(store.db, body),
                              export=lambda body: quality_privacy.export(store.db, body))
        query = KpiQuery(store, queue_targets(settings.config_dir), settings.quality_short_abandon_seconds,
                         settings.center_timezone, queue_zones(settings.config_dir))
        ingestor = Ingestor(store, bus, settings.quality_surveys, settings.quality_nps, settings.quality_hold_seconds,
                            query.config)
        await ingestor.rollups.ensure()  # data stored before rollups existed (or under other settings): once
        consumer = await consume_events(bus, ingestor)
        svc.stack.push_async_callback(consumer.stop)
        grpc_identity = identity.GrpcIdentity(credentials, QUALITY_AUDIENCE)
        server = new_server([grpc_identity.interceptor])
        offload = Offload()  # one set of worker slots for the HTTP and gRPC staffing questions
        quality_pb2_grpc.add_QualityServicer_to_server(QualityServicer(query, grpc_identity, offload), server)
        add_grpc_health(server, svc.readiness, ["omnihub.api.quality.v1.Quality"])
        server.add_insecure_port(bind_address(settings.grpc_host, settings.quality_grpc_port))
        await server.start()
        svc.stack.push_async_callback(server.stop, 2.0)
        wfm = WfmService(query, WfmStore(store), queue_holidays(settings.config_dir))
        qa = QaService(store, bus, load_policies(settings.config_dir))  # qa.yaml's sampling policies
        app = build_app(query, credentials, qa, offload, wfm)
        install_health(app, svc.readiness, "quality")
        daily_report.start(settings, query, svc.stack)  # reports.yaml's daily e-mail, if any
        await svc.start_http(app, settings.http_host, settings.quality_http_port)
        await svc.wait()


def run() -> None:
    """Console entry point."""
    run_main(main)
