"""The requirement's queueing model: Erlang A where the customers' patience is known, Erlang C otherwise."""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from zoneinfo import ZoneInfo

import pytest

from omnihub.erlang import predict_erlang_a
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.quality.wfm.models import Agent, ChannelRule, ScheduleBody, ShiftTemplate
from omnihub.quality.wfm.patience import MIN_ABANDONS, estimate
from omnihub.quality.wfm.schedule import ScheduleError
from omnihub.quality.wfm.service import WfmService
from omnihub.quality.wfm.staffing import ChannelDemand, blended, deferred_workload, live_agents, requirement
from omnihub.quality.wfm.store import WfmStore


@pytest.mark.parametrize("agents", [1, 8, 10, 12])
def test_erlang_a_gives_the_exact_values_when_patience_equals_the_handle_time(agents: int) -> None:
    # With patience = AHT every customer in the system leaves at the same rate, wherever it is: the number in
    # the system is Poisson(A) (an M/M/inf queue), so P(wait) = P(K >= N) and P(abandon) = E[(K - N)+] / A.
    traffic = 10.0

    def poisson(k: int) -> float:
        return math.exp(-traffic + k * math.log(traffic) - math.lgamma(k + 1))

    pred = predict_erlang_a(100, 1800, 180, agents, 20, patience=180)
    assert pred.model == "erlang_a"
    assert pred.probability_wait == pytest.approx(1 - sum(poisson(k) for k in range(agents)), abs=1e-9)
    assert pred.abandonment == pytest.approx(sum((k - agents) * poisson(k) for k in range(agents, 120)) / traffic,
                                             abs=1e-9)


def test_the_requirement_uses_erlang_a_when_patience_is_known() -> None:
    # 100 calls in 30 minutes, AHT 180 s, 80/20 (the Erlang C textbook case: 14 agents). Customers who hang up
    # after 2 minutes on average leave the queue shorter: 11 agents reach 80 % answered within 20 s.
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0) == [14]
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0, patience=120) == [11]
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0, patience=60) == [10]
    # very patient customers: Erlang A is Erlang C
    assert requirement([100.0], [180.0], 1800, 0.8, 20, max_occupancy=1.0, patience=1e7) == [14]


def test_patience_is_estimated_from_waits_and_abandons_of_a_simulated_queue() -> None:
    rng = random.Random(5)
    lam, aht, agents, patience = 1 / 12, 180.0, 14, 90.0
    free_at, t = [0.0] * agents, 0.0
    waited_answered = waited_abandoned = 0.0
    abandons = 0
    for _ in range(20_000):
        t += rng.expovariate(lam)
        give_up = rng.expovariate(1 / patience)
        start = max(t, free_at[0])
        if start - t > give_up:
            waited_abandoned += give_up
            abandons += 1
            continue
        waited_answered += start - t
        heapq.heapreplace(free_at, start + rng.expovariate(1 / aht))
    assert abandons > 500
    assert estimate(waited_answered, waited_abandoned, abandons) == pytest.approx(patience, rel=0.1)
    assert estimate(1000.0, 500.0, MIN_ABANDONS - 1) is None  # too few abandons: patience unknown


def test_chats_are_sized_as_slots_and_shared_by_concurrent_agents() -> None:
    # 100 chats in 30 minutes holding a slot 180 s each need 14 slots at 80/20 (Erlang C); 3 chats an agent: 5
    assert live_agents([100.0, 0.0], [180.0, 180.0], 1800, 0.8, 20, 1.0, concurrency=3) == [5, 0]
    assert live_agents([100.0], [180.0], 1800, 0.8, 20, 1.0, concurrency=1) == [14]


def test_deferred_work_is_spread_over_its_response_time() -> None:
    # 10 e-mails of 6 minutes in the first half hour, answered within 2 hours: 2 agent-intervals of work at
    # 85 % occupancy over the 4 intervals from its arrival; what arrives at the end of the horizon stays there
    work = deferred_workload([10.0, 0, 0, 0, 0, 5.0], [360.0] * 6, 1800, 7200, 0.85)
    assert work[:4] == pytest.approx([2 / 0.85 / 4] * 4) and work[4] == 0.0
    assert work[5] == pytest.approx(1 / 0.85)
    # a response time shorter than an interval: the interval's own work
    assert deferred_workload([10.0], [360.0], 1800, 600, 1.0) == pytest.approx([2.0])


def test_channels_are_summed_into_agents_per_interval_before_shrinkage() -> None:
    voice = ChannelDemand("voice", [100.0, 0.0], [180.0, 180.0])
    chat = ChannelDemand("webchat", [100.0, 0.0], [180.0, 180.0], concurrency=3)
    mail = ChannelDemand("email", [10.0, 0.0], [360.0, 360.0], response_seconds=3600)
    need, parts = blended([voice, chat, mail], 1800, shrinkage=0.2, max_occupancy=1.0)
    assert parts == {"voice": [14.0, 0.0], "webchat": [5.0, 0.0], "email": [1.0, 1.0]}
    assert need == [25, 2]  # ceil((14 + 5 + 1) / 0.8), ceil(1 / 0.8)
    with pytest.raises(ValueError, match="does not cover the same intervals"):
        blended([voice, ChannelDemand("sms", [1.0], [60.0])], 1800)


async def test_the_schedule_takes_its_requirement_from_each_channels_forecast(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    monday = dt.datetime(2026, 12, 7, tzinfo=dt.UTC).timestamp()
    try:
        wfm = WfmService(KpiQuery(store, {"support": (0.8, 20.0)}), WfmStore(store))
        await wfm.store.setup()
        for channel, arrivals, aht in (("voice", 100.0, 180.0), ("webchat", 100.0, 180.0), ("email", 10.0, 360.0),
                                       ("", 210.0, 190.0)):
            rows = [{"start": "", "arrivals": arrivals if (i % 48) == 20 else 0.0, "aht": aht} for i in range(336)]
            await wfm.store.add_forecast({"_id": f"fc_{channel or 'all'}", "queue": "support", "channel": channel,
                                          "created": monday - 86_400, "from": monday, "to": monday + 7 * 86_400,
                                          "interval_seconds": 1800, "intervals": rows})
        rules = [ChannelRule(channel="voice"), ChannelRule(channel="webchat", concurrency=3),
                 ChannelRule(channel="email", response_seconds=3600)]
        detail = await wfm.requirement_detail("support", "2026-W50", 1800, max_occupancy=1.0, channels=rules)
        assert detail["model"] == "per_channel" and detail["agents"][20:23] == [20, 1, 0]
        assert detail["channels"]["voice"]["model"] == "erlang_c"  # no abandons stored: patience unknown
        assert detail["channels"]["webchat"]["concurrency"] == 3 and detail["channels"]["webchat"]["peak_agents"] == 5
        assert detail["channels"]["email"] | {"forecast_id": ""} == {
            "model": "deferred", "response_seconds": 3600, "concurrency": 1, "forecast_id": "", "peak_agents": 1.0,
            "agent_hours": 7.0}
        body = ScheduleBody(week="2026-W50", templates=[ShiftTemplate(name="day", starts=["08:00"], minutes=480)],
                            agents=[Agent(id="alice")], channels=rules, max_occupancy=1.0, seconds=1)
        planned = await wfm.schedule(body, save=False)
        assert planned["requirement"]["support"]["model"] == "per_channel"
        assert [c["required"] for c in planned["coverage"]][20:23] == [20, 1, 0]
        # the all-channel forecast stays the default
        assert (await wfm.requirement_detail("support", "2026-W50", 1800))["forecast_id"] == "fc_all"
        with pytest.raises(ScheduleError, match=r"forecast of support/sms covers 2026-W50.*--channel sms"):
            await wfm.requirement_detail("support", "2026-W50", 1800, channels=[ChannelRule(channel="sms")])
    finally:
        await store.close()


async def test_last_week_s_night_shift_covers_monday_morning_and_delays_the_first_start(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    try:
        wfm = WfmService(KpiQuery(store, {}), WfmStore(store))
        await wfm.store.setup()
        night = {"kind": "work", "start": "2026-12-06T22:00:00+00:00", "end": "2026-12-07T06:00:00+00:00"}
        await wfm.store.add_schedule({"_id": "sc_w49", "week": "2026-W49", "created_epoch": 1.0, "shifts": [
            {"agent": "alice", "queue": "support", "date": "2026-12-06", "start": night["start"], "end": night["end"],
             "activities": [night]}]})
        need = [1] * 28 + [0] * 308  # Monday 00:00-14:00
        body = ScheduleBody(week="2026-W50", requirement={"support": need}, agents=[Agent(id="alice")], seconds=5,
                            templates=[ShiftTemplate(name="day", starts=["06:00", "17:00"], minutes=480)])
        planned = await wfm.schedule(body, save=False)
        assert [c["scheduled"] for c in planned["coverage"][:12]] == [1] * 12  # her night shift, from last week
        assert planned["summary"]["carried_in_agent_hours"] == 6.0
        # 11 hours' rest after 06:00: no 06:00 start on Monday, so 06:00-14:00 stays uncovered
        assert all(s["start"] != "2026-12-07T06:00:00+00:00" for s in planned["shifts"])
        assert planned["summary"]["uncovered_agent_intervals"] == 16
        rested = await wfm.schedule(body.model_copy(update={"min_rest_hours": 0}), save=False)
        assert rested["uncovered"] == []
    finally:
        await store.close()


async def test_the_requirement_of_a_dst_week_takes_the_intervals_its_days_really_have(
        mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    berlin = ZoneInfo("Europe/Berlin")
    monday = dt.datetime(2026, 3, 23, tzinfo=berlin).timestamp()
    try:
        wfm = WfmService(KpiQuery(store, {}, timezone="Europe/Berlin"), WfmStore(store))
        await wfm.store.setup()
        rows = [{"start": dt.datetime.fromtimestamp(monday + i * 1800, berlin).isoformat(),
                 "arrivals": 100.0 if i == 333 else 0.0, "aht": 180.0} for i in range(2 * 336)]
        await wfm.store.add_forecast({"_id": "fc_dst", "queue": "support", "channel": "", "created": monday,
                                      "from": monday, "to": monday + 2 * 336 * 1800, "interval_seconds": 1800,
                                      "intervals": rows})
        need = await wfm.requirement("support", "2026-W13", 1800)
        assert len(need) == 334 and need[333] == 14 and sum(need) == 14  # Sunday 23:30 summer time is the last
        assert rows[333]["start"] == "2026-03-29T23:30:00+02:00"
        after = await wfm.requirement("support", "2026-W14", 1800)  # the next week starts right after it
        assert len(after) == 336 and sum(after) == 0
    finally:
        await store.close()
