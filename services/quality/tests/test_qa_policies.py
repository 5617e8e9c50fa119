"""QA sampling policies from qa.yaml: fractions per queue/channel/agent, a minimum per agent, low CSAT, seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.quality.qa import QaService
from omnihub.quality.qapolicy import DEFAULT, Policy, load_policies
from omnihub.quality.sampling import Candidate, sample_by_rate
from omnihub.quality.store import QualityStore

CANDIDATES = [Candidate(f"c{i:03}", agent, channel, "", queue)
              for i, (agent, queue, channel) in enumerate(
                  [("alice", "support", "sms")] * 40 + [("alice", "sales", "sms")] * 10 + [("bob", "support", "voice")] * 20
                  + [("chen", "support", "sms")] * 4)]


def test_each_conversation_gets_its_agents_queues_or_channels_fraction() -> None:
    policy = Policy(id="focus", days=7, fraction=0.1, queues={"sales": 0.5}, channels={"voice": 0.25},
                    agents={"chen": 1.0})
    picked = sample_by_rate(CANDIDATES, policy.rate, 0, seed=7)
    counts: dict[tuple[str, str], int] = {}
    for c in picked:
        counts[(c.agent_id, c.queue)] = counts.get((c.agent_id, c.queue), 0) + 1
    assert counts == {("alice", "support"): 4, ("alice", "sales"): 5, ("bob", "support"): 5, ("chen", "support"): 4}
    assert sample_by_rate(CANDIDATES, policy.rate, 0, seed=7) == picked  # the seed draws it again
    assert sample_by_rate(CANDIDATES, policy.rate, 0, seed=8) != picked


def test_the_minimum_tops_each_agent_up_but_never_from_an_excluded_queue() -> None:
    policy = Policy(id="p", days=7, fraction=0.0, minimum=3, queues={"support": 0.0, "sales": 0.01})
    picked = sample_by_rate(CANDIDATES, policy.rate, policy.minimum, seed=1)
    by_agent = {a: [c for c in picked if c.agent_id == a] for a in ("alice", "bob", "chen")}
    assert len(by_agent["alice"]) == 3 and {c.queue for c in by_agent["alice"]} == {"sales"}
    assert by_agent["bob"] == [] and by_agent["chen"] == []  # support is never sampled


def test_policies_file(tmp_path: Path) -> None:
    assert load_policies(tmp_path) == {p.id: p for p in DEFAULT}
    (tmp_path / "qa.yaml").write_text("policies:\n - {id: vip, days: 3, fraction: 0.2, minimum: 5, "
                                      "queues: {vip: 1.0}, low_csat: 2}\n")
    [vip] = load_policies(tmp_path).values()
    assert (vip.id, vip.days, vip.minimum, vip.queues, vip.low_csat) == ("vip", 3, 5, {"vip": 1.0}, 2)
    demo = load_policies(Path(__file__).parents[3] / "config" / "demo")
    assert {"daily", "weekly", "focus"} <= set(demo)
    for bad in ("policies: []", "policies:\n - {id: x, days: 0, fraction: 0.1}",
                "policies:\n - {id: x, days: 1, fraction: 0.1, queues: {a: 2}}",
                "policies:\n - {id: x, days: 1, fraction: 0.1, colour: red}",
                "policies:\n - {id: x, days: 1, fraction: 0.1}\n - {id: x, days: 2, fraction: 0.1}"):
        (tmp_path / "qa.yaml").write_text(bad)
        with pytest.raises(SystemExit):
            load_policies(tmp_path)


async def test_low_csat_conversations_are_always_added_with_their_reason(mongo_url: str, mongo_db: str) -> None:
    store = QualityStore(mongo_url, mongo_db)
    try:
        await store.conversations.insert_many([
            {"_id": c.conversation_id, "agent": c.agent_id, "queue": c.queue, "channel": c.channel, "created": 100.0 + i,
             "handled": True} for i, c in enumerate(CANDIDATES)])
        await store.surveys.insert_many([{"_id": "s1", "conversation_id": "c001", "answers": {"csat": 1}},
                                         {"_id": "s2", "conversation_id": "c002", "answers": {"csat": 2}},
                                         {"_id": "s3", "conversation_id": "c003", "answers": {"csat": 5}}])
        qa = QaService(store, None)
        policy = Policy(id="p", days=1, fraction=0.0, queues={"none": 0.0}, low_csat=2)
        picked = await qa.draw_by_policy(0, 1000, policy, seed=3)
        assert sorted((c.conversation_id, why) for c, why in picked) == [("c001", "low_csat"), ("c002", "low_csat")]
        plain = await qa.draw_by_policy(0, 1000, Policy(id="d", days=1, fraction=0.1, minimum=1), seed=3)
        assert {why for _, why in plain} == {"sampled"} and len(plain) == 4 + 1 + 2 + 1  # 10% up, >= 1 per agent
        assert await qa.draw_by_policy(0, 1000, Policy(id="d", days=1, fraction=0.1, minimum=1), seed=3) == plain
    finally:
        await store.client.drop_database(mongo_db)
        await store.close()
