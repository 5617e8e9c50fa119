"""Erased customers stay erased: tombstones the consumers of the router, inbox, quality and email apply."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import nats.errors
from google.protobuf.message import Message

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, kv_key
from omnihub.common.logging import get_logger

log = get_logger("omnihub.tombstones")

# One key per erased customer: {customer_id, time, identities: [digest], conversations: [id], aliases: [customer ids
# merged into them]}. The bucket has no
# age bound (a tombstone must outlive every stream that could bring the customer back) and holds nothing personal:
# customer and conversation ids are random, identities are keyed digests.
BUCKET = "erased"
KEY_ENV = "OMNIHUB_ACTOR_KEY"  # the digest key: the secret the router, inbox, quality and email share
# Event kinds kept (anonymised) for an erased customer: a conversation's lifecycle, which KPIs count. Every other
# kind carries customer content (message texts, provider ids, survey answers, recordings, merges) and is dropped.
KEPT_PREFIXES = ("conversation_", "routing_decided")
# Free text agents type about a conversation, cleared from the kept events.
FREE_TEXT = {"conversation_wrapped_up": "notes", "conversation_transferred": "note", "conversation_flagged": "reason"}
PERSONAL_CONVERSATION_FIELDS = ("customer_id", "identity", "thread_key", "preview", "subject",
                                "customer_display_name", "recording_uri")


@dataclass
class Tombstones:
    """What was erased, in memory: the customer ids, their conversations and identity digests with the erasure time.

    `scrub` is the rule every consumer applies (installed on the bus by `watch`): an event naming an erased
    customer or conversation, or carrying an erased identity at or before its erasure time, loses everything
    personal (or is dropped when its kind is customer content); an inbound message from an erased identity received
    at or before the erasure time is dropped. A message received later is a new contact: a new customer.
    """

    key: bytes
    customers: dict[str, float] = field(default_factory=dict)
    conversations: set[str] = field(default_factory=set)
    identities: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.digest = lru_cache(maxsize=4096)(self._digest)

    def _digest(self, channel: str, source_id: str) -> str:
        """HMAC-SHA256 of `channel:source id` (channel as its token, e.g. "sms"), hex: never the address itself."""
        return hmac.new(self.key, f"{channel}:{source_id}".encode(), hashlib.sha256).hexdigest()

    def record(self, customer_id: str, identities: list[str], conversations: list[str], time: float) -> dict[str, Any]:
        """The stored form of one customer's tombstone; `identities` as "channel:source id"."""
        digests = sorted({self.digest(*i.split(":", 1)) for i in identities if ":" in i})
        return {"customer_id": customer_id, "time": time, "identities": digests, "conversations": sorted(conversations)}

    def add(self, doc: dict[str, Any]) -> None:
        """Apply a stored tombstone (a later erasure of the same customer moves its time forward)."""
        when = float(doc["time"])
        for customer in [doc["customer_id"], *doc.get("aliases", [])]:  # aliases: customers merged into them
            self.customers[str(customer)] = max(when, self.customers.get(str(customer), 0.0))
        self.conversations.update(str(c) for c in doc.get("conversations", []))
        for d in doc.get("identities", []):
            self.identities[str(d)] = max(when, self.identities.get(str(d), 0.0))

    def _erased_identity(self, channel: int, source_id: str, time: float) -> bool:
        if not source_id or not self.identities:
            return False
        erased = self.identities.get(self.digest(subjects.channel_token(channel) if channel else "", source_id))
        return erased is not None and time <= erased

    def event(self, evt: event_pb2.Event) -> event_pb2.Event | None:
        """The event as a consumer may store it: unchanged, anonymised, or None (dropped)."""
        if not self.customers:
            return evt
        kind = evt.WhichOneof("kind") or ""
        named = (evt.customer_id in self.customers or evt.conversation_id in self.conversations
                 or (kind == "conversation_created" and evt.conversation_created.conversation.customer_id
                     in self.customers))
        if not named and not self._erased_identity(evt.identity.channel or evt.channel, evt.identity.source_id,
                                                   evt.time.ToNanoseconds() / 1e9):
            return evt
        if not kind.startswith(KEPT_PREFIXES):
            return None
        out = event_pb2.Event()
        out.CopyFrom(evt)
        for name in ("customer_id", "identity", "thread_key"):
            out.ClearField(name)
        if kind == "conversation_created":
            conv = out.conversation_created.conversation
            for name in PERSONAL_CONVERSATION_FIELDS:
                conv.ClearField(name)  # type: ignore[arg-type]
        if kind in FREE_TEXT:
            getattr(out, kind).ClearField(FREE_TEXT[kind])
        return out

    def inbound(self, msg: messaging_pb2.InboundMessage) -> bool:
        """Whether the router may take this inbound message: not from an erased identity at or before its erasure
        (a message without a receive time cannot be placed before it and passes)."""
        return not msg.HasField("receive_time") or not self._erased_identity(msg.channel, msg.identity.source_id, msg.receive_time.ToNanoseconds() / 1e9)

    def outbound(self, msg: messaging_pb2.OutboundMessage) -> bool:
        """Whether a channel may still send this reply: not to an erased conversation, nor to an erased identity
        when it was written at or before the erasure (a reply queued for an erased customer is never sent)."""
        if not self.customers:
            return True
        if msg.conversation_id in self.conversations:
            return False
        return not msg.HasField("create_time") or not self._erased_identity(
            msg.channel or msg.identity.channel, msg.identity.source_id, msg.create_time.ToNanoseconds() / 1e9)

    def predates(self, channel: int, source_id: str, time: float) -> bool:
        """Whether something from this identity at `time` is from before its erasure (a channel's own check)."""
        return self._erased_identity(channel, source_id, time)

    def scrub(self, message: Message) -> Message | None:
        """The consumers' rule for any decoded message (other types pass unchanged)."""
        if isinstance(message, event_pb2.Event):
            return self.event(message)
        if isinstance(message, messaging_pb2.InboundMessage):
            return message if self.inbound(message) else None
        if isinstance(message, messaging_pb2.OutboundMessage):
            return message if self.outbound(message) else None
        return message


def from_env(required: bool = True) -> Tombstones:
    """Tombstones keyed by OMNIHUB_ACTOR_KEY (the router, the inbox, quality and email all have it). Without it the
    identity digests match nothing (warned when `required`): customer and conversation ids still hold."""
    key = os.environ.get(KEY_ENV, "")
    if not key and required:
        log.warning("tombstones.unkeyed", reason=f"{KEY_ENV} is not set: identity digests are keyed with an empty key")
    return Tombstones(key.encode())


async def put(bus: Bus, tombstones: Tombstones, doc: dict[str, Any]) -> None:
    """Record a tombstone for every service (and apply it here at once); an earlier one is merged into it."""
    kv = await bus.kv(BUCKET)
    key = kv_key(str(doc["customer_id"]))
    with contextlib.suppress(Exception):  # an earlier erasure of the same customer: keep its conversations
        old = json.loads((await kv.get(key)).value or b"{}")
        doc = {**doc, **{field: sorted(set(doc.get(field, [])) | set(old.get(field, [])))
                         for field in ("conversations", "identities", "aliases")}}
    await kv.put(key, json.dumps(doc).encode())
    tombstones.add(doc)


async def watch(bus: Bus, tombstones: Tombstones, stack: contextlib.AsyncExitStack,
                only: tuple[type[Message], ...] = ()) -> None:
    """Load every tombstone, keep following new ones, and make every consumer of `bus` apply them (`Bus.scrub`;
    with `only`, to those message types alone). Returns once the stored ones are loaded, so no message is consumed
    before they are known."""
    kv = await bus.kv(BUCKET)
    watcher = await kv.watchall()
    while True:
        try:
            entry = await watcher.updates(timeout=10.0)  # type: ignore[no-untyped-call]
        except nats.errors.TimeoutError:
            break
        if entry is None:  # the end of the stored values
            break
        _apply(tombstones, entry.value)
    if only:
        def scrub(message: Message) -> Message | None:
            return tombstones.scrub(message) if isinstance(message, only) else message

        bus.scrub = scrub
    else:
        bus.scrub = tombstones.scrub

    async def follow() -> None:
        async for entry in watcher:
            if entry is not None:
                _apply(tombstones, entry.value)

    task = asyncio.get_running_loop().create_task(follow(), name="tombstones")

    async def stop() -> None:
        with contextlib.suppress(Exception):
            await watcher.stop()  # type: ignore[no-untyped-call]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


def _apply(tombstones: Tombstones, value: bytes | None) -> None:
    try:
        tombstones.add(json.loads(value or b"{}"))
    except (ValueError, KeyError, TypeError) as exc:  # a deleted key or a bad value: nothing to apply
        log.warning("tombstones.bad_value", error=repr(exc))
