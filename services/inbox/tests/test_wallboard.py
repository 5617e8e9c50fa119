"""The wallboard's figures from the router's and quality's answers: "—" (null) with nothing answered, alerts, intervals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2 as R
from omnihub.inbox import teams
from omnihub.inbox.wallboard import build, in_scope, interval_figures, load_config, merge_intervals
from omnihub.inbox.wallboard_models import WallboardConfig

NOW = dt.datetime(2026, 3, 2, 9, 40, 5, tzinfo=dt.UTC).timestamp()  # 17:40 in Shanghai


def stats(queue: str, waiting: int = 0, longest: float = 0.0, target: float = 0.8) -> R.QueueStats:
    return R.QueueStats(queue=queue, waiting=waiting, longest_wait=Duration(seconds=int(longest)),
                        service_level_target=target, service_level_threshold_seconds=20,
                        agents_by_state={"AVAILABLE": 1, "AWAY": 1}, open_now=True,
                        service_level_today=1.0)  # the router's own UTC-day figure is not what the board shows


def answer(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"from": "2026-03-02T00:00:00+08:00", "to": "2026-03-03T00:00:00+08:00", "time_zone": "Asia/Shanghai",
            "rows": rows, "total": {}}


SUPPORT = {"key": "support", "offered": 4, "answered": 2, "abandoned": 2, "service_level_b": 0.5, "asa": 20.0,
           "abandonment_rate": 0.5}
SALES = {"key": "sales", "offered": 1, "answered": 0, "abandoned": 1, "service_level_b": None, "asa": None,
         "abandonment_rate": 1.0}


def board(config: WallboardConfig | None = None, by_queue: dict[str, Any] | None = None,
          queues: list[R.QueueStats] | None = None) -> Any:
    agents = R.ListAgentsResponse(agents=[
        R.Agent(id="bob", display_name="Bob Li", state=R.AGENT_STATE_AWAY, state_reason="break",
                state_time=Timestamp(seconds=int(NOW) - 75), queues=["support"]),
        R.Agent(id="alice", display_name="Alice Chen", state=R.AGENT_STATE_BUSY,
                state_time=Timestamp(seconds=int(NOW) - 10), conversation_ids=["cnv_1", "cnv_gone"])])
    convs = R.ListConversationsResponse(conversations=[
        R.Conversation(id="cnv_1", channel=contact_pb2.CHANNEL_SMS, queue="support",
                       routing_state=R.ROUTING_STATE_ASSIGNED)])
    by_agent = answer([{"key": "alice", "occupancy": 0.75, "handled": 3}])
    by_interval = answer([{"key": "2026-03-02T01:15:00Z", "offered": 2, "answered": 1, "abandoned": 1,
                           "service_level_b": 1.0}])
    return build(R.GetQueueStatsResponse(stats=queues or [stats("support"), stats("sales")]), agents, convs,
                 answer([SUPPORT, SALES]) if by_queue is None else by_queue, by_agent, by_interval,
                 config or WallboardConfig(), NOW)


def test_service_level_is_todays_from_the_rollups_and_null_with_nothing_answered() -> None:
    b = board()
    support, sales = b.queues
    assert (support.service_level, support.asa_seconds, support.abandonment_rate) == (0.5, 20.0, 0.5)
    assert (sales.service_level, sales.asa_seconds, sales.answered) == (None, None, 0)  # never the router's 1.0
    assert b.model_dump(mode="json")["queues"][1]["service_level"] is None
    assert b.time_zone == "Asia/Shanghai" and b.day_start == "2026-03-02T00:00:00+08:00"


def test_a_queue_without_contacts_today_is_zero_offered_and_null_service_level() -> None:
    b = board(by_queue=answer([SUPPORT]))
    sales = b.queues[1]
    assert (sales.offered, sales.answered, sales.service_level, sales.abandonment_rate) == (0, 0, None, None)


def test_without_quality_todays_figures_are_null_and_said_so() -> None:
    b = build(R.GetQueueStatsResponse(stats=[stats("support")]), R.ListAgentsResponse(),
              R.ListConversationsResponse(), None, None, None, WallboardConfig(), NOW)
    q = b.queues[0]
    assert not b.rollups_available and b.intervals == []
    assert (q.offered, q.service_level, q.asa_seconds, q.abandonment_rate) == (None, None, None, None)


def test_alerts_for_a_service_level_under_target_and_a_wait_over_the_limit() -> None:
    config = WallboardConfig.model_validate({"alerts": {"longest_wait_seconds": 60,
                                                        "queues": {"sales": {"longest_wait_seconds": 30}}}})
    b = board(config, queues=[stats("support", waiting=1, longest=45), stats("sales", waiting=2, longest=31)])
    support, sales = b.queues
    assert support.alerts == ["service_level"]  # 50% < 80%; 45 s is under support's 60 s
    assert sales.alerts == ["longest_wait"] and sales.longest_wait_limit_seconds == 30  # no SL alert: nothing answered
    assert [(a.queue, a.kind, a.value, a.limit) for a in b.alerts] == [
        ("sales", "longest_wait", 31.0, 30.0), ("support", "service_level", 0.5, 0.8)]


def test_service_level_alerts_can_wait_for_enough_answers_or_be_off() -> None:
    assert board(WallboardConfig.model_validate({"alerts": {"service_level_min_answered": 3}})).alerts == []
    off = {"alerts": {"queues": {"support": {"service_level_alert": False}}}}
    assert board(WallboardConfig.model_validate(off)).alerts == []


def test_agents_state_reason_since_work_and_occupancy() -> None:
    alice, bob = board().agents  # by name
    assert (alice.state, alice.state_since, alice.occupancy, alice.handled) == ("BUSY", int(NOW) - 10, 0.75, 3)
    assert [(w.id, w.channel, w.queue, w.state) for w in alice.work] == [("cnv_1", "sms", "support", "assigned")]
    assert (bob.state, bob.reason, bob.occupancy, bob.handled) == ("AWAY", "break", None, 0)


def test_every_interval_of_today_up_to_now_from_the_centers_midnight() -> None:
    iv = board().intervals
    assert iv[0].start == "2026-03-01T16:00:00Z"  # Shanghai's midnight
    assert iv[-1].start == "2026-03-02T09:30:00Z" and len(iv) == 4 * 17 + 3
    filled = next(i for i in iv if i.start == "2026-03-02T01:15:00Z")
    assert (filled.offered, filled.answered, filled.abandoned, filled.service_level) == (2, 1, 1, 1.0)
    assert iv[0].service_level is None and iv[0].offered == 0


def test_the_config_file_with_defaults_and_refusals(tmp_path: Path) -> None:
    assert load_config(tmp_path / "missing.yaml") == WallboardConfig()
    path = tmp_path / "wallboard.yaml"
    path.write_text("alerts:\n  queues:\n    sales: {longest_wait_seconds: 45}\n")
    config = load_config(path)
    assert config.alerts.longest_wait_for("sales") == 45 and config.alerts.longest_wait_for("support") == 120
    path.write_text("alerts: {longest_wait: 45}\n")  # a misspelt key is refused, not ignored
    with pytest.raises(SystemExit):
        load_config(path)


def test_the_demo_file_loads() -> None:
    config = load_config(Path(__file__).parents[3] / "config" / "demo" / "wallboard.yaml")
    assert config.refresh_seconds == 5 and config.alerts.longest_wait_for("sales") == 90


VECTORS = sorted((Path(__file__).resolve().parents[3] / "tests" / "kpis").glob("*.yaml"))
FIGURES = {"offered": "offered", "answered": "answered", "abandoned": "abandoned", "service_level_b": "service_level",
           "asa": "asa_seconds", "abandonment_rate": "abandonment_rate"}


def test_the_kpi_vectors_by_queue_read_through_the_board_unchanged() -> None:
    """Each vector's rows by queue (what quality answers, tests/kpis) become the board's figures one to one; a queue
    with nothing answered keeps service level and ASA null."""
    checked = 0
    for path in VECTORS:
        vector = yaml.safe_load(path.read_text())
        for spec in vector["queries"]:
            if spec["query"].get("group_by") != "queue" or not spec["rows"]:
                continue
            rows = [{"key": q, **expected} for q, expected in spec["rows"].items()]
            b = build(R.GetQueueStatsResponse(stats=[stats(q) for q in spec["rows"]]), R.ListAgentsResponse(),
                      R.ListConversationsResponse(), answer(rows), None, None, WallboardConfig(), NOW)
            shown = {q.queue: q.model_dump(mode="json") for q in b.queues}
            for queue, expected in spec["rows"].items():
                for figure, field in FIGURES.items():
                    if figure in expected:
                        assert shown[queue][field] == expected[figure], f"{path.stem} {queue} {figure}"
                        checked += 1
    assert checked >= 20


def test_a_supervisors_team_sees_its_queues_and_agents_and_their_intervals_added_up() -> None:
    scope = teams.Scope(frozenset({"alice"}), frozenset({"support"}))
    queues, agents = in_scope(scope, R.GetQueueStatsResponse(stats=[stats("support"), stats("sales")]),
                              R.ListAgentsResponse(agents=[R.Agent(id="alice"), R.Agent(id="bob")]))
    assert [s.queue for s in queues.stats] == ["support"] and [a.id for a in agents.agents] == ["alice"]
    everything = in_scope(teams.Scope(None), queues, agents)
    assert everything == (queues, agents)
    # quality keys intervals in each queue's local time with its offset: one instant, two spellings
    merged = merge_intervals([
        answer([{"key": "2026-03-02T09:15:00+08:00", "offered": 3, "answered": 2, "abandoned": 1, "answered_within": 2}]),
        answer([{"key": "2026-03-02T01:15:00+00:00", "offered": 2, "answered": 2, "abandoned": 0, "answered_within": 0},
                {"key": "2026-03-02T01:30:00+00:00", "offered": 1, "answered": 0, "abandoned": 1, "answered_within": 0}]),
        None])
    assert merged is not None and merged["from"] == "2026-03-02T00:00:00+08:00"
    first, second = merged["rows"]
    assert (first["key"], second["key"]) == ("2026-03-02T01:15:00Z", "2026-03-02T01:30:00Z")
    assert (first["offered"], first["answered"], first["abandoned"], first["service_level_b"]) == (5, 4, 1, 0.5)
    assert second["service_level_b"] is None  # nothing answered: null, not 100%
    assert merge_intervals([None]) is None


def test_adherence_per_agent_and_alerts_over_the_configured_minutes_of_the_boards_agents_only() -> None:
    agents = R.ListAgentsResponse(agents=[R.Agent(id="bob", display_name="Bob Li"), R.Agent(id="alice")])
    by_agent = answer([{"key": "alice", "occupancy": 0.75, "handled": 3, "adherence": 0.9583, "conformance": 0.9524},
                       {"key": "bob", "handled": 0, "adherence": None, "conformance": None}])
    alerts = [{"agent": "bob", "since": "2026-03-02T17:30:00+08:00", "minutes": 10.1, "scheduled": "work",
               "state": "OFFLINE"},
              {"agent": "alice", "since": "2026-03-02T17:20:00+08:00", "minutes": 20.1, "scheduled": "lunch",
               "state": "AVAILABLE"},
              {"agent": "carol", "since": "2026-03-02T17:00:00+08:00", "minutes": 40.1, "scheduled": "work",
               "state": "OFFLINE"}]  # another team's agent: not on this board
    config = WallboardConfig.model_validate({"alerts": {"adherence_minutes": 7.5}})
    b = build(R.GetQueueStatsResponse(), agents, R.ListConversationsResponse(), answer([]), by_agent, None, config,
              NOW, alerts)
    figures = {a.id: (a.adherence, a.conformance) for a in b.agents}
    assert figures == {"alice": (0.9583, 0.9524), "bob": (None, None)}
    assert [(a.agent, a.name, a.minutes, a.limit_minutes, a.scheduled, a.state) for a in b.adherence_alerts] == [
        ("alice", "alice", 20.1, 7.5, "lunch", "AVAILABLE"), ("bob", "Bob Li", 10.1, 7.5, "work", "OFFLINE")]
    off = WallboardConfig.model_validate({"alerts": {"adherence_alert": False}})
    assert build(R.GetQueueStatsResponse(), agents, R.ListConversationsResponse(), None, None, None, off, NOW,
                 alerts).adherence_alerts == []
    assert build(R.GetQueueStatsResponse(), agents, R.ListConversationsResponse(), None, None, None, config, NOW,
                 None).adherence_alerts == []  # quality did not answer
    with pytest.raises(ValueError):
        WallboardConfig.model_validate({"alerts": {"adherence_minutes": 0}})


def test_the_interval_charts_read_qualitys_local_interval_keys() -> None:
    """Quality answers "today by interval" keyed in the center's local time with its offset (a Shanghai center's
    09:15 is 01:15 UTC): each figure lands on its interval, empty ones are zeros with service level null."""
    rows = [{"key": "2026-03-02T09:15:00+08:00", "offered": 2, "answered": 1, "abandoned": 1, "service_level_b": 1.0}]
    now = dt.datetime(2026, 3, 2, 1, 40, tzinfo=dt.UTC).timestamp()
    figures = {f.start: f for f in interval_figures(answer(rows), now, 15)}
    assert len(figures) == 4 * 9 + 3  # 16:00 UTC the day before (local midnight) up to 01:30 UTC
    shown = figures["2026-03-02T01:15:00Z"]
    assert (shown.offered, shown.answered, shown.abandoned, shown.service_level) == (2, 1, 1, 1.0)
    empty = figures["2026-03-02T01:00:00Z"]
    assert (empty.offered, empty.answered, empty.service_level) == (0, 0, None)
