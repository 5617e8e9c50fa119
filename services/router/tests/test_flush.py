"""Group commit: state and events are written in overlapping stages, yet every caller returns only
once its own events are stored, and each conversation's events keep their order."""

from __future__ import annotations

import asyncio

from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.router import engine as eng

from .conftest import RouterHarness, fake_clock, inbound

ORDER = ["conversation_created", "message_created", "conversation_queued", "routing_decided",
         "conversation_offered"]


async def test_concurrent_intakes_return_after_their_events_are_stored_in_order(harness: RouterHarness) -> None:
    core, bus = harness.core, harness.bus
    await core.set_presence("alice", eng.AVAILABLE)
    await core.set_presence("bob", eng.AVAILABLE)
    messages = [inbound(f"visitor{i}") for i in range(80)]

    async def arrive(i: int) -> None:
        await asyncio.sleep(0.002 * (i % 8))  # spread over several flushes
        await core.intake([messages[i]])
        # its message event is stored already: publishing the same id again is a duplicate
        ack = await bus.js.publish(subjects.event("message", "created"), b"",
                                   headers={subjects.HEADER_MSG_ID: f"evt_in_{messages[i].id}"})
        assert ack.duplicate

    await asyncio.gather(*(arrive(i) for i in range(len(messages))))

    kinds: dict[str, list[str]] = {}
    for evt in await stored_events(bus):
        if evt.conversation_id:
            kinds.setdefault(evt.conversation_id, []).append(evt.WhichOneof("kind") or "")
    assert len(kinds) == 80
    offered = [k for k in kinds.values() if "conversation_offered" in k]
    assert len(offered) == 6  # alice and bob take three web chats each; the rest wait
    for seen in kinds.values():
        ranked = [ORDER.index(k) for k in seen if k in ORDER]
        assert ranked == sorted(ranked), seen
        assert seen[:3] == ORDER[:3]


async def stored_events(bus: Bus) -> list[event_pb2.Event]:
    info = await bus.js.stream_info(subjects.STREAM_EVENTS)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg(subjects.STREAM_EVENTS, seq)
        out.append(event_pb2.Event.FromString(msg.data or b""))
    return out


async def test_routing_decisions_list_the_candidates_best_first_with_their_scores(harness: RouterHarness) -> None:
    core = harness.core
    now = fake_clock(core)
    for agent_id, idle_since in (("alice", 900.0), ("bob", 700.0)):
        await core.set_presence(agent_id, eng.AVAILABLE)
        core.engine.set_idle(core.engine.agents[agent_id], idle_since)
    first, second = inbound("v1"), inbound("v2")
    await core.intake([first, second])  # one batch: bob (idle longest) first, then alice
    third = inbound("v3")
    now[0] = 1_010.0
    await core.intake([third])  # both had new work at 1,000: equal idle times go by id
    why = [core.explain(core.threads[f"webchat:{m.thread_key}"])[0] for m in (first, second, third)]
    assert [d.chosen_agent for d in why] == ["bob", "alice", "alice"]
    assert [[(c.agent_id, c.score, c.detail) for c in d.candidates] for d in why] == [
        [("bob", 300.0, "idle 300s"), ("alice", 100.0, "idle 100s")],
        [("alice", 100.0, "idle 100s"), ("bob", 0.0, "idle 0s")],
        [("alice", 10.0, "idle 10s"), ("bob", 10.0, "idle 10s")],
    ]
    assert all(d.eligible_count == 2 and d.strategy == "longest_idle" for d in why)
