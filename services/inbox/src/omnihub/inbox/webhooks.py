"""Outbound webhooks: subscriptions to events, each delivered with the Standard Webhooks signature by the
subscription's own worker, retried with backoff for a day, logged per attempt, and replayable.

Deliveries are documents in MongoDB (`webhook_deliveries`): an event becomes one pending delivery per
subscription, and each subscription's worker sends its own in turn, so a receiver that answers 5xx or
never answers delays only itself. A worker claims a delivery by moving its next attempt past the timeout
(a lease), so several inbox replicas never send one attempt twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from google.protobuf.json_format import MessageToDict
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, new_id
from omnihub.common.consumer import Consumer, Delivery
from omnihub.common.retry import RetryPolicy
from omnihub.inbox import signing
from omnihub.inbox.integration_models import (
    EVENT_TYPES,
    Attempt,
    DeliveryInfo,
    NewWebhook,
    WebhookBody,
    WebhookInfo,
)
from omnihub.inbox.urlguard import BlockedAddress, UrlGuard

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from omnihub.inbox.store import InboxStore

DURABLE = "inbox-webhooks"
BACKOFF = RetryPolicy(first=10.0, cap=3600.0)  # 10 s, 20 s, 40 s ... then hourly
GIVE_UP = 86_400.0  # a delivery is retried for a day, then marked failed
TIMEOUT = 10.0  # seconds a receiver has to answer one attempt
MAX_ATTEMPTS_LOGGED = 50


def info(doc: dict[str, Any]) -> WebhookInfo:
    """A subscription as listed (never its secret)."""
    return WebhookInfo(id=doc["_id"], url=doc["url"], events=doc["events"], description=doc.get("description", ""),
                       created_by=doc["created_by"], created=doc["created"])


def delivery_info(doc: dict[str, Any]) -> DeliveryInfo:
    """A delivery as its log shows it."""
    return DeliveryInfo(id=doc["_id"], event_type=doc["event_type"], state=doc["state"], created=doc["created"],
                        next_attempt=doc["next_at"] if doc["state"] == "pending" else None,
                        attempts=[Attempt(**a) for a in doc.get("attempts", [])])


def payload(event_type: str, evt: event_pb2.Event) -> bytes:
    """The body subscribers receive: the event type, its time and the event as JSON."""
    when = dt.datetime.fromtimestamp(evt.time.ToNanoseconds() / 1e9 if evt.HasField("time") else time.time(), dt.UTC)
    data = MessageToDict(evt, preserving_proto_field_name=True)
    return json.dumps({"type": event_type, "timestamp": when.isoformat(), "data": data},
                      separators=(",", ":")).encode()


class Webhooks:
    """Subscriptions, their deliveries and one worker per subscription with work to do."""

    def __init__(self, store: InboxStore | None, policy: RetryPolicy = BACKOFF, give_up: float = GIVE_UP,
                 timeout: float = TIMEOUT, guard: UrlGuard | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.guard = guard or UrlGuard()  # app.main allows the configured networks; none by default
        self.clock = clock  # wall time of the schedule (tests drive it)
        self.policy = policy
        self.give_up = give_up
        self.timeout = timeout
        self.workers: dict[str, asyncio.Task[None]] = {}
        self.wakeups: dict[str, asyncio.Event] = {}
        self.http: aiohttp.ClientSession | None = None
        self._subs: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self.consumer: Consumer[event_pb2.Event] | None = None

    @property
    def _hooks(self) -> AsyncCollection[dict[str, Any]]:
        assert self.store is not None, "webhooks need the inbox's store"
        return self.store.db["webhooks"]

    @property
    def _deliveries(self) -> AsyncCollection[dict[str, Any]]:
        assert self.store is not None, "webhooks need the inbox's store"
        return self.store.db["webhook_deliveries"]

    async def setup(self) -> None:
        """Indexes: due deliveries per subscription, and its log newest first."""
        await self._deliveries.create_index([("sub", ASCENDING), ("state", ASCENDING), ("next_at", ASCENDING)])
        await self._deliveries.create_index([("sub", ASCENDING), ("_id", DESCENDING)])

    # ---- subscriptions -------------------------------------------------------------------------------
    async def subscribe(self, body: WebhookBody, created_by: str) -> NewWebhook:
        """A new subscription; its signing secret is returned this once."""
        doc = {"_id": new_id("whk"), "url": str(body.url), "events": sorted(set(body.events)),
               "description": body.description.strip(), "secret": signing.new_secret(), "created_by": created_by,
               "created": self.clock()}
        await self._hooks.insert_one(doc)
        self._subs = (0.0, [])
        return NewWebhook(**info(doc).model_dump(), secret=doc["secret"])

    async def listed(self) -> list[WebhookInfo]:
        """Every subscription, newest first."""
        return [info(d) for d in await self._hooks.find().sort("_id", -1).to_list(1000)]

    async def get(self, sub_id: str) -> WebhookInfo | None:
        """One subscription."""
        doc = await self._hooks.find_one({"_id": sub_id})
        return None if doc is None else info(doc)

    async def remove(self, sub_id: str) -> bool:
        """End a subscription (its pending deliveries are dropped); False when there is none."""
        gone = (await self._hooks.delete_one({"_id": sub_id})).deleted_count == 1
        if gone:
            await self._deliveries.update_many({"sub": sub_id, "state": "pending"}, {"$set": {"state": "failed"}})
            self._subs = (0.0, [])
            self._wake(sub_id)
        return gone

    async def _subscriptions(self) -> list[dict[str, Any]]:
        fetched, subs = self._subs
        if time.monotonic() - fetched > 5.0:  # subscriptions change rarely; events come often
            subs = await self._hooks.find().to_list(1000)
            self._subs = (time.monotonic(), subs)
        return subs

    # ---- deliveries ----------------------------------------------------------------------------------
    async def deliveries(self, sub_id: str, limit: int = 200) -> list[DeliveryInfo]:
        """A subscription's delivery log, newest first."""
        docs = await self._deliveries.find({"sub": sub_id}).sort("_id", DESCENDING).to_list(limit)
        return [delivery_info(d) for d in docs]

    async def replay(self, sub_id: str, delivery_id: str) -> bool:
        """Send a delivery again now (the same webhook-id), whatever became of it; False when unknown."""
        if await self._hooks.find_one({"_id": sub_id}, projection={"_id": 1}) is None:
            return False
        now = self.clock()
        result = await self._deliveries.update_one(
            {"_id": delivery_id, "sub": sub_id},
            {"$set": {"state": "pending", "next_at": now, "deadline": now + self.give_up}})
        if result.matched_count != 1:
            return False
        self._wake(sub_id)
        return True

    async def on_event(self, d: Delivery[event_pb2.Event]) -> None:
        """One pending delivery per subscription to this event's type, then wake their workers."""
        event_type = d.subject.removeprefix(subjects.EVENTS_ROOT + ".")
        if event_type not in EVENT_TYPES:
            return
        subs = [s for s in await self._subscriptions() if event_type in s["events"]]
        if not subs:
            return
        body = payload(event_type, d.message)
        now = self.clock()
        docs = [{"_id": f"msg_{d.message.id}_{s['_id']}", "sub": s["_id"], "event_type": event_type,
                 "body": body.decode(), "state": "pending", "created": now, "next_at": now,
                 "deadline": now + self.give_up, "attempts": []} for s in subs]
        for doc in docs:  # a redelivered event finds its deliveries already there
            with contextlib.suppress(DuplicateKeyError):
                await self._deliveries.insert_one(doc)
        for s in subs:
            self._wake(s["_id"])

    def _wake(self, sub_id: str) -> None:
        self.wakeups.setdefault(sub_id, asyncio.Event()).set()
        task = self.workers.get(sub_id)
        if task is None or task.done():
            self.workers[sub_id] = asyncio.create_task(self._work(sub_id), name=f"webhook-{sub_id}")

    async def _work(self, sub_id: str) -> None:
        """Send this subscription's due deliveries one after another; sleep until the next is due or a wake-up."""
        wake = self.wakeups.setdefault(sub_id, asyncio.Event())
        while True:
            wake.clear()
            sub = await self._hooks.find_one({"_id": sub_id})
            if sub is None:
                return
            now = self.clock()
            doc = await self._deliveries.find_one_and_update(
                {"sub": sub_id, "state": "pending", "next_at": {"$lte": now}},
                {"$set": {"next_at": now + self.timeout + 30}}, sort=[("next_at", ASCENDING)])
            if doc is not None:
                await self._attempt(sub, doc)
                continue
            upcoming = await self._deliveries.find_one({"sub": sub_id, "state": "pending"},
                                                       sort=[("next_at", ASCENDING)], projection={"next_at": 1})
            if upcoming is None:
                return  # nothing left: the next event starts a new worker
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=max(0.05, upcoming["next_at"] - self.clock()))

    async def _attempt(self, sub: dict[str, Any], doc: dict[str, Any]) -> None:
        body = doc["body"].encode()
        headers = signing.headers(sub["secret"], doc["_id"], body) | {"Content-Type": "application/json",
                                                                       "User-Agent": "omnihub-webhooks/1"}
        if self.http is None:  # its resolver refuses names that resolve to blocked addresses (DNS rebinding)
            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=self.guard.resolver()))
        status, error = 0, ""
        try:
            self.guard.check_literal(sub["url"])
            async with self.http.post(sub["url"], data=body, headers=headers, allow_redirects=False,
                                      timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                status = resp.status
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
        except TimeoutError:
            error = f"no answer within {self.timeout:g} s"
        except BlockedAddress as exc:
            error = f"refused: {exc}"[:300]
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        now = self.clock()
        attempt = {"time": now, "status": status, "error": error}
        tries = len(doc.get("attempts", [])) + 1
        if not error:
            update: dict[str, Any] = {"state": "delivered"}
        elif now + self.policy.delay(tries) > doc.get("deadline", doc["created"] + self.give_up):
            update = {"state": "failed"}
        else:
            update = {"next_at": now + self.policy.delay(tries)}
        await self._deliveries.update_one({"_id": doc["_id"]}, {
            "$set": update, "$push": {"attempts": {"$each": [attempt], "$slice": -MAX_ATTEMPTS_LOGGED}}})

    async def start(self, bus: Bus) -> None:
        """The durable consumer of the subscribed event types, and workers for deliveries left pending."""
        self.consumer = await bus.consume(
            stream=subjects.STREAM_EVENTS, durable=DURABLE, message_type=event_pb2.Event,
            subjects=[subjects.event(*t.split(".", 1)) for t in EVENT_TYPES], handler=self.on_event,
            ack_wait=60.0)
        for sub_id in await self._deliveries.distinct("sub", {"state": "pending"}):
            self._wake(str(sub_id))

    async def stop(self) -> None:
        """Stop consuming and sending (pending deliveries wait in MongoDB for the next start)."""
        if self.consumer is not None:
            await self.consumer.stop()
        for task in self.workers.values():
            task.cancel()
        await asyncio.gather(*self.workers.values(), return_exceptions=True)
        if self.http is not None:
            await self.http.close()
