"""The KPI test vectors (tests/kpis/*.yaml) against the rollups, the HTTP API and its CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
import yaml
from aiohttp import web

from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.quality.app import build_app
from omnihub.quality.export import COLUMNS
from omnihub.quality.ingest import Ingestor
from omnihub.quality.queries import WIDTHS, KpiQuery, as_json
from omnihub.quality.store import QualityStore
from omnihub.testkit.ports import free_port
from tests.kpis.events import event, survey_doc, when

VECTORS = sorted((Path(__file__).resolve().parents[3] / "tests" / "kpis").glob("*.yaml"))
INTERVALS = {v: k for k, v in WIDTHS.items()} | {86400: "1d"}


def check(figures: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """Each expected figure (null: no figure) to 4 decimals, as the API rounds them."""
    for name, value in expected.items():
        got = figures.get(name)
        if value is None:
            assert got is None, f"{where}: {name} is {got}, expected null"
        else:
            assert got is not None and got == pytest.approx(value, abs=1e-4), f"{where}: {name} is {got}, expected {value}"


def check_answer(answer: dict[str, Any], spec: dict[str, Any], where: str) -> None:
    rows = {r["key"]: r for r in answer["rows"]}
    if spec["query"].get("group_by"):
        assert set(rows) == set(spec["rows"]), f"{where}: rows {sorted(rows)}"
    for key, expected in spec["rows"].items():
        check(rows[key], expected, f"{where} row {key}")
    check(answer["total"], spec["total"], f"{where} total")


def from_table(lines: list[list[Any]]) -> dict[str, Any]:
    """An export's table back into the answer's shape (the total is the last line)."""
    def row(line: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in zip(COLUMNS, line, strict=False):
            out[name] = None if value in ("", None) else value if name == "key" else float(value)
        return out
    body = [row(line) for line in lines[1:]]
    return {"rows": body[:-1], "total": body[-1]}


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
async def test_vector(path: Path, mongo_url: str, mongo_db: str) -> None:
    vector = yaml.safe_load(path.read_text())
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    thresholds = {q: float(t) for q, t in (vector.get("thresholds") or {}).items()}
    query = KpiQuery(store, {q: (0.8, t) for q, t in thresholds.items()}, float(vector.get("short_abandon", 5)),
                     vector.get("timezone", "UTC"))
    query.clock = lambda: when(vector["now"])
    specs = vector["events"]
    for s in specs:
        if s["kind"] == "survey":
            await store.claim_survey(survey_doc(s))
    ingestor = Ingestor(store, None, surveys=False, rollup=query.config)  # type: ignore[arg-type]
    await ingestor.handle([event(s, i) for i, s in enumerate(specs)])
    port = free_port()
    credentials = Credentials.generate()
    supervisor = credentials.headers(QUALITY_AUDIENCE, Actor("sam", "supervisor"))
    runner = web.AppRunner(build_app(query, credentials))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            for n, spec in enumerate(vector["queries"]):
                q = {k: str(v) for k, v in spec["query"].items()}
                where = f"{path.stem} query {n}"
                interval = {"15m": 900, "30m": 1800, "1h": 3600, "1d": 86400}[q.get("interval", "1h")]
                rows, total = await query.rows(when(q["from"]) if "+" in q["from"] or q["from"].endswith("Z")
                                               else _local(q["from"], query), _end(q, query),
                                               q.get("group_by", ""), interval, q.get("agent", ""), q.get("queue", ""))
                check_answer({"rows": [as_json(r) for r in rows], "total": as_json(total)}, spec, f"{where} (rollups)")
                base = f"http://127.0.0.1:{port}/api/kpis"
                resp = await http.get(base, params=q, headers=supervisor)
                assert resp.status == 200, await resp.text()
                answer = await resp.json()
                check_answer(answer, spec, f"{where} (HTTP)")
                exported = await (await http.get(base, params={**q, "format": "csv"}, headers=supervisor)).text()
                assert from_table(list(csv.reader(io.StringIO(exported)))) == _same(answer), f"{where} (CSV)"
                xlsx = await http.get(base, params={**q, "format": "xlsx"}, headers=supervisor)
                book = openpyxl.load_workbook(io.BytesIO(await xlsx.read()))
                lines = [list(r) for r in book["KPIs"].iter_rows(values_only=True)]
                assert from_table(lines) == _same(answer), f"{where} (XLSX)"
    finally:
        await runner.cleanup()
        await store.close()


def _local(text: str, query: KpiQuery) -> float:
    from omnihub.quality import calendar

    return calendar.parse(text, query.zone_for())


def _end(q: dict[str, str], query: KpiQuery) -> float:
    text = q["to"]
    return when(text) if "+" in text or text.endswith("Z") else _local(text, query)


def _same(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer's figures as an export holds them (the total's key is the word for total)."""
    def row(r: dict[str, Any]) -> dict[str, Any]:
        return {c: (None if r.get(c) is None else r[c] if c == "key" else float(r[c])) for c in COLUMNS}
    return {"rows": [row(r) for r in answer["rows"]], "total": {**row(answer["total"]), "key": "Total"}}
