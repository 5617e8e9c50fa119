"""Erasing one customer (admins): the inbox's own data, then every other service's part over NATS, audited.

The request keeps what the services need to find the customer (identities, names) in the `erasures` collection
only until every service has reported success; a retry (same route) repeats the request with it and each
service erases what is left, so nothing is lost when a service was down. Once done only counts remain.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo.asynchronous.database import AsyncDatabase

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import privacy, subjects, tombstones
from omnihub.common.jsonbody import read_body
from omnihub.inbox import audit
from omnihub.inbox.auth import SESSION
from omnihub.inbox.files import INBOX_SCHEME
from omnihub.inbox.privacy_models import EraseBody, ErasureReport, ServiceErasure
from omnihub.inbox.retention import STATES

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

ASK_SECONDS = 20.0  # how long to wait for every service's part
CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9_]{1,60}")


async def erase_own(db: AsyncDatabase[dict[str, Any]], customer_id: str, needles: list[str]) -> dict[str, int]:
    """The inbox's part: messages (with delivery states), who held their conversations, search entries, labels,
    attachments (agents' uploads in GridFS too), interventions, the profile agents typed, webhook deliveries
    naming the customer. Returns counts; a retry finds nothing more."""
    convs = set(await db["messages"].distinct("conversation_id", {"customer_id": customer_id}))
    convs |= set(await db["held"].distinct("conversation_id", {"customer_id": customer_id}))
    convs |= set(await db["search"].distinct("c", {"u": customer_id}))
    mids = await db["messages"].distinct("_id", {"customer_id": customer_id})
    bucket = AsyncGridFSBucket(db, bucket_name="attachments")
    async for ref in db["attachments"].find({"customer_id": customer_id, "uri": {"$regex": f"^{INBOX_SCHEME}"}}):
        with contextlib.suppress(NoFile):
            await bucket.delete(ref["uri"].removeprefix(INBOX_SCHEME))
    pattern = "|".join(re.escape(n) for n in [customer_id, *needles] if n)
    conv_list = sorted(convs)
    return {
        "messages": (await db["messages"].delete_many({"customer_id": customer_id})).deleted_count,
        "delivery_states": (await db["delivery_states"].delete_many(
            {"_id": {"$in": [f"{m}:{s}" for m in mids for s in STATES]}})).deleted_count,
        "attachments": (await db["attachments"].delete_many({"customer_id": customer_id})).deleted_count,
        "held": (await db["held"].delete_many({"customer_id": customer_id})).deleted_count,
        "search": (await db["search"].delete_many({"$or": [{"u": customer_id}, {"c": {"$in": conv_list}}]})
                   ).deleted_count,
        "search_holders": (await db["search_holders"].delete_many({"_id": {"$in": conv_list}})).deleted_count,
        "organise": (await db["organise"].delete_many({"_id": {"$in": conv_list}})).deleted_count,
        "interventions": (await db["interventions"].delete_many({"conversation_id": {"$in": conv_list}})
                          ).deleted_count,
        "profiles": (await db["customer_profiles"].delete_many({"_id": customer_id})).deleted_count,
        "webhook_deliveries": (await db["webhook_deliveries"].delete_many({"body": {"$regex": pattern}})
                               ).deleted_count,
    }


class Erasures:
    """The erasure route and its record (`erasures` collection: one document per customer)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def _subject(self, customer_id: str, saved: dict[str, Any] | None) -> dict[str, Any] | None:
        """Who to look for: the router's record (identities, name) with the profile agents typed, or the saved
        request of an unfinished erasure; None for a customer nobody knows."""
        if saved and saved.get("subject"):
            return dict(saved["subject"])
        cust = await self.inbox._rpc(self.inbox.router.GetCustomer(routing_pb2.GetCustomerRequest(
            customer_id=customer_id)), allow_missing=True)
        if cust is None:  # erased before (a retry after success) or never known
            return {"identities": [], "names": []} if saved else None
        identities = [f"{subjects.channel_token(i.channel)}:{i.source_id}" for i in cust.identities]
        names = [cust.display_name] if cust.display_name else []
        profile = await self.inbox.store.db["customer_profiles"].find_one({"_id": customer_id}) or {}
        names += [str(profile[key]) for key in ("name", "email", "prechat_email") if profile.get(key)]
        names += [str(phone) for phone in profile.get("phones", []) or []]
        names += [str(e) for e in await self.inbox.store.db["messages"].distinct(
            "contact_email", {"customer_id": customer_id}) if e]  # the web chat's pre-chat form
        return {"identities": identities, "names": names}

    async def erase(self, request: web.Request) -> web.Response:
        """POST /api/admin/customers/{id}/erase {confirm: the id again}: erase everywhere; the state per service."""
        if request[SESSION].role != "admin":
            raise web.HTTPForbidden(text="admins only")
        customer_id = request.match_info["id"]
        body = await read_body(request, EraseBody)
        if body.confirm != customer_id:
            raise web.HTTPBadRequest(text="confirm must repeat the customer id")
        if not CUSTOMER_ID.fullmatch(customer_id):
            raise web.HTTPNotFound(text="no such customer")
        records = self.inbox.store.db["erasures"]
        saved = await records.find_one({"_id": customer_id})
        subject = await self._subject(customer_id, saved)
        if subject is None:
            raise web.HTTPNotFound(text="no such customer")
        now = time.time()
        await records.update_one({"_id": customer_id}, {"$set": {"subject": subject, "state": "pending",
                                                                  "requested_by": request[SESSION].user,
                                                                  "time": now}}, upsert=True)
        needles = [i.partition(":")[2] for i in subject["identities"]] + list(subject["names"])
        files = await self.inbox.store.db["attachments"].distinct("uri", {"customer_id": customer_id})
        # The tombstone first, for every service: from now on late data of the customer is dropped or anonymised.
        db = self.inbox.store.db
        convs = set(await db["messages"].distinct("conversation_id", {"customer_id": customer_id}))
        convs |= set(await db["held"].distinct("conversation_id", {"customer_id": customer_id}))
        tomb = self.inbox.tombstones.record(customer_id, list(subject["identities"]), sorted(convs), now)
        await tombstones.put(self.inbox.bus, self.inbox.tombstones, tomb)
        await privacy.settle(self.inbox.bus)  # a late event already in a batch is written before we erase, not after
        results = [ServiceErasure(service="inbox", ok=True,
                                  removed=await erase_own(self.inbox.store.db, customer_id, needles))]
        answers = await privacy.ask(self.inbox.bus, privacy.ERASE, {"customer_id": customer_id, **subject,
                                                                    "files": files, "tombstone": tomb},
                                   privacy.ERASERS, ASK_SECONDS)
        for name in privacy.ERASERS:
            got = answers.get(name, {"ok": False, "error": "no answer"})
            results.append(ServiceErasure(service=name, ok=bool(got.get("ok")), error=str(got.get("error", "")),
                                          removed={str(k): int(v) for k, v in (got.get("removed") or {}).items()}))
        state = "done" if all(r.ok for r in results) else "partial"
        update: dict[str, Any] = {"$set": {"state": state, "services": [r.model_dump() for r in results]}}
        if state == "done":
            update["$unset"] = {"subject": ""}  # nothing personal stays once every service is done
        await records.update_one({"_id": customer_id}, update)
        await audit.record(request, "customer.erase", customer_id, outcome="ok" if state == "done" else "partial",
                           after={"state": state, "services": {r.service: r.ok for r in results}})
        report = ErasureReport(customer_id=customer_id, state=state, time=now, services=results)
        return web.json_response(report.model_dump(mode="json"))

    async def status(self, request: web.Request) -> web.Response:
        """GET /api/admin/customers/{id}/erasure: the last erasure's state per service (404 if none)."""
        if request[SESSION].role != "admin":
            raise web.HTTPForbidden(text="admins only")
        doc = await self.inbox.store.db["erasures"].find_one({"_id": request.match_info["id"]})
        if doc is None or "services" not in doc:
            raise web.HTTPNotFound(text="this customer was never erased")
        report = ErasureReport(customer_id=doc["_id"], state=doc["state"], time=doc["time"],
                               services=[ServiceErasure(**s) for s in doc["services"]])
        return web.json_response(report.model_dump(mode="json"))


def register(app: web.Application, inbox: Inbox) -> None:
    """The erasure routes."""
    erasures = Erasures(inbox)
    app.router.add_post("/api/admin/customers/{id}/erase", erasures.erase)
    app.router.add_get("/api/admin/customers/{id}/erasure", erasures.status)
