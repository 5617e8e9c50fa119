"""The omnihub command-line tool."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer

from omnihub.cli import wfm

app = typer.Typer(help="omnihub: omnichannel contact-center hub", no_args_is_help=True)
app.command("forecast")(wfm.forecast)
app.command("schedule")(wfm.schedule)


@app.command()
def version() -> None:
    """Print the omnihub version."""
    from importlib.metadata import version as pkg_version

    typer.echo(pkg_version("omnihub-cli"))


@app.command()
def up(
    nats_port: int = typer.Option(4222, envvar="OMNIHUB_NATS_PORT", help="NATS client port"),
    mongo_port: int = typer.Option(27017, envvar="OMNIHUB_MONGO_PORT", help="SecantusDB port"),
) -> None:
    """Start NATS, SecantusDB and every service locally (the same as `make run`)."""
    from omnihub.cli.runtime import up as run_up

    run_up(nats_port, mongo_port, demo=os.environ.get("OMNIHUB_DEMO", "1") != "0")


@app.command()
def staffing(
    arrivals: float = typer.Option(..., help="contacts arriving in the interval"),
    interval: str = typer.Option("30m", help="interval length: 15m, 30m, 1h or seconds"),
    aht: float = typer.Option(..., help="average handle time in seconds"),
    target: str = typer.Option("0.8/20", help="service-level target as fraction/seconds"),
    shrinkage: float = typer.Option(0.0, help="breaks, training and absence, 0-1"),
    max_occupancy: float = typer.Option(0.0, help="cap on occupancy, 0 for none"),
    patience: float = typer.Option(0.0, help="mean patience in seconds: use Erlang A"),
    agents: int = typer.Option(0, help="predict this headcount instead of searching"),
    as_json: bool = typer.Option(False, "--json", help="print machine-readable JSON"),
) -> None:
    """Agents needed for a service-level target (Erlang C, or Erlang A with --patience)."""
    import json
    import time

    from omnihub import erlang

    def refuse(message: str) -> NoReturn:
        typer.echo(f"omnihub staffing: {message}", err=True)
        raise typer.Exit(2)

    seconds_by_name = {"15m": 900, "30m": 1800, "1h": 3600}
    if interval not in seconds_by_name and not interval.isdigit():
        refuse(f"interval must be 15m, 30m, 1h or a number of seconds; got {interval!r}")
    seconds = seconds_by_name.get(interval) or int(interval)
    fraction_text, _, threshold_text = target.partition("/")
    try:
        fraction, threshold = float(fraction_text), float(threshold_text or 20)
    except ValueError:
        refuse(f"target must be fraction/seconds, e.g. 0.8/20; got {target!r}")
    deadline = time.monotonic() + 30.0
    try:
        erlang.check_inputs(arrivals, seconds, aht, fraction, threshold, shrinkage, max_occupancy, patience, agents)
        if agents:
            pred = (erlang.predict_erlang_a(arrivals, seconds, aht, agents, threshold, patience, deadline) if patience
                    else erlang.predict(arrivals, seconds, aht, agents, threshold))
        else:
            pred = erlang.required_agents(arrivals, seconds, aht, fraction, threshold, max_occupancy or 1.0, patience,
                                          deadline)
    except erlang.StaffingError as exc:
        refuse(str(exc))
    scheduled = erlang.with_shrinkage(pred.agents, shrinkage)
    result = {"model": pred.model, "traffic_erlangs": round(pred.traffic, 3), "agents": pred.agents,
              "scheduled_agents": scheduled, "probability_wait": round(pred.probability_wait, 4),
              "service_level": round(pred.service_level, 4), "asa_seconds": round(pred.asa, 2),
              "occupancy": round(pred.occupancy, 4), "abandonment": round(pred.abandonment, 4)}
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"Offered load        {pred.traffic:.2f} Erlangs ({pred.model.replace('_', ' ')})")
    typer.echo(f"Agents on the phones {pred.agents}  (schedule {scheduled} with {shrinkage:.0%} shrinkage)")
    typer.echo(f"Service level       {pred.service_level:.1%} within {threshold:g}s (target {fraction:.0%})")
    typer.echo(f"ASA                 {pred.asa:.1f}s    P(wait) {pred.probability_wait:.1%}")
    typer.echo(f"Occupancy           {pred.occupancy:.1%}" + (f"    abandonment {pred.abandonment:.1%}" if patience else ""))


@app.command()
def simulate(
    config: str = typer.Option("", help="scenario YAML (see config/sim/); without it, a single-skill pool"),
    arrivals: float = typer.Option(3.0, help="single-skill pool: arrivals per minute"),
    agents: int = typer.Option(5, help="single-skill pool: agents logged in"),
    aht: float = typer.Option(60.0, help="single-skill pool: mean handle time, seconds"),
    channel: str = typer.Option("sms", help="single-skill pool: sms, voice, email, webchat, telegram, whatsapp or wechat"),
    patience: float = typer.Option(0.0, help="single-skill pool: mean patience in seconds (voice, webchat)"),
    minutes: float = typer.Option(0, help="simulated minutes (overrides the scenario)"),
    speed: float = typer.Option(0, help="speed-up factor (overrides the scenario)"),
    seed: int = typer.Option(-1, help="random seed, for reproducible runs (overrides the scenario)"),
    compare: str = typer.Option("", help="strategies to compare, e.g. longest_idle,most_skilled"),
    out: str = typer.Option("var/sim", help="where report.json and report.html go"),
    forecast: str = typer.Option("", help="a forecast (`omnihub forecast --json` output): run a day of it"),
    schedule: str = typer.Option("", help="a schedule (`omnihub schedule --json` output) staffing that day"),
    day: str = typer.Option("", help="with --forecast: the day to run, YYYY-MM-DD (default: the forecast's first)"),
    queue: str = typer.Option("support", help="with --forecast: the queue whose scheduled agents answer"),
    target: str = typer.Option("0.8/20", help="with --forecast: service-level target as fraction/seconds"),
    as_json: bool = typer.Option(False, "--json", help="with --forecast: print the intervals as JSON"),
    hours: str = typer.Option("", help="with --forecast: the hours of the day to run, e.g. 8-14 (default: all)"),
    queue_model: bool = typer.Option(False, "--queue-model",
                                     help="with --forecast: a queue simulation in this process, not the real hub"),
) -> None:
    """Run synthetic customers and agents through a real hub and compare with Erlang C; or, with --forecast and
    --schedule, a day of the forecast's arrivals through a real hub, the scheduled agents logging in, taking breaks
    and logging out on time (service level per interval beside the plan; --queue-model: a quick queue simulation)."""
    if forecast or schedule:
        wfm.simulate_plan(forecast, schedule, day, queue, target, max(seed, 1), as_json, queue_model, hours,
                          channel, speed)
        return
    import asyncio
    from dataclasses import replace
    from pathlib import Path

    import yaml

    from omnihub.cli.sim import model
    from omnihub.cli.sim.report import print_table
    from omnihub.cli.sim.runner import run

    try:
        sc = (model.load(yaml.safe_load(Path(config).read_text()) or {}) if config else
              model.single_skill(arrivals, agents, aht, channel, patience, name="single-skill pool"))
    except (OSError, TypeError, ValueError) as exc:
        typer.echo(f"omnihub simulate: bad scenario: {exc}", err=True)
        raise typer.Exit(2) from None
    overrides: dict[str, Any] = {"minutes": minutes, "speed": speed, "seed": seed,
                                 "compare": tuple(filter(None, compare.split(",")))}
    sc = replace(sc, **{k: v for k, v in overrides.items() if v not in (0, -1, ())})
    result = asyncio.run(run(sc, Path(out)))
    print_table(result)
    typer.echo(f"report: {Path(out) / 'report.html'}")
