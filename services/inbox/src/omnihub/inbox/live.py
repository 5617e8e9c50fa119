"""Live updates: router offers per agent over gRPC streams, NATS events fanned out to WebSockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.json_format import MessageToDict

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import subjects
from omnihub.common.bus import BatchHandler, Bus, Consumer, Delivery
from omnihub.common.logging import get_logger
from omnihub.inbox.activity import activity_doc
from omnihub.inbox.calls import call_activity_doc, call_notice
from omnihub.inbox.files import FileStore, attachment_id
from omnihub.inbox.presence import action_name, intervention_doc
from omnihub.inbox.store import InboxStore

log = get_logger("omnihub.inbox")
EVENT_BATCH = 1_000
STATUS = {"message_sent": "sent", "message_delivered": "delivered", "message_failed": "failed"}


def to_dict(message: Any) -> dict[str, Any]:
    """A protobuf as JSON-ready data with field names as in the .proto."""
    return MessageToDict(message, preserving_proto_field_name=True)


def message_doc(evt: event_pb2.Event) -> dict[str, Any]:
    """The stored form of a message.created event."""
    m = evt.message_created.message
    return {
        "_id": m.id, "conversation_id": evt.conversation_id, "customer_id": evt.customer_id,
        "channel": subjects.channel_token(m.channel or evt.channel) if (m.channel or evt.channel) else "",
        "direction": messaging_pb2.Direction.Name(m.direction).removeprefix("DIRECTION_").lower(),
        "text": m.text, "subject": m.subject, "html": m.sanitized_html, "agent_id": m.agent_id,
        "private": m.private, "time": evt.time.ToNanoseconds() / 1e9, "status": "received" if
        m.direction == messaging_pb2.DIRECTION_INCOMING else "pending",
        "attachments": [{**to_dict(a), "id": attachment_id(a.uri)} for a in m.attachments],
        "intervention": action_name(m.intervention) if m.intervention else "",  # whisper or barge by a supervisor
    } | ({"contact_email": m.contact_email} if m.contact_email else {}) | (
        {"reply_all_cc": list(m.reply_all_cc)} if m.reply_all_cc else {})


class Hub:
    """WebSockets per user, and who holds which conversation."""

    def __init__(self, store: InboxStore, router: routing_pb2_grpc.RouterAsyncStub) -> None:
        self.store = store
        self.router = router
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}
        self.roles: dict[str, str] = {}
        self.holder: dict[str, str] = {}
        self.watch_tasks: dict[str, asyncio.Task[None]] = {}
        self.visitors: dict[str, str] = {}  # web-chat visitor id -> conversation id
        self.callers: dict[str, str] = {}  # voice conversation id -> customer id (call events carry none)
        self._last_batch: asyncio.Future[None] | None = None
        self.files: FileStore | None = None  # attachment references, by attachment id

    async def on_visitor_typing(self, msg: Any) -> None:
        """A web-chat visitor is typing: tell the agent holding their conversation."""
        visitor = msg.subject.rsplit(".", 1)[-1]
        cid = self.visitors.get(visitor)
        if cid and self.holder.get(cid):
            try:
                typing = bool(json.loads(msg.data).get("typing"))
            except ValueError:
                return
            await self.send(self.holder[cid], {"type": "visitor_typing", "data": {"conversation_id": cid, "typing": typing}})

    async def send(self, user: str, payload: dict[str, Any]) -> None:
        """Push to every socket of one user."""
        for ws in list(self.sockets.get(user, ())):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_json(payload)

    async def to_supervisors(self, payload: dict[str, Any]) -> None:
        """Push to every supervisor and admin."""
        for user, role in self.roles.items():
            if role != "agent":
                await self.send(user, payload)

    def attach(self, user: str, role: str, ws: web.WebSocketResponse) -> None:
        """Register a socket; agents get their router offer stream."""
        self.sockets.setdefault(user, set()).add(ws)
        self.roles[user] = role
        task = self.watch_tasks.get(user)
        if task is None or task.done():
            self.watch_tasks[user] = asyncio.get_running_loop().create_task(self._watch(user))

    async def disconnect(self, user: str) -> None:
        """Close every socket of a user on this replica (their sessions were ended)."""
        for ws in list(self.sockets.get(user, ())):
            await ws.close(code=4401, message=b"logged out")

    def detach(self, user: str, ws: web.WebSocketResponse) -> None:
        """Unregister; the offer stream stops with the user's last socket."""
        sockets = self.sockets.get(user, set())
        sockets.discard(ws)
        if not sockets:
            task = self.watch_tasks.pop(user, None)
            if task:
                task.cancel()

    async def _watch(self, user: str) -> None:
        """Relay the router's WatchOffers stream to the user's sockets, reconnecting when it drops."""
        while self.sockets.get(user):
            try:
                async for notice in self.router.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=user)):
                    kind = notice.WhichOneof("kind") or ""
                    data = to_dict(getattr(notice, kind)) if kind not in ("offer_withdrawn", "unassigned") else getattr(notice, kind)
                    if kind == "assigned":
                        self.holder[notice.assigned.id] = user
                    await self.send(user, {"type": kind, "data": data})
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return  # a supervisor who is not an agent has no offers
                log.warning("inbox.watch_failed", user=user, code=str(exc.code()))
            await asyncio.sleep(1.0)

    async def on_events(self, batch: list[Delivery[event_pb2.Event]]) -> None:
        """Persist a batch with one write per kind, then push each change, in stream order, to whoever should see it.

        Messages and delivery states go in with one unordered insert_many each (redeliveries are skipped as
        duplicates), while the next batch may already be writing (the consumer's pipeline of 2); merges and
        pushes wait for the previous batch's, so they keep stream order. Who holds a conversation is taken
        as of each event.
        """
        docs: list[dict[str, Any]] = []
        statuses: list[tuple[str, str, str]] = []
        merges: list[tuple[str, str, str]] = []  # merged customer, surviving customer, agent who merged
        held: list[tuple[str, str, str]] = []  # (conversation, customer, agent): who may read them later
        interventions: list[dict[str, Any]] = []
        pushes: list[tuple[str | None, dict[str, Any]]] = []  # (holder at that point, payload)
        for d in batch:
            evt = d.message
            kind = evt.WhichOneof("kind") or ""
            cid = evt.conversation_id
            if kind in ("conversation_assigned", "conversation_offered"):
                self.holder[cid] = getattr(evt, kind).agent_id
            if evt.customer_id and evt.channel == contact_pb2.CHANNEL_VOICE:
                self.callers[cid] = evt.customer_id
            if kind == "conversation_assigned":
                held.append((cid, evt.customer_id, evt.conversation_assigned.agent_id))
            line = activity_doc(evt, kind)  # transferred, ended, wrapped up, survey sent: a line in the timeline
            if line is not None:
                docs.append(line)
                pushes.append((self.holder.get(cid), {"type": "message", "data": line}))
            if kind == "message_created":
                if evt.channel == contact_pb2.CHANNEL_WEBCHAT and evt.identity.source_id:
                    self.visitors[evt.identity.source_id] = cid
                doc = message_doc(evt)
                docs.append(doc)
                pushes.append((self.holder.get(cid), {"type": "message", "data": doc}))
            elif kind in STATUS:
                payload = getattr(evt, kind)
                error = evt.message_failed.error_message if kind == "message_failed" else ""
                state = STATUS[kind]
                if kind == "message_delivered" and payload.status == messaging_pb2.DELIVERY_STATUS_READ:
                    state = "read"  # the web-chat visitor saw it (the widget's read receipt)
                statuses.append((payload.message_id, state, error))
                pushes.append((self.holder.get(cid), {"type": "status", "data": {
                    "id": payload.message_id, "status": state, "error": error}}))
            elif kind == "customer_merged":
                m = evt.customer_merged
                merges.append((m.merged_customer_id, m.customer_id, m.agent_id))
            elif kind == "supervisor_intervened":  # the agent's desk shows who is present
                doc = intervention_doc(evt)
                interventions.append(doc)
                pushes.append((self.holder.get(cid), {"type": "supervisor", "data": {
                    k: v for k, v in doc.items() if k != "_id"}}))
            elif kind == "call_controlled":  # the call panel's state and who is on the call (a supervisor...)
                pushes.append((self.holder.get(cid), {"type": "call", "data": call_notice(evt)}))
                if (line := call_activity_doc(evt)) is not None:  # and a line in the transcript
                    line["customer_id"] = line["customer_id"] or self.callers.get(cid) or await self._caller(cid)
                    docs.append(line)
                    pushes.append((self.holder.get(cid), {"type": "message", "data": line}))
            elif kind.startswith("conversation_") or kind == "agent_state_changed":
                pushes.append((self.holder.get(cid), {"type": "event", "data": {
                    "kind": kind, "conversation_id": cid, "queue": evt.queue}}))
        previous, self._last_batch = self._last_batch, asyncio.get_running_loop().create_future()
        done = self._last_batch
        try:
            if self.files is not None:  # first: a message in the history can always open its files
                await self.files.add_refs([d for d in docs if d["attachments"]])
            new, _, _, _ = await asyncio.gather(
                self.store.add_messages(docs), self.store.set_statuses(statuses), self.store.add_holders(held),
                self.store.add_interventions(interventions))
            if previous is not None:
                await previous  # what follows happens in stream order, batch after batch
            for merged, keep, agent in merges:
                await self.store.merge_customer(merged, keep)
                if self.files is not None:
                    await self.files.merge_customer(merged, keep)
                if agent:  # the agent who merged reloads the history once it is one
                    await self.send(agent, {"type": "customer_merged", "data": {
                        "customer_id": keep, "merged_customer_id": merged}})
            for holder, payload in pushes if self.sockets else ():
                if payload["type"] == "message":
                    if payload["data"]["_id"] not in new:
                        continue  # a redelivery: agents saw it already
                    new.discard(payload["data"]["_id"])
                if holder is None and payload["type"] == "message":
                    # a new conversation's first message comes before its offer: the agent it went to sees it
                    holder = self.holder.get(payload["data"]["conversation_id"])
                await self._push(holder, payload)
        finally:
            done.set_result(None)

    async def _caller(self, conversation_id: str) -> str:
        """The customer of a conversation, from who held it (after a restart, when `callers` is empty)."""
        doc = await self.store.held.find_one({"conversation_id": conversation_id}, {"customer_id": 1})
        return str(doc["customer_id"]) if doc else ""

    async def _push(self, holder: str | None, payload: dict[str, Any]) -> None:
        if holder:
            await self.send(holder, payload)
        await self.to_supervisors(payload)

    def users(self) -> Iterable[str]:
        """Users with an open socket."""
        return [u for u, s in self.sockets.items() if s]


async def consume_events(bus: Bus, handler: BatchHandler[event_pb2.Event],
                         durable: str = subjects.DURABLE_INBOX) -> Consumer[event_pb2.Event]:
    """The inbox's durable consumer of contacts.events.>: batches of up to EVENT_BATCH into `handler` (`Hub.on_events`)."""
    return await bus.consume(stream=subjects.STREAM_EVENTS, durable=durable, subjects=[subjects.EVENTS_ALL],
                             message_type=event_pb2.Event, batch_handler=handler, batch=EVENT_BATCH,
                             max_ack_pending=4 * EVENT_BATCH, ack_wait=60.0, prefetch=True, fast_fetch=True,
                             pipeline=2)
