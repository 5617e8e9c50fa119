"""The simulation report: the quality service's figures per queue and interval beside Erlang C (or A)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from omnihub import erlang
from omnihub.cli.sim import charts
from omnihub.cli.sim.model import Customer, Scenario, tolerance

FIGURES = ("service_level", "asa_seconds", "aht_seconds", "abandonment_rate", "occupancy", "fcr")


def measured(row: dict[str, Any], speed: float) -> dict[str, Any]:
    """A quality KPI row with its times scaled back to simulated seconds."""
    def figure(name: str) -> float:  # the API's null (nothing to measure) counts as 0 beside Erlang's prediction
        return float(row[name] or 0.0)
    return {"service_level": row["service_level_b"], "asa_seconds": figure("asa") * speed,
            "aht_seconds": figure("aht") * speed, "abandonment_rate": figure("abandonment_rate"),
            "occupancy": figure("occupancy"), "fcr": figure("fcr"), "handled": row["handled"],
            "answered": row["answered"], "abandoned": row["abandoned"], "offered": row["offered"]}


def dedicated_agents(sc: Scenario, queue: str) -> int | None:
    """Agents serving only this queue, when nobody else serves it (Erlang's pool); None when shared."""
    groups = [g for g in sc.agents if queue in g.queues]
    if any(len(g.queues) > 1 for g in groups):
        return None
    return sum(g.count for g in groups)


def predict(sc: Scenario, people: list[Customer], seconds: float, agents: int, threshold: float,
            overhead: float = 0.0, aht: float = 0.0) -> dict[str, Any] | None:
    """Erlang C for the arrivals and handle times of these customers (Erlang A when they all have patience).

    Every answer also takes `overhead` seconds (accepting, platform latency): the queue wait must stay
    within threshold − overhead, and the ASA grows by it. `aht` is the handle time measured for these
    contacts; without it, the streams' configured means are used.
    """
    if not people or agents <= 0 or seconds <= 0:
        return None
    n = len(people)
    aht = aht or sum(c.stream.aht_seconds for c in people) / n
    patience = [c.stream.patience_seconds for c in people]
    if all(p > 0 for p in patience):
        pred = erlang.predict_erlang_a(n, seconds, aht, agents, max(0.0, threshold - overhead), sum(patience) / n)
    else:
        pred = erlang.predict(n, seconds, aht, agents, max(0.0, threshold - overhead))
    if not math.isfinite(pred.asa):  # offered load at or above the headcount: Erlang C has no steady state
        return {"model": pred.model, "service_level": 0.0, "asa_seconds": None, "occupancy": 1.0,
                "abandonment_rate": 0.0, "probability_wait": 1.0, "traffic_erlangs": pred.traffic,
                "agents": agents, "overloaded": True}
    return {"model": pred.model, "service_level": pred.service_level, "asa_seconds": pred.asa + overhead,
            "occupancy": pred.occupancy, "abandonment_rate": pred.abandonment,
            "probability_wait": pred.probability_wait, "traffic_erlangs": pred.traffic, "agents": agents}


def queue_sections(sc: Scenario, people: list[Customer], totals: dict[str, dict[str, Any]],
                   intervals: list[dict[str, dict[str, Any]]], levels: dict[str, list[int]],
                   overhead: float = 0.0) -> list[dict[str, Any]]:
    """Per queue: measured totals, the prediction, the tolerance and the per-interval series."""
    span = sc.minutes * 60
    step = sc.interval_minutes * 60
    out = []
    for q in sc.queues:
        mine = [c for c in people if c.stream.queue == q.name]
        agents = dedicated_agents(sc, q.name)
        total = measured(totals[q.name], sc.speed) if q.name in totals else None
        pred = (predict(sc, mine, span, agents, q.threshold_seconds, overhead, total["aht_seconds"] if total else 0)
                if agents is not None else None)
        series = []
        for k, rows in enumerate(intervals):
            in_k = [c for c in mine if k * step <= c.at < (k + 1) * step]
            m = measured(rows[q.name], sc.speed) if q.name in rows else None
            p = (predict(sc, in_k, min(step, span - k * step), agents, q.threshold_seconds, overhead,
                         m["aht_seconds"] if m else 0) if agents else None)
            series.append({"from_minute": k * sc.interval_minutes, "arrivals": len(in_k), "measured": m,
                           "predicted": p})
        out.append({"queue": q.name, "strategy": q.strategy, "arrivals": len(mine),
                    "target": q.target, "threshold_seconds": q.threshold_seconds,
                    "measured": total,
                    "predicted": pred,
                    "tolerance": tolerance(pred["service_level"], len(mine)) if pred else None,
                    "answering_skill_level": (sum(levels[q.name]) / len(levels[q.name])
                                              if levels.get(q.name) else None),
                    "intervals": series})
    return out


def write(result: dict[str, Any], out_dir: Path) -> None:
    """report.json and report.html into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / "report.html").write_text(render_html(result))


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _sec(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _figures_table(first: str, items: list[tuple[str, int, dict[str, Any]]], skill: bool) -> str:
    """One row per (label, arrivals, section with measured/predicted figures)."""
    cols = [first, "arrivals", "service level", "Erlang", "ASA (s)", "Erlang ASA", "AHT (s)", "abandoned",
            "occupancy", "FCR"] + (["answering skill"] if skill else [])
    rows = []
    for label, arrivals, sec in items:
        m, p = sec["measured"] or {}, sec["predicted"] or {}
        cells = [html.escape(label), str(arrivals), _pct(m.get("service_level")), _pct(p.get("service_level")),
                 _sec(m.get("asa_seconds")), _sec(p.get("asa_seconds")), _sec(m.get("aht_seconds")),
                 _pct(m.get("abandonment_rate")), _pct(m.get("occupancy")), _pct(m.get("fcr"))]
        if skill:
            cells.append(_sec(sec.get("answering_skill_level")))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _table(run: dict[str, Any]) -> str:
    return _figures_table("queue", [(q["queue"], q["arrivals"], q) for q in run["queues"]], skill=True)


def _interval_table(q: dict[str, Any]) -> str:
    return _figures_table("from minute", [(f"{s['from_minute']:g}", s["arrivals"], s) for s in q["intervals"]],
                          skill=False)


def _comparison_table(runs: list[dict[str, Any]]) -> str:
    items = [(f"{q['queue']} · {run['strategy']}", q["arrivals"], q)
             for i in range(len(runs[0]["queues"])) for run in runs for q in run["queues"][i:i + 1]]
    return _figures_table("queue · strategy", items, skill=True)


def render_html(result: dict[str, Any]) -> str:
    """A self-contained page: tables and SVG charts per run, queue and interval, and the comparison."""
    parts: list[str] = []
    if len(result["runs"]) > 1:
        parts.append("<h2>Comparison</h2>" + _comparison_table(result["runs"]))
        names = [q["queue"] for q in result["runs"][0]["queues"]]
        for key, label, pct in (("service_level", "service level", True), ("asa_seconds", "ASA (s)", False),
                                ("aht_seconds", "AHT (s)", False)):
            series = {run["strategy"]: [(q["measured"] or {}).get(key, 0.0) for q in run["queues"]]
                      for run in result["runs"]}
            parts.append(charts.bars(f"{label} by queue", names, series, percent=pct))
    for run in result["runs"]:
        parts.append(f"<h2>Strategy {html.escape(run['strategy'])}</h2>")
        parts.append(f"<p>Answer overhead {run['answer_overhead_seconds']:.1f} simulated seconds "
                     "(accept delay plus platform latency × speed-up), included in the prediction.</p>")
        parts.append(f"<p>{run['arrivals']} customers, {run['conversations']} conversations, "
                     f"lost or duplicated: {run['lost_or_duplicated']}, replies delivered: "
                     f"{run['replies_delivered']}/{run['replies_expected']}</p>")
        parts.append(_table(run))
        for q in run["queues"]:
            xs = [f"{int(s['from_minute'])}'" for s in q["intervals"]]
            sl = {"measured": [(s["measured"] or {}).get("service_level", 0.0) for s in q["intervals"]]}
            if q["predicted"]:
                sl[f"Erlang {q['predicted']['model'][-1].upper()}"] = [
                    (s["predicted"] or {}).get("service_level", 0.0) for s in q["intervals"]]
            parts.append(charts.lines(f"{q['queue']}: service level by interval", xs, sl, target=q["target"]))
            parts.append(_interval_table(q))
            figures = {"measured": [(q["measured"] or {}).get(k, 0.0) or 0.0 for k in
                                    ("service_level", "occupancy", "abandonment_rate", "fcr")]}
            if q["predicted"]:
                figures["Erlang"] = [q["predicted"].get(k, 0.0) for k in
                                     ("service_level", "occupancy", "abandonment_rate")] + [0.0]
            parts.append(charts.bars(f"{q['queue']}: totals", ["service level", "occupancy", "abandonment", "FCR"],
                                     figures))
    sc = result["scenario"]
    style = ("body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}svg{display:block;margin:1em 0}")
    return ("<!doctype html><html lang=en><meta charset=utf-8><title>omnihub simulation</title>"
            f"<style>{style}</style>"
            f"<h1>Simulation: {html.escape(str(sc['name']))}</h1>"
            f"<p>{sc['minutes']} simulated minutes at {sc['speed']}x, seed {sc['seed']}. Measured figures come from "
            "the quality service; Erlang C (A when customers have patience) is computed for the same arrivals, the measured "
            "handle times and staffing where a queue has its own agents.</p>" + "".join(parts) + "</html>")


def print_table(result: dict[str, Any]) -> None:
    """The terminal report."""
    for run in result["runs"]:
        print(f"\nstrategy {run['strategy']}: {run['arrivals']} customers, {run['conversations']} conversations, "
              f"lost or duplicated {run['lost_or_duplicated']}, replies {run['replies_delivered']}/"
              f"{run['replies_expected']}; answer overhead {run['answer_overhead_seconds']:.1f}s")
        print(f"{'queue':<12}{'arrivals':>9}{'SL':>8}{'Erlang':>8}{'±':>7}{'ASA':>8}{'E.ASA':>8}{'AHT':>8}"
              f"{'aband.':>8}{'occ.':>8}{'FCR':>8}{'skill':>7}")
        for q in run["queues"]:
            m, p = q["measured"] or {}, q["predicted"] or {}
            tol = f"{q['tolerance']:.1%}" if q["tolerance"] is not None else "—"
            print(f"{q['queue']:<12}{q['arrivals']:>9}{_pct(m.get('service_level')):>8}"
                  f"{_pct(p.get('service_level')):>8}{tol:>7}{_sec(m.get('asa_seconds')):>8}"
                  f"{_sec(p.get('asa_seconds')):>8}{_sec(m.get('aht_seconds')):>8}"
                  f"{_pct(m.get('abandonment_rate')):>8}{_pct(m.get('occupancy')):>8}{_pct(m.get('fcr')):>8}"
                  f"{_sec(q['answering_skill_level']):>7}")
        for q in run["queues"]:
            cells = "  ".join(f"{int(s['from_minute'])}': {_pct((s['measured'] or {}).get('service_level'))}"
                              for s in q["intervals"])
            print(f"  {q['queue']} SL by interval  {cells}")
