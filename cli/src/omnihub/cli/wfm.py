"""`omnihub forecast` and `omnihub schedule`: workforce management from the quality store (OMNIHUB_MONGO_URL)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any, NoReturn

import typer
import yaml
from pydantic import ValidationError


def _refuse(command: str, message: str) -> NoReturn:
    typer.echo(f"omnihub {command}: {message}", err=True)
    raise typer.Exit(2)


async def _with_service(fn: Any) -> Any:
    from omnihub.common.config import load_settings
    from omnihub.quality.config import QualitySettings, queue_holidays, queue_targets, queue_zones
    from omnihub.quality.queries import KpiQuery
    from omnihub.quality.store import QualityStore
    from omnihub.quality.wfm.service import WfmService
    from omnihub.quality.wfm.store import WfmStore

    settings = load_settings(QualitySettings)
    store = QualityStore(settings.mongo_url, settings.quality_db)
    try:
        query = KpiQuery(store, queue_targets(settings.config_dir), settings.quality_short_abandon_seconds,
                         settings.center_timezone, queue_zones(settings.config_dir))
        wfm = WfmService(query, WfmStore(store), queue_holidays(settings.config_dir))
        await wfm.store.setup()
        return await fn(wfm, settings.config_dir)
    finally:
        await store.close()


def forecast(
    queue: str = typer.Option("support", help="queue to forecast"),
    channel: str = typer.Option("", help="one channel (voice, webchat, ...); empty: every channel together"),
    weeks: int = typer.Option(2, help="weeks ahead, 1-6, from today's local midnight"),
    interval: str = typer.Option("30m", help="15m or 30m"),
    history_weeks: int = typer.Option(8, help="weeks of history to learn from, 3-26"),
    uplift: str = typer.Option("", help="DATE=FACTOR for holidays ahead, comma-separated, e.g. 2026-12-25=1.3"),
    as_json: bool = typer.Option(False, "--json", help="print the whole forecast as JSON"),
) -> None:
    """Forecast arrivals and AHT per interval (model chosen by backtest against seasonal naive) and keep it."""
    from omnihub.quality.wfm.forecast import ForecastError

    if interval not in ("15m", "30m"):
        _refuse("forecast", f"interval must be 15m or 30m; got {interval!r}")
    factors: dict[dt.date, float] = {}
    for item in filter(None, uplift.split(",")):
        day, _, factor = item.partition("=")
        try:
            factors[dt.date.fromisoformat(day)] = float(factor)
        except ValueError:
            _refuse("forecast", f"uplift must be DATE=FACTOR, e.g. 2026-12-25=1.3; got {item!r}")

    async def run(wfm: Any, _config: Path) -> dict[str, Any]:
        return dict(await wfm.forecast(queue, channel, weeks, 900 if interval == "15m" else 1800,
                                       history_weeks, factors))

    try:
        doc = asyncio.run(_with_service(run))
    except ForecastError as exc:
        _refuse("forecast", str(exc))
    if as_json:
        typer.echo(json.dumps(doc))
        return
    typer.echo(f"Forecast {doc['id']} of {queue}{'/' + channel if channel else ''}: {doc['from']} to {doc['to']}")
    typer.echo(f"Model {doc['model']}: backtest WAPE {_pct(doc['wape'])} (seasonal naive {_pct(doc['baseline_wape'])}); "
               f"{doc['history_weeks']:g} weeks of history")
    days: dict[str, list[dict[str, Any]]] = {}
    for row in doc["intervals"]:
        days.setdefault(row["start"][:10], []).append(row)
    typer.echo(f"{'day':<12}{'arrivals':>10}{'80% band':>20}{'peak':>14}{'AHT':>8}")
    for day, rows in days.items():
        total = sum(r["arrivals"] for r in rows)
        peak = max(rows, key=lambda r: r["arrivals"])
        handled = sum(r["arrivals"] * r["aht"] for r in rows)
        band = f"{sum(r['lower'] for r in rows):.0f}-{sum(r['upper'] for r in rows):.0f}"
        typer.echo(f"{day:<12}{total:>10.0f}{band:>20}{peak['start'][11:16] + ' ' + format(peak['arrivals'], '.0f'):>14}"
                   f"{(handled / total if total else 0):>7.0f}s")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _model(used: dict[str, Any]) -> str:
    if used.get("model") == "per_channel":
        return "per channel: " + "; ".join(f"{name} {_model(part)}" for name, part in used["channels"].items())
    if used.get("model") == "deferred":
        return f"deferred, answered within {used['response_seconds']:g}s (peak {used['peak_agents']:g} agents)"
    if used.get("concurrency", 1) > 1:
        return f"{_model(used | {'concurrency': 1})}, {used['concurrency']} at a time"
    if used.get("model") == "erlang_a":
        return (f"Erlang A, patience {used['patience_seconds']:g}s ({used['patience_source']}"
                f"{', ' + str(used['abandons']) + ' abandons' if used['patience_source'] == 'measured' else ''})")
    return "Erlang C (patience unknown)" if used.get("model") == "erlang_c" else "given in the plan"


def schedule(
    week: str = typer.Option(..., help="ISO week, e.g. 2026-W50"),
    plan: str = typer.Option("", help="YAML with templates and agents (default: $OMNIHUB_CONFIG_DIR/wfm.yaml)"),
    seconds: float = typer.Option(0, help="solver time limit (overrides the file)"),
    as_json: bool = typer.Option(False, "--json", help="print the whole schedule as JSON"),
) -> None:
    """Solve a week's schedule with CP-SAT against the forecast requirement; report coverage and bounds."""
    from omnihub.erlang import StaffingError
    from omnihub.quality.wfm.models import ScheduleBody
    from omnihub.quality.wfm.schedule import ScheduleError

    async def run(wfm: Any, config: Path) -> dict[str, Any]:
        path = Path(plan) if plan else config / "wfm.yaml"
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            _refuse("schedule", f"cannot read {path}: {exc.strerror}")
        data["week"] = week
        if seconds:
            data["seconds"] = seconds
        try:
            body = ScheduleBody.model_validate(data)
        except ValidationError as exc:
            _refuse("schedule", f"{path}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
        return dict(await wfm.schedule(body))

    try:
        doc = asyncio.run(_with_service(run))
    except (ScheduleError, StaffingError) as exc:
        _refuse("schedule", str(exc))
    if as_json:
        typer.echo(json.dumps(doc))
        return
    s, solver = doc["summary"], doc["solver"]
    typer.echo(f"Schedule {doc['id']} for {week}: {s['shifts']} shifts, {s['agents']} agents")
    typer.echo(f"Coverage            {s['coverage']:.1%} of {s['intervals_needing_agents']} intervals needing agents")
    lp = s["lp_bound_hours"]
    typer.echo(f"Agent-hours         {s['agent_hours']:g} (LP lower bound {lp if lp is not None else '—'}, "
               f"required {s['required_agent_hours']:g})")
    typer.echo(f"Solver              {solver['status']} in {solver['wall_seconds']:.1f}s, objective "
               f"{solver['objective']}, bound {solver['best_bound']}")
    for name, used in doc.get("requirement", {}).items():
        typer.echo(f"Requirement {name:<8}{_model(used)}")
    for shift in doc["shifts"]:
        pauses = ", ".join(f"{a['kind']} {a['start'][11:16]}" for a in shift["activities"] if a["kind"] != "work")
        typer.echo(f"  {shift['agent']:<12}{shift['date']} {shift['start'][11:16]}-{shift['end'][11:16]} "
                   f"{shift['queue']:<10}{pauses}")
    if doc["uncovered"]:
        typer.echo(f"Uncovered: {len(doc['uncovered'])} intervals, {s['uncovered_agent_intervals']} agent-intervals "
                   f"short (first {doc['uncovered'][0]['start']})")


def simulate_plan(forecast: str, schedule: str, day: str, queue: str, target: str, seed: int, as_json: bool,
                  queue_model: bool = False, hours: str = "", channel: str = "sms", speed: float = 0.0) -> None:
    """`omnihub simulate --forecast F --schedule S`: a day through a real hub (or, with `queue_model`, a queue
    simulation in this process): service level per interval beside the plan."""
    from omnihub.quality.wfm.simulate import from_plan

    if not (forecast and schedule):
        _refuse("simulate", "--forecast and --schedule go together")
    fraction_text, _, seconds_text = target.partition("/")
    try:
        fraction, threshold = float(fraction_text), float(seconds_text or 20)
        plan = json.loads(Path(forecast).read_text())
        staffing = json.loads(Path(schedule).read_text())
        first = day or plan["intervals"][0]["start"][:10]
        if queue_model:
            rows = from_plan(plan, staffing, first, queue, threshold, seed)
        else:
            doc = _through_hub(plan, staffing, first, queue, fraction, threshold, seed, hours, channel, speed)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        _refuse("simulate", f"cannot run the day: {exc}")
    if not queue_model:
        _print_hub_day(doc, as_json)
        return
    measured = [r for r in rows if r["service_level"] is not None]
    met = sum(r["service_level"] >= fraction for r in measured)
    if as_json:
        typer.echo(json.dumps({"day": first, "queue": queue, "target": fraction, "threshold": threshold,
                               "intervals_measured": len(measured), "intervals_meeting_target": met,
                               "intervals": rows}))
        return
    typer.echo(f"{'interval':<8}{'forecast':>10}{'offered':>9}{'agents':>8}{'answered':>10}{'SL':>8}")
    for r in rows:
        if r["offered"] or r["agents"]:
            sl = "—" if r["service_level"] is None else f"{r['service_level']:.0%}"
            typer.echo(f"{r['start'][11:16]:<8}{r['forecast']:>10.1f}{r['offered']:>9}{r['agents']:>8}"
                       f"{r['answered']:>10}{sl:>8}")
    share = met / len(measured) if measured else 0.0
    typer.echo(f"{first} {queue}: service level target {fraction:.0%}/{threshold:g}s met in {met} of "
               f"{len(measured)} intervals ({share:.0%})")


def _through_hub(plan: dict[str, Any], staffing: dict[str, Any], day: str, queue: str, fraction: float,
                 threshold: float, seed: int, hours: str, channel: str, speed: float) -> dict[str, Any]:
    from omnihub.cli.sim.model import CHANNELS
    from omnihub.cli.sim.plan import day_plan, run_plan

    lo, _, hi = (hours or "0-24").partition("-")
    window = (float(lo), float(hi or 24))
    if not 0 <= window[0] < window[1] <= 24:
        raise ValueError(f"--hours must be FROM-TO in hours of the day, e.g. 8-14; got {hours!r}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}; use {', '.join(CHANNELS)}")
    day_of = day_plan(plan, staffing, day, queue, window)
    return asyncio.run(run_plan(day_of, channel, fraction, threshold, speed or 60.0, seed))


def _print_hub_day(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(doc))
        return
    typer.echo(f"{'interval':<8}{'forecast':>10}{'required':>10}{'scheduled':>11}{'offered':>9}{'answered':>10}"
               f"{'SL':>8}")
    for r in doc["intervals"]:
        sl = "—" if r["service_level"] is None else f"{r['service_level']:.0%}"
        typer.echo(f"{r['start'][11:16]:<8}{r['forecast']:>10.1f}{r['required']:>10}{r['scheduled']:>11}"
                   f"{r['offered']:>9}{r['answered']:>10}{sl:>8}")
    measured, met = doc["intervals_measured"], doc["intervals_meeting_target"]
    typer.echo(f"{doc['day']} {doc['queue']} through the hub ({doc['channel']}, {doc['speed']:g}x): service level "
               f"target {doc['target']:.0%}/{doc['threshold']:g}s met in {met} of {measured} intervals "
               f"({met / measured if measured else 0:.0%}); {doc['arrivals']} customers, {doc['answered']} answered")
