"""Forecasts: model chosen by backtest against seasonal naive, bands, holidays, too little history, storage."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from omnihub.quality.queries import KpiQuery
from omnihub.quality.rollups import bucket_id
from omnihub.quality.store import QualityStore, bucket_documents
from omnihub.quality.wfm import synthetic
from omnihub.quality.wfm.forecast import (
    MODELS,
    ForecastError,
    History,
    fill_holidays,
    holt_winters_steady,
    make_forecast,
    wape,
)
from omnihub.quality.wfm.models import Agent, Pause, ScheduleBody, ShiftTemplate
from omnihub.quality.wfm.schedule import ScheduleError
from omnihub.quality.wfm.service import WfmService
from omnihub.quality.wfm.store import WfmStore

STEP = 1800
QUICK = {"holt_winters_steady": holt_winters_steady}  # MSTL costs seconds a fit; one test runs every model
PER_WEEK = 7 * 48
MONDAY = dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp()


def _history(y: np.ndarray, holidays: np.ndarray | None = None) -> History:
    return History(MONDAY, STEP, y, y * 200.0, y.copy(), holidays)


def test_the_chosen_model_beats_seasonal_naive_on_a_week_it_never_saw() -> None:
    y, _ = synthetic.arrivals(5, STEP, seed=3)
    result = make_forecast(_history(y[:-PER_WEEK]), 1)
    assert set(result.backtests) == {"seasonal_naive", "mstl", "holt_winters", "holt_winters_steady"}
    assert result.model != "seasonal_naive" and result.wape <= result.baseline_wape
    actual = y[-PER_WEEK:]
    naive = y[-2 * PER_WEEK:-PER_WEEK]
    assert wape(actual, result.arrivals) < wape(actual, naive)
    inside = np.mean((actual >= result.lower) & (actual <= result.upper))
    assert 0.65 <= inside <= 0.97, inside  # an 80 % band, judged on busy and quiet intervals alike
    assert result.aht == pytest.approx(np.full(PER_WEEK, 200.0))
    assert result.start == MONDAY + 4 * PER_WEEK * STEP
    assert set(MODELS) == {"mstl", "holt_winters", "holt_winters_steady"}


def test_too_little_history_says_how_much_is_needed() -> None:
    y, _ = synthetic.arrivals(2, STEP, seed=1)
    with pytest.raises(ForecastError, match=r"at least 3 weeks of history \(1008 30-minute intervals.*14.0 days"):
        make_forecast(_history(y), 1)
    with pytest.raises(ForecastError, match="weeks must be between 1 and 6"):
        make_forecast(_history(y), 7)


def test_holidays_are_left_out_of_training_and_take_a_manual_uplift() -> None:
    y, _ = synthetic.arrivals(3, STEP, seed=2)
    mask = np.zeros(len(y), bool)
    mask[2 * PER_WEEK:2 * PER_WEEK + 48] = True  # the last Monday was a holiday: nobody called
    closed = y.copy()
    closed[mask] = 0.0
    filled = fill_holidays(closed, mask, PER_WEEK)
    assert np.array_equal(filled[mask], y[PER_WEEK:PER_WEEK + 48])  # the Monday before stands in for it
    plain = make_forecast(_history(y), 1, models=QUICK)
    with_holiday = make_forecast(_history(closed, mask), 1, models=QUICK)
    ignored = make_forecast(_history(closed), 1, models=QUICK)
    monday = slice(0, 48)
    assert with_holiday.arrivals[monday].sum() > 0.9 * plain.arrivals[monday].sum()
    assert ignored.arrivals[monday].sum() < with_holiday.arrivals[monday].sum()
    uplifted = make_forecast(_history(closed, mask), 1, {i: 1.5 for i in range(48, 96)}, QUICK)
    assert uplifted.arrivals[48:96] == pytest.approx(1.5 * with_holiday.arrivals[48:96])
    assert uplifted.arrivals[:48] == pytest.approx(with_holiday.arrivals[:48])


async def test_a_forecast_from_the_rollups_is_stored_and_compared_with_actuals(mongo_url: str, mongo_db: str) -> None:
    y, _ = synthetic.arrivals(4, STEP, seed=5)
    start = MONDAY
    buckets: dict[str, dict[str, int]] = {}
    for i, n in enumerate(y):  # each 30-minute value lands in its first 15-minute rollup slot
        if n:
            t = start + i * STEP
            buckets[bucket_id("s", "q", t, "voice", "support")] = {"offered": int(n), "handled": int(n),
                                                                  "handle_ms": int(n) * 240_000}
            buckets[bucket_id("s", "q", t, "sms", "support")] = {"offered": 1}
    store = QualityStore(mongo_url, mongo_db)
    try:
        await store.rollups.insert_many(bucket_documents(buckets))
        # waits and abandons of the last 4 weeks: patience (40·15 s + 20·30 s) ÷ 20 abandons = 60 s (Erlang A);
        # a 3-second abandon (a misdial) and another queue's abandons do not count
        waits = [{"_id": f"w{i}", "queue": "support", "channel": "voice", "created": start + 600 * i, "answered":
                  start + 600 * i + 15, "wait": 15.0} for i in range(40)]
        waits += [{"_id": f"x{i}", "queue": "support", "channel": "voice", "created": start + 700 * i, "abandoned":
                   start + 700 * i + 30, "abandon_wait": 30.0} for i in range(20)]
        waits += [{"_id": "short", "queue": "support", "created": start, "abandoned": start + 3, "abandon_wait": 3.0}]
        waits += [{"_id": f"o{i}", "queue": "sales", "created": start, "abandoned": start + 9, "abandon_wait": 9.0}
                  for i in range(30)]
        await store.conversations.insert_many(waits)
        wfm = WfmService(KpiQuery(store, {}), WfmStore(store), {"support": [dt.date(2026, 11, 9)]})
        await wfm.store.setup()
        wfm.clock = lambda: start + 3 * PER_WEEK * STEP + 5 * 3600 + 60  # Monday of week 4, 05:01
        with pytest.raises(ForecastError, match=r"at least 3 weeks of history \(2016 15-minute.*there are 0.0 days"):
            await wfm.forecast("sales", weeks=1, history_weeks=3, step=900)
        made = await wfm.forecast("support", weeks=1, history_weeks=3,  # every channel: voice and sms
                                  uplift={dt.date(2026, 11, 24): 2.0})
        assert made["from"] == "2026-11-23T00:00:00+00:00" and made["to"] == "2026-11-30T00:00:00+00:00"
        assert len(made["intervals"]) == PER_WEEK and made["intervals"][20]["aht"] == 240.0
        assert made["wape"] <= made["baseline_wape"]
        tuesday = made["intervals"][48:96]
        assert sum(r["arrivals"] for r in tuesday) > 1.6 * sum(r["arrivals"] for r in made["intervals"][96:144])
        checked = await wfm.accuracy(made["id"])
        assert checked is not None and checked["elapsed_intervals"] == 10  # 00:00 .. 05:00, whole intervals
        week4 = y[3 * PER_WEEK:3 * PER_WEEK + 10]
        assert [r["actual"] for r in checked["intervals"][:10]] == list(week4 + (week4 > 0))
        assert checked["created"].startswith("2026-11-23T05:01")
        assert await wfm.accuracy("fc_missing") is None
        # the schedule's requirement comes from that forecast; two agents are far too few: uncovered, no error
        body = ScheduleBody(week="2026-W48", templates=[ShiftTemplate(
            name="day", starts=["08:00", "12:00"], minutes=480, lunch=Pause(minutes=60, earliest=180, latest=240))],
            agents=[Agent(id="alice"), Agent(id="bob", days_off=["mon"])], seconds=10)
        planned = await wfm.schedule(body)
        assert planned["summary"]["shifts"] == 10 and planned["summary"]["coverage"] < 0.5
        need = await wfm.requirement("support", "2026-W48", STEP)
        assert [c["required"] for c in planned["coverage"]] == need and max(need) >= 10
        assert planned["requirement"]["support"] | {"forecast_id": ""} == {
            "model": "erlang_a", "patience_seconds": 60.0, "patience_source": "measured", "abandons": 20,
            "forecast_id": "", "target": 0.8, "threshold_seconds": 20.0}
        erlang_c = (await wfm.requirement_detail("support", "2026-W48", STEP, patience=1e6))["agents"]
        assert all(a <= c for a, c in zip(need, erlang_c, strict=True)) and sum(need) < sum(erlang_c)
        configured = await wfm.requirement_detail("support", "2026-W48", STEP, patience=600)
        assert configured["patience_source"] == "configured" and configured["patience_seconds"] == 600
        assert len(planned["uncovered"]) == sum(1 for c in planned["coverage"] if c["scheduled"] < c["required"]) > 0
        mine = await wfm.saved_schedule("2026-W48", "bob")
        assert mine is not None and mine["id"] == planned["id"] and len(mine["shifts"]) == 5
        assert all(s["agent"] == "bob" and s["date"] != "2026-11-23" for s in mine["shifts"])
        with pytest.raises(ScheduleError, match="no 30-minute forecast of support covers 2026-W50"):
            await wfm.schedule(body.model_copy(update={"week": "2026-W50"}))
        # intraday: 10 intervals seen, the rest re-scaled and set against the schedule's coverage
        today = await wfm.intraday("support")
        assert today["forecast_id"] == made["id"] and today["schedule_id"] == planned["id"]
        assert ["actual" in r for r in today["intervals"]] == [True] * 10 + [False] * 38
        at_nine = today["intervals"][18]
        assert at_nine["gap"] == at_nine["scheduled"] - at_nine["required"] and at_nine["required"] == need[18]
        # adherence from the router's state events against alice's first shift
        shift = next(s for s in planned["shifts"] if s["agent"] == "alice")
        begin, finish = (dt.datetime.fromisoformat(shift[k]).timestamp() for k in ("start", "end"))
        await store.events.insert_many([
            {"_id": "e1", "kind": "agent_state_changed", "agent": "alice", "time": begin, "to_state": "AVAILABLE"},
            {"_id": "e2", "kind": "agent_state_changed", "agent": "alice", "time": finish, "to_state": "OFFLINE"}])
        lunch = next(a for a in shift["activities"] if a["kind"] == "lunch")
        lunch_start = dt.datetime.fromisoformat(lunch["start"]).timestamp()
        wfm.clock = lambda: lunch_start + 5 * 60
        assert [a for a in await wfm.alerts(5 * 60) if a["agent"] == "alice"] == []  # exactly 5 minutes: not yet
        wfm.clock = lambda: lunch_start + 5 * 60 + 1
        assert ("alice", "lunch", "AVAILABLE") in [(a["agent"], a["scheduled"], a["state"])
                                                   for a in await wfm.alerts(5 * 60)]
        wfm.clock = lambda: finish + 3600
        day = await wfm.adherence(dt.date.fromisoformat(shift["date"]), "alice")
        assert day["agents"] == [{"agent": "alice", "scheduled_seconds": 8 * 3600.0,
                                  "in_adherence_seconds": 7 * 3600.0, "scheduled_work_seconds": 7 * 3600.0,
                                  "worked_seconds": 8 * 3600.0, "adherence": 0.875, "conformance": 1.1429}]
    finally:
        await store.close()
