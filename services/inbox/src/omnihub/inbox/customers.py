"""The customer panel's routes: contact fields and notes (kept by the inbox), identities (the router's), and the
customer's conversations with their outcome (from the stored history and its activity lines)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pymongo.asynchronous.collection import AsyncCollection

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.jsonbody import read_body
from omnihub.inbox.auth import SESSION
from omnihub.inbox.customer_models import CustomerProfile, CustomerProfileBody, IdentityOut, PastConversation
from omnihub.inbox.live import to_dict

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

FIELDS = ("name", "email", "phones", "language", "notes")


def past_conversations(history: list[dict[str, Any]]) -> list[PastConversation]:
    """Every conversation of a history (oldest first), newest first, with the outcome its last ending gave."""
    out: dict[str, PastConversation] = {}
    for m in history:
        cid = m.get("conversation_id", "")
        if not cid:
            continue
        row = out.get(cid)
        if row is None:
            row = out[cid] = PastConversation(id=cid, channel=m.get("channel", ""), first=m["time"], last=m["time"],
                                              messages=0, ended=False)
        row.last = max(row.last, m["time"])
        if m.get("direction") in ("incoming", "outgoing"):
            row.messages += 1
        detail = m.get("activity") or {}
        if detail.get("kind") in ("ended", "wrapped_up"):
            row.ended, row.disposition = True, detail.get("disposition", "") or row.disposition
            row.resolved, row.agent = bool(detail.get("resolved")), detail.get("agent", "")
        elif m.get("direction") == "incoming" and row.ended:  # the customer wrote again: open once more
            row.ended, row.disposition, row.resolved = False, "", None
    return sorted(out.values(), key=lambda r: r.last, reverse=True)


class Customers:
    """The handlers; profiles live in the inbox database (collection `customer_profiles`)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    @property
    def profiles(self) -> AsyncCollection[dict[str, Any]]:
        """One document per customer an agent edited."""
        return self.inbox.store.db["customer_profiles"]

    async def _allowed(self, request: web.Request) -> str:
        s = request[SESSION]
        customer_id = request.match_info["id"]
        if s.role == "agent" and not await self.inbox._served(s.user, customer_id):
            raise web.HTTPForbidden(text="this customer is not one of yours")
        return customer_id

    async def _profile(self, customer_id: str) -> CustomerProfile:
        cust = await self.inbox._rpc(self.inbox.router.GetCustomer(
            routing_pb2.GetCustomerRequest(customer_id=customer_id)))
        saved = await self.profiles.find_one({"_id": customer_id}) or {}
        history = await self.inbox.store.customer_history(customer_id)
        prechat = next((m["contact_email"] for m in reversed(history) if m.get("contact_email")), "")
        return CustomerProfile(
            id=customer_id, name=saved.get("name") or cust.display_name, email=saved.get("email") or prechat,
            prechat_email=prechat, phones=saved.get("phones", []), language=saved.get("language") or cust.language_code,
            notes=saved.get("notes", ""), updated_by=saved.get("updated_by", ""), updated=saved.get("updated", 0),
            identities=[IdentityOut(channel=i.get("channel", ""), source_id=i.get("source_id", ""))
                        for i in to_dict(cust).get("identities", [])],
            conversations=past_conversations(history))

    async def get(self, request: web.Request) -> web.Response:
        """GET /api/customers/{id}/profile (an agent: only customers of conversations they hold or held)."""
        customer_id = await self._allowed(request)
        return web.json_response((await self._profile(customer_id)).model_dump())

    async def put(self, request: web.Request) -> web.Response:
        """PUT /api/customers/{id}/profile {name, email, phones, language, notes}: replaces the kept fields."""
        customer_id = await self._allowed(request)
        body = await read_body(request, CustomerProfileBody)
        await self._profile(customer_id)  # 404 for a customer the router does not know
        fields = body.model_dump(include=set(FIELDS))
        fields["name"] = fields["name"].strip()
        fields["phones"] = list(dict.fromkeys(p for p in fields["phones"] if p))
        await self.profiles.replace_one({"_id": customer_id}, {
            "_id": customer_id, **fields, "updated_by": request[SESSION].user, "updated": time.time()}, upsert=True)
        return web.json_response((await self._profile(customer_id)).model_dump())


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """Add the customer panel's routes."""
    customers = Customers(inbox)
    router.add_get("/api/customers/{id}/profile", customers.get)
    router.add_put("/api/customers/{id}/profile", customers.put)
