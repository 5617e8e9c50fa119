"""Adherence and conformance as KPIs over quality's HTTP API: by-agent rows and the pooled total over several days,
one agent's own, nulls elsewhere, the same numbers in CSV and XLSX, and the alert threshold with an injected clock."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import aiohttp
from aiohttp import web
from openpyxl import load_workbook

from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.quality.app import build_app
from omnihub.quality.export import COLUMNS
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.quality.wfm.service import WfmService
from omnihub.quality.wfm.store import WfmStore
from omnihub.testkit.ports import free_port

CREDENTIALS = Credentials.generate()
TZ = dt.UTC


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> float:
    """Epoch seconds of December `day` 2026 hh:mm:ss UTC (Monday 7 December is in 2026-W50)."""
    return dt.datetime(2026, 12, day, hh, mm, ss, tzinfo=TZ).timestamp()


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, TZ).isoformat()


def shift(agent: str, day: int, *acts: tuple[str, float, float]) -> dict[str, Any]:
    return {"agent": agent, "queue": "support", "template": "t", "date": f"2026-12-{day:02d}",
            "start": iso(acts[0][1]), "end": iso(acts[-1][2]),
            "activities": [{"kind": k, "start": iso(a), "end": iso(b)} for k, a, b in acts]}


SCHEDULE = {"_id": "sc_kpis", "week": "2026-W50", "created_epoch": at(1, 0), "time_zone": "UTC",
            "interval_seconds": 1800, "coverage": [], "uncovered": [], "shifts": [
                # alice: Monday 09-13 with a break 11:00-11:30, Tuesday 09-10; bob: Monday 09-11, never logged on
                shift("alice", 7, ("work", at(7, 9), at(7, 11)), ("break", at(7, 11), at(7, 11, 30)),
                      ("work", at(7, 11, 30), at(7, 13))),
                shift("alice", 8, ("work", at(8, 9), at(8, 10))),
                shift("bob", 7, ("work", at(7, 9), at(7, 11)))]}
STATES = [("alice", at(7, 9, 10), "AVAILABLE"), ("alice", at(7, 11), "AWAY"), ("alice", at(7, 11, 30), "AVAILABLE"),
          ("alice", at(7, 13), "OFFLINE"), ("alice", at(8, 9), "AVAILABLE"), ("alice", at(8, 10), "OFFLINE")]


def signed(who: str, role: str) -> dict[str, str]:
    return CREDENTIALS.headers(QUALITY_AUDIENCE, Actor(who, role))


async def test_adherence_and_conformance_are_kpis_in_answers_and_exports(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    query = KpiQuery(store, {})
    wfm = WfmService(query, WfmStore(store))
    wfm.clock = lambda: at(9, 12)
    await WfmStore(store).add_schedule(SCHEDULE)
    await store.events.insert_many([{"_id": f"st{i}", "kind": "agent_state_changed", "agent": a, "time": t,
                                     "to_state": s} for i, (a, t, s) in enumerate(STATES)])
    runner = web.AppRunner(build_app(query, CREDENTIALS, wfm=wfm))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}/api"
    window = "from=2026-12-07T00:00:00&to=2026-12-09T00:00:00"
    sam = signed("sam", "supervisor")
    try:
        async with aiohttp.ClientSession() as http:
            answer = await (await http.get(f"{base}/kpis?{window}&group_by=agent", headers=sam)).json()
            rows = {r["key"]: r for r in answer["rows"]}
            # alice: 17,400 of 18,000 scheduled seconds in adherence; worked 15,600 of 16,200 scheduled work seconds
            assert (rows["alice"]["adherence"], rows["alice"]["conformance"]) == (0.9667, 0.963)
            assert (rows["bob"]["adherence"], rows["bob"]["conformance"]) == (0.0, 0.0)  # a row without contacts
            assert rows["bob"]["handled"] == 0
            # the total pools the seconds: 17,400 / 25,200 and 15,600 / 23,400
            assert (answer["total"]["adherence"], answer["total"]["conformance"]) == (0.6905, 0.6667)
            own = await (await http.get(f"{base}/kpis?{window}&agent=alice", headers=signed("alice", "agent"))).json()
            assert (own["total"]["adherence"], own["total"]["conformance"]) == (0.9667, 0.963)
            monday = await (await http.get(f"{base}/kpis?from=2026-12-07T00:00:00&to=2026-12-08T00:00:00&agent=alice",
                                           headers=sam)).json()
            assert (monday["total"]["adherence"], monday["total"]["conformance"]) == (0.9583, 0.9524)
            for other in ("group_by=queue", "group_by=day", "group_by=agent&queue=support"):
                got = await (await http.get(f"{base}/kpis?{window}&{other}", headers=sam)).json()
                assert got["total"]["adherence"] is None and all(r["adherence"] is None for r in got["rows"]), other
            # the exports hold exactly the answer's numbers, in the same columns
            text = await (await http.get(f"{base}/kpis?{window}&group_by=agent&format=csv", headers=sam)).text()
            lines = list(csv.reader(io.StringIO(text)))
            a, c = COLUMNS.index("adherence"), COLUMNS.index("conformance")
            assert (lines[0][a], lines[0][c]) == ("Schedule adherence", "Schedule conformance")
            from_csv = {line[0]: (line[a], line[c]) for line in lines[1:]}
            assert from_csv == {**{k: (str(r["adherence"]), str(r["conformance"])) for k, r in rows.items()},
                                "Total": ("0.6905", "0.6667")}
            xlsx = await (await http.get(f"{base}/kpis?{window}&group_by=agent&format=xlsx&lang=zh-CN",
                                         headers=sam)).read()
            sheet = load_workbook(io.BytesIO(xlsx))["KPIs"]
            cells = [[cell.value for cell in line] for line in sheet.iter_rows()]
            assert (cells[0][a], cells[0][c]) == ("排班遵守率", "排班符合率")
            assert {line[0]: (line[a], line[c]) for line in cells[1:]} == {
                **{k: (r["adherence"], r["conformance"]) for k, r in rows.items()}, "合计": (0.6905, 0.6667)}
            # the wallboard's alert: both are scheduled from 09:00 and offline; 5 minutes exactly is not yet an alert
            wfm.clock = lambda: at(7, 9, 5)
            alerts = f"{base}/wfm/adherence/alerts?minutes=5"
            assert await (await http.get(alerts, headers=sam)).json() == []
            wfm.clock = lambda: at(7, 9, 5, 1)
            assert await (await http.get(alerts, headers=sam)).json() == [
                {"agent": who, "since": "2026-12-07T09:00:00+00:00", "minutes": 5.0, "scheduled": "work",
                 "state": "OFFLINE"} for who in ("alice", "bob")]
            # alice logs on at 09:10: no longer out of adherence; bob still is
            wfm.clock = lambda: at(7, 9, 12)
            assert [x["agent"] for x in await (await http.get(alerts, headers=sam)).json()] == ["bob"]
    finally:
        await runner.cleanup()
        await store.close()
