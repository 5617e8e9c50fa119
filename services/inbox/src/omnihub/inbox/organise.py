"""How an agent organises their conversations: labels, snooze until a time, and each one's status (open, pending, snoozed).

Status is derived, never stored: `snoozed` while the snooze time is ahead and the customer has not written since
it was set, else `pending` when our reply is the last word, else `open`. So a snoozed conversation comes back on
its own when the time passes or the customer writes, with no timer to keep."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError
from pymongo.asynchronous.collection import AsyncCollection

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.jsonbody import read_body
from omnihub.inbox.auth import SESSION
from omnihub.inbox.models import Labels, LabelsBody, Organised, OrganiseQuery, SnoozeBody, Snoozed

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

MAX_SNOOZE_SECONDS = 30 * 86_400
MAX_LABELS = 20


def status_of(doc: dict[str, Any], last_incoming: float, last_said: str, now: float) -> str:
    """open, pending or snoozed (see the module docstring)."""
    until, at = doc.get("snoozed_until") or 0.0, doc.get("snoozed_at") or 0.0
    if until > now and last_incoming <= at:
        return "snoozed"
    return "pending" if last_said == "outgoing" else "open"


class Organiser:
    """Labels and snoozes per conversation, in the inbox database's `organise` collection."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    @property
    def docs(self) -> AsyncCollection[dict[str, Any]]:
        """One document per conversation: labels, snoozed_until, snoozed_at."""
        return self.inbox.store.db["organise"]

    async def _mine(self, request: web.Request) -> list[routing_pb2.Conversation]:
        s = request[SESSION]
        agent = "" if s.role != "agent" and request.query.get("all") else s.user
        resp = await self.inbox._rpc(self.inbox.router.ListConversations(
            routing_pb2.ListConversationsRequest(agent_id=agent)))
        return list(resp.conversations)

    async def _last_words(self, convs: list[routing_pb2.Conversation]) -> dict[str, tuple[float, str]]:
        """Per conversation: when the customer last wrote, and who said the last word (incoming/outgoing)."""
        customers = list({c.customer_id for c in convs})
        ids = {c.id for c in convs}
        out: dict[str, tuple[float, str]] = {}
        cursor = self.inbox.store.messages.find(
            {"customer_id": {"$in": customers}, "direction": {"$in": ["incoming", "outgoing"]}, "private": False},
            projection={"conversation_id": 1, "direction": 1, "time": 1}).sort("time", 1)
        async for m in cursor:
            cid = m.get("conversation_id")
            if cid in ids:
                incoming = m["time"] if m["direction"] == "incoming" else out.get(cid, (0.0, ""))[0]
                out[cid] = (incoming, m["direction"])
        return out

    async def list(self, request: web.Request) -> web.Response:
        """GET /api/organise?status=&label=: labels, snooze and status of my conversations (supervisors: all=1)."""
        try:
            query = OrganiseQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text=f"invalid query: {exc.errors()[0]['loc']} {exc.errors()[0]['msg']}") from None
        convs = await self._mine(request)
        docs = {d["_id"]: d async for d in self.docs.find({"_id": {"$in": [c.id for c in convs]}})}
        words = await self._last_words(convs)
        now = time.time()
        rows = {}
        for c in convs:
            doc = docs.get(c.id, {})
            incoming, said = words.get(c.id, (0.0, ""))
            row = {"labels": doc.get("labels", []), "status": status_of(doc, incoming, said, now),
                   "snoozed_until": doc.get("snoozed_until") or None}
            if (not query.status or row["status"] == query.status) and (not query.label or query.label in row["labels"]):
                rows[c.id] = row
        known = sorted({label for d in docs.values() for label in d.get("labels", [])})
        return web.json_response(Organised.model_validate({"conversations": rows, "labels": known}).model_dump())

    async def labels(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/labels {add, remove}: the conversation's labels afterwards."""
        conv = await self.inbox._conversation(request[SESSION], request.match_info["id"])
        body = await read_body(request, LabelsBody)
        doc = await self.docs.find_one({"_id": conv.id}) or {}
        labels = [x for x in doc.get("labels", []) if x not in body.remove]
        labels += [x for x in dict.fromkeys(body.add) if x not in labels]
        if len(labels) > MAX_LABELS:
            raise web.HTTPBadRequest(text=f"at most {MAX_LABELS} labels per conversation")
        await self.docs.update_one({"_id": conv.id}, {"$set": {"labels": labels}}, upsert=True)
        return web.json_response(Labels(labels=labels).model_dump())

    async def snooze(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/snooze {until}: hide it until then (epoch seconds), or null to wake it now."""
        conv = await self.inbox._conversation(request[SESSION], request.match_info["id"])
        body = await read_body(request, SnoozeBody)
        now = time.time()
        if body.until is not None and not now < body.until <= now + MAX_SNOOZE_SECONDS:
            raise web.HTTPBadRequest(text="snooze until a time in the next 30 days")
        await self.docs.update_one({"_id": conv.id}, {"$set": {"snoozed_until": body.until, "snoozed_at": now}},
                                   upsert=True)
        return web.json_response(Snoozed(snoozed_until=body.until).model_dump())


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """GET /api/organise, POST /api/conversations/{id}/labels and /snooze."""
    routes = Organiser(inbox)
    router.add_get("/api/organise", routes.list)
    router.add_post("/api/conversations/{id}/labels", routes.labels)
    router.add_post("/api/conversations/{id}/snooze", routes.snooze)

