"""Customers and threads: who wrote (identity to customer), which conversation a thread is, merging customers."""

from __future__ import annotations

from typing import Any

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import new_id
from omnihub.router.records import RouterError
from omnihub.router.state import RouterState

PHONE_TOKENS = ("sms", "voice")  # channels whose identity is the same phone number


class Customers:
    """Customer records with their identities, and the conversation each thread belongs to."""

    def __init__(self, state: RouterState) -> None:
        self.state = state
        self.identities: dict[str, str] = {}  # "channel:source id" -> customer id
        self.customers: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, str] = {}  # "channel:thread key" -> conversation id (rebuilt on restore)

    def restore(self, value: dict[str, Any]) -> None:
        """One stored customer record, with its identities."""
        self.customers[value["id"]] = value
        for ident in value.get("identities", ()):
            self.identities[ident] = value["id"]

    def _save(self, customer_id: str) -> None:
        self.state.store.put(f"u.{customer_id}", self.customers[customer_id])

    def customer_for(self, msg: messaging_pb2.InboundMessage, now: float) -> str:
        """The customer who sent `msg`, created on their first message."""
        token = subjects.channel_token(msg.identity.channel or msg.channel)
        ident = f"{token}:{msg.identity.source_id}"
        cid = self.identities.get(ident)
        if cid is None and token in PHONE_TOKENS:  # a text and a call from one number are one person
            cid = next((self.identities[f"{t}:{msg.identity.source_id}"] for t in PHONE_TOKENS
                        if f"{t}:{msg.identity.source_id}" in self.identities), None)
            if cid is not None:
                self.identities[ident] = cid
                customer = self.customers[cid]
                customer["identities"] = sorted({*customer.get("identities", ()), ident})
                self._save(cid)
        if cid is None:
            cid = new_id("cus")
            self.identities[ident] = cid
            self.customers[cid] = {"id": cid, "display_name": msg.display_name, "last_agent": "",
                                   "last_close": 0.0, "create": now, "identities": [ident]}
            self._save(cid)
        return cid

    def returning_agent(self, customer_id: str, now: float) -> str:
        """The agent who closed the customer's latest conversation within the returning-customer window."""
        customer = self.customers.get(customer_id, {})
        window = self.state.defaults.returning_customer_window_seconds
        if customer.get("last_agent") and now - customer.get("last_close", 0.0) <= window:
            return str(customer["last_agent"])
        return ""

    def closed_by(self, customer_id: str, agent_id: str, now: float) -> None:
        """The agent closed a conversation of the customer's now (for the returning-customer rule)."""
        customer = self.customers.get(customer_id)
        if customer is not None:
            customer["last_agent"], customer["last_close"] = agent_id, now
            self._save(customer_id)

    def merge_refusal(self, agent_id: str, keep: str, merged: str, identity: contact_pb2.Identity | None) -> str:
        """Why an agent (not a supervisor) may not fold `merged` into `keep`, or "" when they may: only into
        the customer of a conversation they hold, and not a customer whose conversation another agent holds."""
        if not merged and identity is not None and identity.source_id:
            merged = self.identities.get(f"{subjects.channel_token(identity.channel)}:{identity.source_id}", "")
        records, held_by = self.state.records, self.state.held_by
        if agent_id not in {held_by(cid) for cid, r in records.items() if r.conv.customer_id == keep}:
            return "agents merge only into the customer of a conversation they hold"
        for cid, rec in records.items():
            holder = held_by(cid)
            if merged and rec.conv.customer_id == merged and holder and holder != agent_id:
                return "that customer's open conversation is held by another agent; ask a supervisor"
        return ""

    def customer_proto(self, customer_id: str) -> contact_pb2.Customer:
        """A customer with every identity resolved to it."""
        data = self.customers.get(customer_id)
        if data is None:
            raise RouterError("NOT_FOUND", f"unknown customer {customer_id!r}")
        identities = []
        for ident, cid in self.identities.items():
            if cid == customer_id:
                token, _, source = ident.partition(":")
                identities.append(contact_pb2.Identity(channel=subjects.channel_from_token(token),  # type: ignore[arg-type]
                                                       source_id=source))
        return contact_pb2.Customer(id=customer_id, display_name=data.get("display_name", ""),
                                    identities=identities, merged_into=data.get("merged_into", ""))

    def merge(self, agent_id: str, keep: str, merged: str, identity: contact_pb2.Identity | None,
              ) -> contact_pb2.Customer:
        """Fold one customer record into another: identities, conversations and history follow."""
        if not merged and identity is not None and identity.source_id:
            merged = self.identities.get(f"{subjects.channel_token(identity.channel)}:{identity.source_id}", "")
        if keep not in self.customers or merged not in self.customers:
            raise RouterError("NOT_FOUND", "both customers must exist")
        if keep == merged:
            raise RouterError("INVALID_ARGUMENT", "a customer cannot be merged into itself")
        moved = [ident for ident, cid in self.identities.items() if cid == merged]
        for ident in moved:
            self.identities[ident] = keep
        for rec in self.state.records.values():
            if rec.conv.customer_id == merged:
                rec.conv.customer_id = keep
                self.state.save(rec)
        gone = self.customers[merged]
        gone["merged_into"] = keep
        gone["identities"] = []
        self._save(merged)
        survivor = self.customers[keep]
        survivor["identities"] = sorted({*survivor.get("identities", ()), *moved})
        if gone.get("last_close", 0.0) > survivor.get("last_close", 0.0):
            survivor["last_agent"], survivor["last_close"] = gone.get("last_agent", ""), gone["last_close"]
        self._save(keep)
        self.state.outbox.event(None, envelope=event_pb2.Event(customer_id=keep).SerializeToString(),
                                customer_merged=event_pb2.CustomerMerged(
                                    customer_id=keep, merged_customer_id=merged, agent_id=agent_id))
        return self.customer_proto(keep)

    def merged_with(self, customer_id: str) -> set[str]:
        """The customer's id and the ids of every customer merged into them."""
        return {customer_id} | {cid for cid, c in self.customers.items() if c.get("merged_into") == customer_id}

    def conversations_of(self, customer_ids: set[str]) -> set[str]:
        """The ids of these customers' conversations the router still holds."""
        return {cid for cid, rec in self.state.records.items() if rec.conv.customer_id in customer_ids}

    def erase(self, customer_id: str, closed: tuple[int, ...]) -> dict[str, int]:
        """Forget a customer, every customer merged into them, their identities and their closed conversations'
        records (routing statistics stay). Refused while one of their conversations is still open. A retry of
        a done erasure changes nothing."""
        gone = self.merged_with(customer_id)
        records = {cid: rec for cid, rec in self.state.records.items() if rec.conv.customer_id in gone}
        if any(rec.conv.routing_state not in closed for rec in records.values()):
            raise RouterError("FAILED_PRECONDITION", "the customer has an open conversation; close it and retry")
        identities = [ident for ident, cid in self.identities.items() if cid in gone]
        for ident in identities:
            del self.identities[ident]
        customers = [cid for cid in gone if self.customers.pop(cid, None) is not None]
        for cid in customers:
            self.state.store.delete(f"u.{cid}")
        for cid in records:
            del self.state.records[cid]
            self.state.store.delete(f"c.{cid}")
        for thread in [t for t, cid in self.threads.items() if cid in records]:
            del self.threads[thread]
        return {"customers": len(customers), "identities": len(identities), "conversations": len(records)}
