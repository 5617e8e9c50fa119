"""Property-based invariants of the engine over random agents, queues and arrivals (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from omnihub.router import engine as eng
from omnihub.router.config import CHANNELS as ROUTER_CHANNELS
from omnihub.router.config import AgentConfig, QueueConfig, Relaxation, RoutingConfig, SkillReq

Arrival = tuple[str, str, int, float]
Scenario = tuple[RoutingConfig, list[Arrival], list[str]]
SKILLS = ["billing", "tech", "sales", "lang_zh"]
CHANNELS = list(ROUTER_CHANNELS)  # every channel the router knows, so the ready indexes are checked on all

skill_req = st.builds(SkillReq, name=st.sampled_from(SKILLS), min_level=st.integers(1, 10))
queue_conf = st.builds(
    QueueConfig,
    name=st.sampled_from(["q0", "q1", "q2"]),
    skills=st.lists(skill_req, max_size=2, unique_by=lambda s: s.name),
    priority=st.integers(0, 5),
    strategy=st.sampled_from(["longest_idle", "most_skilled", "least_occupied", "round_robin"]),
    relaxation=st.just([Relaxation(after_seconds=30, lower_levels_by=3), Relaxation(after_seconds=60, skills=[])]),
)


@st.composite
def scenario(draw: st.DrawFn) -> Scenario:
    queues = draw(st.lists(queue_conf, min_size=1, max_size=3, unique_by=lambda q: q.name))
    names = [q.name for q in queues]
    agents = draw(st.lists(st.builds(
        AgentConfig,
        id=st.text("abcdefgh", min_size=3, max_size=6),
        skills=st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 10), max_size=4),
        queues=st.lists(st.sampled_from(names), min_size=1, unique=True),
        capacity=st.fixed_dictionaries({ch: st.integers(0, 3) for ch in CHANNELS}),
    ), min_size=1, max_size=8, unique_by=lambda a: a.id))
    arrivals = draw(st.lists(st.tuples(
        st.sampled_from(names), st.sampled_from(CHANNELS), st.integers(0, 5), st.floats(0, 100)),
        max_size=40))
    arrivals = [(f"c{i}", q, p, t) for i, (q, _, p, t) in enumerate(arrivals)]  # type: ignore[misc]
    channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=len(arrivals), max_size=len(arrivals)))
    return RoutingConfig(queues=queues, agents=agents), arrivals, channels  # type: ignore[return-value]


def run(config: RoutingConfig, arrivals: list[Arrival], channels: list[str]) -> tuple[eng.Engine, list[eng.Decision]]:
    engine = eng.Engine(config)
    for a in config.agents:
        engine.set_presence(a.id, eng.AVAILABLE, 0.0)
    decisions: list[eng.Decision] = []
    for (cid, queue, prio, t), channel in zip(sorted(arrivals, key=lambda x: x[3]), channels, strict=False):
        engine.enqueue(eng.Waiting(cid, queue, channel, prio, t), t)
        d = engine.route_conversation(cid, t)
        if d:
            decisions.append(d)
    for now in (120.0, 240.0):
        engine.relax(now)
        for agent_id in list(engine.agents):
            decisions.extend(engine.route_agent(agent_id, now))
    return engine, decisions


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_no_agent_above_capacity(data: Scenario) -> None:
    engine, _ = run(*data)
    for agent in engine.agents.values():
        for channel, cap in agent.capacity.items():
            assert agent.used(channel) <= cap
        voice = sum(1 for c in agent.handling.values() if c == "voice")
        assert voice <= 1


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_offers_respect_skills_of_active_step_and_membership(data: Scenario) -> None:
    engine, decisions = run(*data)
    for d in decisions:
        agent = engine.agents[d.agent_id]
        assert d.queue in agent.queues
        assert agent.meets(d.req)


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_never_two_agents_on_one_conversation(data: Scenario) -> None:
    engine, decisions = run(*data)
    ids = [d.conversation_id for d in decisions]
    assert len(ids) == len(set(ids))
    holders: dict[str, str] = {}
    for agent in engine.agents.values():
        for cid in agent.handling:
            assert cid not in holders
            holders[cid] = agent.id
    assert not set(holders) & set(engine.waiting)


@settings(max_examples=150, deadline=None)
@given(scenario())
def test_everything_ends_assigned_or_waiting_without_eligible_agent(data: Scenario) -> None:
    engine, decisions = run(*data)
    _config, arrivals, _ = data
    assert len(decisions) + len(engine.waiting) == len(arrivals)
    for w in engine.waiting.values():  # nobody who could take it is idle with capacity
        assert not any(engine.eligible(a, w, 240.0) for a in engine.agents.values())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.floats(0, 1000)), min_size=1, max_size=30))
def test_order_kept_within_a_priority(items: list[tuple[int, float]]) -> None:
    config = RoutingConfig(queues=[QueueConfig(name="q")], agents=[
        AgentConfig(id="a", queues=["q"], capacity={"webchat": 1})])
    engine = eng.Engine(config)
    for i, (prio, t) in enumerate(items):
        engine.enqueue(eng.Waiting(f"c{i}", "q", "webchat", prio, t), t)
    engine.set_presence("a", eng.AVAILABLE, 0)
    served = []
    for _ in items:
        (d,) = engine.route_agent("a", 2000)
        served.append(d.conversation_id)
        engine.release("a", d.conversation_id, 2000)
    expected = sorted(range(len(items)), key=lambda i: (-items[i][0], items[i][1], i))
    assert served == [f"c{i}" for i in expected]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["take", "wrap", "drop"]), st.integers(0, 5), st.sampled_from(CHANNELS)),
                max_size=60))
def test_slot_counters_match_the_work_held(ops: list[tuple[str, int, str]]) -> None:
    agent = eng.Agent(id="a", skills={}, queues=frozenset(), capacity={})
    for op, n, channel in ops:
        cid = f"c{n}"
        if op == "take":
            agent.take(cid, channel)
        elif op == "wrap":
            agent.to_wrap(cid)
        else:
            agent.drop(cid)
        for ch in CHANNELS:
            held = [c for c in (*agent.handling.values(), *agent.wrapping.values()) if c == ch]
            assert agent.used(ch) == len(held)
        assert agent.live_calls == sum(1 for c in agent.handling.values() if c == "voice")


@settings(max_examples=150, deadline=None)
@given(scenario(), st.lists(st.tuples(st.sampled_from(["release", "wrap", "away", "back"]), st.integers(0, 39),
                                      st.integers(0, 7)), max_size=40))
def test_ready_indexes_match_can_take(data: Scenario, ops: list[tuple[str, int, int]]) -> None:
    """`ready_on[channel]` (what routing walks instead of asking every agent) always equals the agents
    for whom `can_take(channel)` holds, through offers, wrap-ups, releases and presence changes."""
    engine, _ = run(*data)
    agent_ids = sorted(engine.agents)

    def check() -> None:
        for ch in CHANNELS:
            expected = {a.id for a in engine.agents.values() if a.can_take(ch)}
            assert engine.ready_on.get(ch, set()) == expected
        assert engine.ready == {a.id for a in engine.agents.values() if any(a.can_take(ch) for ch in CHANNELS)}
        assert engine.idle_order == sorted((a.last_idle, a.id) for a in engine.agents.values())

    check()
    for op, conv, who in ops:
        agent_id = agent_ids[who % len(agent_ids)]
        if op == "release":
            engine.release(agent_id, f"c{conv}", 300.0)
        elif op == "wrap":
            engine.wrap(agent_id, f"c{conv}")
        elif op == "away":
            engine.set_presence(agent_id, eng.AWAY, 300.0, "break")
        else:
            engine.set_presence(agent_id, eng.AVAILABLE, 300.0)
            engine.route_agent(agent_id, 300.0)
        check()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 5.0, 7.5, 20.0]), st.booleans(), st.booleans(), st.integers(0, 2)),
                min_size=1, max_size=40),
       st.integers(0, 12))
def test_longest_idle_picks_the_earliest_idle_eligible_agents(agents: list[tuple[float, bool, bool, int]],
                                                             others: int) -> None:
    """The longest_idle shortcut (walking `idle_order`, or sorting when eligible agents are sparse in
    it) ranks exactly as sorting every eligible agent by idle time, then id, would; ties included."""
    configs = [AgentConfig(id=f"a{i:02d}", queues=["q"] if member else ["other"], skills={"tech": level} if level else {},
                           capacity={"webchat": 1}) for i, (_, member, _, level) in enumerate(agents)]
    configs += [AgentConfig(id=f"z{i:02d}", queues=["other"], capacity={"webchat": 1}) for i in range(others * 5)]
    queue = QueueConfig(name="q", skills=[SkillReq(name="tech", min_level=1)], strategy="longest_idle")
    engine = eng.Engine(RoutingConfig(queues=[queue, QueueConfig(name="other")], agents=configs))
    for a in engine.agents.values():
        engine.set_presence(a.id, eng.AVAILABLE, 0.0)
    for i, (idle, _, available, _) in enumerate(agents):
        agent = engine.agents[f"a{i:02d}"]
        engine.set_idle(agent, idle)
        if not available:
            engine.set_presence(agent.id, eng.AWAY, 30.0, "break")
    w = eng.Waiting("c1", "q", "webchat", 0, 30.0)
    engine.enqueue(w, 30.0)
    eligible = sorted((a for a in engine.agents.values() if engine.eligible(a, w, 30.0)),
                      key=lambda a: (a.last_idle, a.id))
    decision = engine.route_conversation("c1", 30.0)
    if not eligible:
        assert decision is None
        return
    assert decision is not None
    assert [c.agent_id for c in decision.candidates] == [a.id for a in eligible[:eng.TOP_CANDIDATES]]
    assert decision.eligible == len(eligible)
    assert engine.idle_order == sorted((a.last_idle, a.id) for a in engine.agents.values())
