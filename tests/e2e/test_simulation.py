"""Seeded simulations through the real hub: nothing lost, service level as Erlang C predicts, every channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.cli.sim import model
from omnihub.cli.sim.runner import run

# Each runs a compressed scenario through a whole hub for a minute or more. Their figures depend on timing, so
# they run one after another on one xdist worker (make test uses --dist loadgroup), never three hubs at once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("simulation")]


async def test_single_skill_pool_matches_erlang_c(tmp_path: Path) -> None:
    sc = model.single_skill(3.0, 5, 60, minutes=30, speed=30, seed=11)
    result = await run(sc, tmp_path, progress=False)
    (only,) = result["runs"]
    (queue,) = only["queues"]
    assert only["arrivals"] > 50
    assert only["conversations"] == only["arrivals"] and only["lost_or_duplicated"] == 0, only["problems"]
    assert queue["measured"]["handled"] == only["arrivals"]
    assert only["replies_delivered"] == only["replies_expected"] == only["arrivals"]
    measured, predicted = queue["measured"]["service_level"], queue["predicted"]["service_level"]
    assert abs(measured - predicted) <= queue["tolerance"], (measured, predicted, queue["tolerance"])
    assert len(queue["intervals"]) == 2 and sum(s["arrivals"] for s in queue["intervals"]) == only["arrivals"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("<svg") >= 2 and "Erlang C" in page


async def test_every_channel_with_abandonment_loses_nothing(tmp_path: Path) -> None:
    sc = model.Scenario(
        queues=(model.QueueSpec("support"), model.QueueSpec("sales", threshold_seconds=30)),
        agents=(model.AgentGroup("sup", 3, ("support",)), model.AgentGroup("sal", 2, ("sales",))),
        streams=(model.Stream("support", "voice", 1.2, 150, patience_seconds=40),
                 model.Stream("support", "webchat", 1.0, 120, patience_seconds=40),
                 model.Stream("support", "email", 0.4, 120),
                 model.Stream("sales", "sms", 0.8, 60),
                 model.Stream("sales", "telegram", 0.8, 60),
                 model.Stream("sales", "whatsapp", 0.5, 60),
                 model.Stream("sales", "wechat", 0.5, 60)),
        minutes=12, speed=40, seed=4, interval_minutes=6, name="every channel")
    result = await run(sc, tmp_path, progress=False)
    (only,) = result["runs"]
    people = model.customers(sc)
    assert {c.stream.channel for c in people} == {"voice", "webchat", "email", "sms", "telegram", "whatsapp", "wechat"}
    assert only["lost_or_duplicated"] == 0, only["problems"]
    assert only["conversations"] == only["arrivals"] == len(people) and not only["errors"]
    # every customer who was answered on a text channel received the agent's reply on that channel
    assert only["replies_expected"] > 0 and only["replies_delivered"] == only["replies_expected"]
    # the overloaded support queue loses impatient callers and visitors, and quality counts them
    support, sales = only["queues"]
    assert only["abandoned_customers"] > 0
    assert abs(support["measured"]["abandoned"] - only["abandoned_customers"]) <= 1
    assert sales["measured"]["abandoned"] == 0
    handled = support["measured"]["handled"] + sales["measured"]["handled"]
    assert abs(handled - only["answered_customers"]) <= 1
    assert support["predicted"]["model"] == "erlang_c" and support["predicted"]["overloaded"]


async def test_multi_skill_compares_longest_idle_with_most_skilled(tmp_path: Path) -> None:
    sc = model.Scenario(
        queues=(model.QueueSpec("billing", skill="billing"), model.QueueSpec("tech", skill="tech")),
        agents=(model.AgentGroup("bill", 2, ("billing", "tech"), (("billing", 10), ("tech", 2))),
                model.AgentGroup("tech", 2, ("billing", "tech"), (("billing", 2), ("tech", 10))),
                model.AgentGroup("gen", 2, ("billing", "tech"), (("billing", 5), ("tech", 5)))),
        streams=(model.Stream("billing", "sms", 1.2, 90), model.Stream("tech", "sms", 1.0, 120)),
        minutes=10, speed=40, seed=9, proficiency=True, compare=("longest_idle", "most_skilled"))
    result = await run(sc, tmp_path, progress=False)
    idle, skilled = result["runs"]
    assert (idle["strategy"], skilled["strategy"]) == ("longest_idle", "most_skilled")
    for r in (idle, skilled):
        assert r["lost_or_duplicated"] == 0 and r["conversations"] == r["arrivals"], r["problems"]
    for q_idle, q_skilled in zip(idle["queues"], skilled["queues"], strict=True):
        # most_skilled hands each queue's work to its specialists: higher answering skill, shorter handling
        assert q_skilled["answering_skill_level"] > q_idle["answering_skill_level"] + 1
    assert "Comparison" in (tmp_path / "report.html").read_text()
