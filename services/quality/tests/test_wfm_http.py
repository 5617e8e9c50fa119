"""Workforce management over quality's HTTP API: supervisors plan, agents read their own shifts, bad input is 400."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.quality.app import build_app
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.testkit.ports import free_port

CREDENTIALS = Credentials.generate()
TEMPLATE = {"name": "early", "starts": ["08:00", "09:00"], "minutes": 240,
            "breaks": [{"minutes": 30, "earliest": 60, "latest": 120}]}


def signed(who: str, role: str) -> dict[str, str]:
    return CREDENTIALS.headers(QUALITY_AUDIENCE, Actor(who, role))


async def test_plan_a_week_over_http_and_agents_see_only_their_own_shifts(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    runner = web.AppRunner(build_app(KpiQuery(store, {}), CREDENTIALS))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}/api/wfm"
    need = [0] * 336
    need[18:24] = [1, 1, 2, 2, 1, 1]  # Monday 09:00-12:00
    body = {"week": "2026-W50", "templates": [TEMPLATE], "requirement": {"support": need}, "seconds": 10,
            "agents": [{"id": "alice"}, {"id": "bob"}, {"id": "carol", "days_off": ["mon"]}]}
    try:
        async with aiohttp.ClientSession() as http:
            sam, alice, bob = signed("sam", "supervisor"), signed("alice", "agent"), signed("bob", "agent")
            early = await http.post(f"{base}/forecasts", json={"queue": "support"}, headers=sam)
            assert early.status == 400 and "at least 3 weeks of history" in await early.text()
            refused = await http.post(f"{base}/schedules", json=body, headers=alice)
            assert refused.status == 403
            for bad, word in (({**body, "week": "2026-50"}, "week"), ({**body, "agents": []}, "agents"),
                              ({**body, "requirement": {"support": [1]}}, "336 values")):
                resp = await http.post(f"{base}/schedules", json=bad, headers=sam)
                assert resp.status == 400 and word in await resp.text(), (word, resp.status)
            made = await http.post(f"{base}/schedules", json=body, headers=sam)
            assert made.status == 201, await made.text()
            plan = await made.json()
            assert plan["uncovered"] == [] and plan["summary"]["agent_hours"] == 8.0  # two 4-hour shifts
            assert {s["agent"] for s in plan["shifts"]} <= {"alice", "bob"}
            mine = await http.get(f"{base}/schedules/2026-W50", headers=alice)
            assert mine.status == 200
            got = await mine.json()
            assert "coverage" not in got and all(s["agent"] == "alice" for s in got["shifts"])
            assert (await http.get(f"{base}/schedules/2026-W50?agent=alice", headers=bob)).status == 403
            team = await (await http.get(f"{base}/schedules/2026-W50", headers=sam)).json()
            assert len(team["shifts"]) == 2 and len(team["coverage"]) == 336
            assert (await http.get(f"{base}/schedules/2026-W51", headers=sam)).status == 404
            assert (await http.get(f"{base}/forecasts/fc_missing", headers=sam)).status == 404
            own = await http.get(f"{base}/adherence?day=2026-12-07", headers=alice)
            assert own.status == 200 and {r["agent"] for r in (await own.json())["agents"]} <= {"alice"}
            assert (await http.get(f"{base}/adherence?agent=alice", headers=bob)).status == 403
            assert (await http.get(f"{base}/adherence?day=monday", headers=sam)).status == 400
            for minutes in ("0", "nan", "x", "1e9"):
                assert (await http.get(f"{base}/adherence/alerts?minutes={minutes}", headers=sam)).status == 400
            assert (await http.get(f"{base}/adherence/alerts", headers=alice)).status == 403
            assert await (await http.get(f"{base}/adherence/alerts?minutes=5", headers=sam)).json() == []
            nothing = await http.get(f"{base}/intraday?queue=support", headers=sam)
            assert nothing.status == 400 and "no forecast of support covers today" in await nothing.text()
    finally:
        await runner.cleanup()
        await store.close()
