"""Erasing a customer in the router (over NATS, as the inbox asks): refused while open, then the customer, the one
merged into them, their identities and closed conversations are gone from memory and KV; a retry removes nothing."""

from __future__ import annotations

import json

from omnihub.api.contact.v1 import contact_pb2
from omnihub.common import privacy, tombstones
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
    tomb = {"customer_id": customer_id, "time": 2_000.0, "identities": [], "conversations": ["conv_from_inbox"]}
    answers = await privacy.ask(bus, privacy.ERASE, {"customer_id": customer_id, "tombstone": tomb}, ("router",), 10.0)
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
    conversations = sorted(core.state.records)
    done = await erase(bus, keep)
    assert done == {"service": "router", "ok": True, "removed": {"customers": 2, "identities": 2, "conversations": 2}}
    assert core.customers.customers == {} and core.customers.identities == {} and core.customers.threads == {}
    # The tombstone gains what only the router knew: the merged-away customer and every conversation of both.
    stored_tomb = json.loads((await (await bus.kv(tombstones.BUCKET)).get(keep)).value or b"{}")
    assert stored_tomb["aliases"] == [gone] and stored_tomb["conversations"] == sorted(
        [*conversations, "conv_from_inbox"])
    assert core.state.records == {}
    stored = await core.state.store.load()  # KV: no customer or conversation key is left
    assert not [k for k in stored if k.startswith(("u.", "c."))]
    again = await erase(bus, keep)
    assert again["removed"] == {"customers": 0, "identities": 0, "conversations": 0}
