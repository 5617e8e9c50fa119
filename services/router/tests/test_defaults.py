"""The router-wide timings in `defaults:` are honoured: transfer hold, offer exclusion, closed retention."""

from __future__ import annotations

from omnihub.router import engine as eng
from omnihub.router.config import parse_routing_config
from omnihub.router.core import RouterCore

from .conftest import fake_clock, inbound
from .test_wrap_up import offered_and_accepted

CORE_CONFIG = """
version: 1
defaults:
  reservation_timeout_seconds: {webchat: 600}
  heartbeat_timeout_seconds: 86400
  transfer_hold_seconds: 10
  offer_exclusion_seconds: 5
  closed_retention_seconds: 100
queues:
  - {name: support, wrap_up_seconds: 0}
agents:
  - {id: alice, queues: [support]}
  - {id: bob, queues: [support]}
"""


def offered_to(core: RouterCore, cid: str) -> str:
    return next((r.agent_id for r in core.reservations.values() if r.conversation_id == cid), "")


def test_the_former_constants_are_the_defaults() -> None:
    defaults = parse_routing_config("queues: [{name: q}]").config.defaults
    assert (defaults.transfer_hold_seconds, defaults.offer_exclusion_seconds, defaults.closed_retention_seconds,
            defaults.other_reservation_timeout_seconds) == (300, 60, 86_400, 30)


async def test_a_transfer_to_an_away_agent_waits_transfer_hold_seconds(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.set_presence("bob", eng.AWAY)
    cid = await offered_and_accepted(core, "alice", "hold-1")
    await core.transfer("alice", cid, "bob", "")
    now[0] += 9
    await core.tick()
    assert offered_to(core, cid) == ""  # held for bob, who is away
    now[0] += 1
    await core.tick()
    assert offered_to(core, cid) == "alice"  # the hold ended: the queue takes it


async def test_a_rejected_offer_is_kept_from_that_agent_offer_exclusion_seconds(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.intake([inbound("excl-1")])
    cid = core.threads["webchat:excl-1"]
    [res] = core.reservations.values()
    await core.reject("alice", res.id)
    now[0] += 4
    await core.tick()
    assert offered_to(core, cid) == ""
    now[0] += 1
    await core.tick()
    assert offered_to(core, cid) == "alice"


async def test_closed_conversations_are_dropped_after_closed_retention_seconds(core: RouterCore) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    cid = await offered_and_accepted(core, "alice", "gone-1")
    await core.wrap_up("alice", cid, "answered", True)
    now[0] += 100
    await core.tick()
    assert cid in core.records
    now[0] += 61  # past the retention, and the next purge (once a minute)
    await core.tick()
    assert cid not in core.records
