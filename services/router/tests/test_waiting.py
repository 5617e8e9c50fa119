""""Why still waiting": each reason comes from the router's real state, driven on a fake clock."""

from __future__ import annotations

import pytest

from omnihub.api.routing.v1 import routing_pb2
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore
from omnihub.router.records import RouterError

from .conftest import fake_clock, inbound
from .test_wrap_up import offered_and_accepted

R = routing_pb2
CORE_CONFIG = """
version: 1
defaults:
  reservation_timeout_seconds: {webchat: 600}
  heartbeat_timeout_seconds: 86400
  offer_exclusion_seconds: 60
queues:
  - {name: support, skills: [{name: support, min_level: 1}], wrap_up_seconds: 0}
  - {name: vip, skills: [{name: vip, min_level: 1}], wrap_up_seconds: 0}
  - name: night
    wrap_up_seconds: 0
    business_hours: {time_zone: UTC, weekly: {mon: ["09:00-10:00"]}}
agents:
  - {id: alice, skills: {support: 8}, queues: [support, night], capacity: {webchat: 1}}
  - {id: bob, skills: {support: 5}, queues: [support], capacity: {webchat: 1}}
"""


async def waiting(core: RouterCore, visitor: str, queue: str = "support") -> R.ExplainWaitingResponse:
    await core.intake([inbound(visitor, queue=queue)])
    return core.explain_waiting(core.threads[f"webchat:{visitor}"])


def details(resp: R.ExplainWaitingResponse) -> dict[str, str]:
    return {a.agent_id: a.detail for a in resp.agents}


async def test_no_member_of_the_queue_has_the_skill(core: RouterCore) -> None:
    fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    resp = await waiting(core, "w-vip", "vip")
    assert resp.reason == R.WAITING_REASON_NO_AGENT_WITH_SKILL
    assert (resp.queue, resp.position, resp.agents_with_skill) == ("vip", 1, 0)
    assert [(s.name, s.min_level) for s in resp.required_skills] == [("vip", 1)]


async def test_agents_with_the_skill_exist_but_none_is_logged_in(core: RouterCore) -> None:
    now = fake_clock(core)
    resp = await waiting(core, "w-off")
    assert resp.reason == R.WAITING_REASON_NONE_LOGGED_IN
    assert details(resp) == {"alice": "offline", "bob": "offline"}
    now[0] += 42
    assert core.explain_waiting(resp.conversation_id).waited.seconds == 42


async def test_every_agent_with_the_skill_is_away(core: RouterCore) -> None:
    fake_clock(core)
    await core.set_presence("alice", eng.AWAY, "break")
    await core.set_presence("bob", eng.AWAY, "lunch")
    resp = await waiting(core, "w-away")
    assert resp.reason == R.WAITING_REASON_ALL_AWAY
    assert details(resp) == {"alice": "away: break", "bob": "away: lunch"}
    assert [(a.cause, a.away_reason) for a in resp.agents] == [("away", "break"), ("away", "lunch")]


async def test_every_available_agent_is_at_capacity(core: RouterCore) -> None:
    fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await offered_and_accepted(core, "alice", "w-first")
    resp = await waiting(core, "w-second")
    assert resp.reason == R.WAITING_REASON_ALL_AT_CAPACITY
    assert details(resp) == {"alice": "at capacity 1/1 on webchat", "bob": "offline"}
    assert [(a.cause, a.used, a.max) for a in resp.agents] == [("at_capacity", 1, 1), ("offline", 0, 0)]
    assert [a.state for a in resp.agents] == [R.AGENT_STATE_BUSY, R.AGENT_STATE_OFFLINE]


async def test_the_queue_is_outside_business_hours(core: RouterCore) -> None:
    fake_clock(core)  # 1970-01-01 00:16 UTC, a Thursday: the night queue opens on Mondays only
    await core.set_presence("alice", eng.AVAILABLE)
    resp = await waiting(core, "w-night", "night")
    assert resp.reason == R.WAITING_REASON_QUEUE_CLOSED
    assert details(resp) == {"alice": "free"}


async def test_held_for_the_agent_it_was_transferred_to(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.set_presence("bob", eng.AWAY, "break")
    cid = await offered_and_accepted(core, "alice", "w-held")
    await core.transfer("alice", cid, "bob", "")
    resp = core.explain_waiting(cid)
    assert resp.reason == R.WAITING_REASON_HELD_FOR_AGENT
    assert resp.held_for_agent == "bob"
    assert resp.held_until.seconds == int(now[0]) + 300  # transfer_hold_seconds


async def test_the_only_free_agent_rejected_it_then_it_is_about_to_be_offered(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.intake([inbound("w-excl")])
    cid = core.threads["webchat:w-excl"]
    [res] = core.reservations.values()
    assert core.explain_waiting(cid).reason == R.WAITING_REASON_NOT_WAITING  # offered
    await core.reject("alice", res.id)
    resp = core.explain_waiting(cid)
    assert resp.reason == R.WAITING_REASON_EXCLUDED
    assert details(resp)["alice"] == "excluded for 60 s (rejected or missed it)"
    assert (resp.agents[0].cause, resp.agents[0].excluded_until.seconds) == ("excluded", int(now[0]) + 60)
    now[0] += 61  # the exclusion ended; the next tick offers it
    assert core.explain_waiting(cid).reason == R.WAITING_REASON_ABOUT_TO_BE_OFFERED
    await core.tick()
    assert core.explain_waiting(cid).reason == R.WAITING_REASON_NOT_WAITING


async def test_an_unknown_conversation_is_not_found(core: RouterCore) -> None:
    with pytest.raises(RouterError) as exc:
        core.explain_waiting("cnv_missing")
    assert exc.value.code == "NOT_FOUND"
