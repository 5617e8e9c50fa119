"""One clock: every event the router publishes carries the router's clock time, not the wall clock."""

from __future__ import annotations

from omnihub.api.contact.v1 import contact_pb2
from omnihub.common.bus import Bus
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore

from .conftest import fake_clock, inbound
from .test_flush import stored_events

CORE_CONFIG = """
version: 1
queues:
  - {name: support, wrap_up_seconds: 0}
agents:
  - {id: alice, queues: [support]}
"""


async def test_events_carry_the_routers_clock(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core, start=1_000.0)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.intake([inbound("clock-1"), inbound("+15550009999", channel=contact_pb2.CHANNEL_SMS)])
    now[0] += 7.25
    [one, two] = sorted(core.customers.customers)
    await core.merge_customers("alice", one, two, None)
    events = await stored_events(bus)
    times = {e.WhichOneof("kind"): e.time.ToMilliseconds() for e in events}
    assert times["conversation_created"] == times["conversation_offered"] == times["agent_state_changed"] == 1_000_000
    assert times["customer_merged"] == 1_007_250
    assert all(t in (1_000_000, 1_007_250) for t in times.values())
