"""Erasing a customer in the router (over NATS, as the inbox asks): refused while open, then the customer, the one
merged into them, their identities and closed conversations are gone from memory and KV; a retry removes nothing."""

from __future__ import annotations

from omnihub.api.contact.v1 import contact_pb2
from omnihub.common import privacy
from omnihub.common.bus import Bus
from omnihub.router import engine as eng
from omnihub.router.core import RouterCore

from .conftest import fake_clock, inbound

CORE_CONFIG = """
version: 1
queues:
  - {name: support, wrap_up_seconds: 0}
agents:
  - {id: alice, queues: [support]}
"""


async def erase(bus: Bus, customer_id: str) -> dict[str, object]:
    answers = await privacy.ask(bus, privacy.ERASE, {"customer_id": customer_id}, ("router",), 10.0)
    return answers["router"]


async def test_erase_refuses_open_conversations_then_forgets_everything(core: RouterCore, bus: Bus) -> None:
    now = fake_clock(core)
    await core.set_presence("alice", eng.AVAILABLE)
    await core.intake([inbound("visitor-zed"), inbound("+15557770123", channel=contact_pb2.CHANNEL_SMS)])
    keep, gone = sorted(core.customers.customers)
    await core.merge_customers("alice", keep, gone, None)
    refused = await erase(bus, keep)
    assert refused["ok"] is False and "open conversation" in str(refused["error"])
    assert keep in core.customers.customers  # nothing changed
    for cid, rec in list(core.state.records.items()):
        assert rec.reservation is not None
        await core.accept("alice", rec.reservation.id)
        await core.wrap_up("alice", cid, "", True, "")
    now[0] += 5
    await core.tick()
    done = await erase(bus, keep)
    assert done == {"service": "router", "ok": True, "removed": {"customers": 2, "identities": 2, "conversations": 2}}
    assert core.customers.customers == {} and core.customers.identities == {} and core.customers.threads == {}
    assert core.state.records == {}
    stored = await core.state.store.load()  # KV: no customer or conversation key is left
    assert not [k for k in stored if k.startswith(("u.", "c."))]
    again = await erase(bus, keep)
    assert again["removed"] == {"customers": 0, "identities": 0, "conversations": 0}
