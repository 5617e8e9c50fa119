"""A seeded simulation through the real hub on every channel: nothing lost, abandonment counted.

The model checks (service level against Erlang C, routing strategies compared) run minutes each and live in
bench/simulation.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.cli.sim import model
from omnihub.cli.sim.runner import run

pytestmark = pytest.mark.slow


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
    page = (tmp_path / "report.html").read_text()  # the report a person reads: charts and the model named
    assert page.count("<svg") >= 2 and "Erlang C" in page and "every channel" in page
