"""The schedule editor: moving, adding and removing shifts and breaks, each refusal with its code, coverage recounted,
and the route (supervisors only, 409 on a stale base, the new version is the week's newest)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.quality.app import build_app
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.quality.wfm.edits import EditError, ShiftEdit, apply
from omnihub.testkit.ports import free_port

UTC = dt.UTC
CREDENTIALS = Credentials.generate()


def iso(day: int, hh: int, mm: int = 0) -> str:
    return (dt.datetime(2026, 12, 7, tzinfo=UTC) + dt.timedelta(days=day - 7, hours=hh, minutes=mm)).isoformat()


def coverage(queue: str, day: int, hours: range) -> list[dict[str, Any]]:
    return [{"queue": queue, "start": iso(day, h, m), "required": 1, "scheduled": 0} for h in hours for m in (0, 30)]


def schedule() -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "sc_1", "id": "sc_1", "week": "2026-W50", "time_zone": "UTC", "interval_seconds": 1800,
        "coverage": coverage("support", 7, range(8, 12)) + coverage("sales", 7, range(8, 9)),
        "summary": {"lp_bound_hours": 4.0}, "min_rest_hours": 11,
        "agents": [{"id": "alice", "skills": ["support"], "max_hours": 6, "max_days": 2, "days_off": ["sun"],
                    "availability": {"mon": "08:00-14:00"}},
                   {"id": "bob"}],
        "shifts": [{"agent": "alice", "queue": "support", "template": "t", "date": "2026-12-07",
                    "start": iso(7, 8), "end": iso(7, 12),
                    "activities": [{"kind": "work", "start": iso(7, 8), "end": iso(7, 10)},
                                   {"kind": "break", "start": iso(7, 10), "end": iso(7, 10, 30)},
                                   {"kind": "work", "start": iso(7, 10, 30), "end": iso(7, 12)}]}]}
    return doc


def edit(**kw: Any) -> ShiftEdit:
    return ShiftEdit.model_validate({"base": "sc_1", "action": "set", "agent": "alice", "date": "2026-12-07", **kw})


def scheduled(doc: dict[str, Any], queue: str = "support") -> list[int]:
    return [c["scheduled"] for c in doc["coverage"] if c["queue"] == queue]


def test_move_add_and_remove_recount_the_coverage() -> None:
    doc = schedule()
    moved, before, after = apply(doc, edit(start="09:00", end="13:00",
                                           pauses=[{"kind": "lunch", "start": "11:00", "end": "11:30"}]), UTC)
    assert before is not None and before["start"] == iso(7, 8) and doc["shifts"][0] == before  # input untouched
    assert after is not None and [a["kind"] for a in after["activities"]] == ["work", "lunch", "work"]
    assert scheduled(moved) == [0, 0, 1, 1, 1, 1, 0, 1]  # 08:00-09:00 uncovered now, lunch at 11:00
    assert [u["start"][11:16] for u in moved["uncovered"] if u["queue"] == "support"] == ["08:00", "08:30", "11:00"]
    assert moved["summary"] | {} == moved["summary"] and moved["summary"]["agent_hours"] == 4.0
    assert moved["summary"]["intervals_covered"] == 5 and moved["summary"]["coverage"] == 0.5  # of 10 needing agents
    added, none, bob = apply(moved, edit(agent="bob", start="08:00", end="09:00", queue="sales"), UTC)
    assert none is None and bob is not None and scheduled(added, "sales") == [1, 1]
    assert added["summary"]["agents"] == 2 and added["summary"]["agent_hours"] == 5.0
    assert added["summary"]["hours_over_lp_bound"] == 0.25
    removed, gone, _ = apply(added, edit(action="remove"), UTC)
    assert gone is not None and gone["agent"] == "alice" and scheduled(removed) == [0] * 8
    assert [s["agent"] for s in removed["shifts"]] == ["bob"]
    across, _, moved_shift = apply(doc, edit(date="2026-12-08", from_date="2026-12-07", start="08:00", end="10:00"),
                                   UTC)
    assert [s["date"] for s in across["shifts"]] == ["2026-12-08"] and scheduled(across) == [0] * 8
    assert moved_shift is not None and moved_shift["end"] == iso(8, 10)


@pytest.mark.parametrize(("change", "code", "words"), [
    ({"start": "08:15", "end": "12:00"}, "grid", "30-minute grid"),
    ({"start": "12:00", "end": "08:00"}, "length", "at most 14 hours"),  # 20 hours over midnight
    ({"start": "08:00", "end": "12:00", "pauses": [{"kind": "break", "start": "11:30", "end": "12:30"}]}, "pause",
     "inside the shift"),
    ({"start": "07:00", "end": "11:00"}, "availability", "available on Monday 08:00-14:00 only"),
    ({"date": "2026-12-13", "start": "08:00", "end": "10:00"}, "day_off", "day off of alice"),
    ({"date": "2026-12-08", "start": "08:00", "end": "11:00"}, "max_hours", "would work 7 hours this week"),
    ({"queue": "sales", "start": "08:00", "end": "10:00"}, "skill", "does not serve sales"),
    ({"queue": "billing", "start": "08:00", "end": "10:00"}, "queue", "staffs sales, support, not billing"),
    ({"agent": "zoe", "start": "08:00", "end": "10:00"}, "unknown_agent", "zoe is not in this week's plan"),
    ({"date": "2026-12-14", "start": "08:00", "end": "10:00"}, "week", "not in 2026-W50"),
    ({"agent": "bob", "action": "remove"}, "no_shift", "bob has no shift on 2026-12-07"),
    ({"start": "", "end": "10:00"}, "times", "needs a start and an end"),
])
def test_refusals_say_why(change: dict[str, Any], code: str, words: str) -> None:
    with pytest.raises(EditError) as caught:
        apply(schedule(), edit(**change), UTC)
    assert caught.value.code == code and words in str(caught.value), str(caught.value)


def test_contract_days_one_shift_a_day_and_overlap_with_a_shift_over_midnight() -> None:
    doc, _, _ = apply(schedule(), edit(date="2026-12-08", start="08:00", end="09:00"), UTC)  # alice: 5 h, 2 days
    with pytest.raises(EditError, match="would work 3 days this week; the contract allows at most 2"):
        apply(doc, edit(date="2026-12-09", start="08:00", end="08:30"), UTC)
    with pytest.raises(EditError, match="already has a shift on 2026-12-07"):
        apply(doc, edit(date="2026-12-07", from_date="2026-12-08", start="13:00", end="14:00"), UTC)
    night = schedule()
    night["shifts"][0] |= {"start": iso(7, 22), "end": iso(8, 2), "agent": "bob",
                           "activities": [{"kind": "work", "start": iso(7, 22), "end": iso(8, 2)}]}
    with pytest.raises(EditError, match=r"bob already works 22:00-02:00 on 2026-12-07") as caught:
        apply(night, edit(agent="bob", date="2026-12-08", start="01:00", end="03:00"), UTC)
    assert caught.value.params == {"agent": "bob", "date": "2026-12-07", "start": "22:00", "end": "02:00"}


def test_a_shift_over_midnight_with_its_break_after_midnight_and_the_rest_between_shifts() -> None:
    doc, _, night = apply(schedule(), edit(agent="bob", start="22:00", end="02:00",
                                           pauses=[{"kind": "break", "start": "00:30", "end": "01:00"}]), UTC)
    assert night is not None and (night["start"], night["end"]) == (iso(7, 22), iso(8, 2))
    assert [(a["kind"], a["start"][11:16], a["end"][11:16]) for a in night["activities"]] == [
        ("work", "22:00", "00:30"), ("break", "00:30", "01:00"), ("work", "01:00", "02:00")]
    assert doc["summary"]["agent_hours"] == 8.0  # alice 4 + bob 4
    with pytest.raises(EditError, match="would rest only 8 hours after or before the shift of 2026-12-07; the plan "
                                        "asks for 11") as caught:
        apply(doc, edit(agent="bob", date="2026-12-08", start="10:00", end="12:00"), UTC)
    assert caught.value.code == "rest"
    apply(doc, edit(agent="bob", date="2026-12-08", start="13:00", end="15:00"), UTC)  # 11 hours: enough


async def test_the_route_saves_a_new_version_for_supervisors_only(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    runner = web.AppRunner(build_app(KpiQuery(store, {}), CREDENTIALS))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}/api/wfm/schedules"
    sam = CREDENTIALS.headers(QUALITY_AUDIENCE, Actor("sam", "supervisor"))
    alice = CREDENTIALS.headers(QUALITY_AUDIENCE, Actor("alice", "agent"))
    need = [0] * 336
    need[16:24] = [1] * 8  # Monday 08:00-12:00
    plan = {"week": "2026-W50", "requirement": {"support": need}, "seconds": 10,
            "templates": [{"name": "morning", "starts": ["08:00"], "minutes": 240}],
            "agents": [{"id": "alice", "max_hours": 6}, {"id": "bob", "max_hours": 4}]}
    try:
        async with aiohttp.ClientSession() as http:
            made = await http.post(base, json=plan, headers=sam)
            assert made.status == 201, await made.text()
            first = await made.json()
            who = first["shifts"][0]["agent"]
            other = "bob" if who == "alice" else "alice"
            change = {"base": first["id"], "action": "set", "agent": other, "date": "2026-12-07", "start": "08:00",
                      "end": "10:00"}
            assert (await http.post(f"{base}/2026-W50/edits", json=change, headers=alice)).status == 403
            assert (await http.post(f"{base}/2026-W51/edits", json=change, headers=sam)).status == 404
            bad = await http.post(f"{base}/2026-W50/edits", json={**change, "start": "08:10"}, headers=sam)
            assert bad.status == 400 and (await bad.json())["code"] == "grid"
            assert (await http.post(f"{base}/2026-W50/edits", json={**change, "date": "x"}, headers=sam)).status == 400
            saved = await http.post(f"{base}/2026-W50/edits", json=change, headers=sam)
            assert saved.status == 201, await saved.text()
            answer = await saved.json()
            assert answer["before"] is None and answer["after"]["agent"] == other
            assert answer["schedule"]["based_on"] == first["id"] and answer["schedule"]["edited_by"] == "sam"
            newest = await (await http.get(f"{base}/2026-W50", headers=sam)).json()
            assert newest["id"] == answer["schedule"]["id"] and newest["summary"]["agent_hours"] == 6.0
            assert [c["scheduled"] for c in newest["coverage"][16:24]] == [2, 2, 2, 2, 1, 1, 1, 1]
            stale = await http.post(f"{base}/2026-W50/edits", json=change, headers=sam)
            assert stale.status == 409 and (await stale.json())["code"] == "stale"
            mine = await (await http.get(f"{base}/2026-W50", headers=alice)).json()
            assert [a["id"] for a in mine["agents"]] == ["alice"]  # contracts: only the agent's own
    finally:
        await runner.cleanup()
        await store.close()
