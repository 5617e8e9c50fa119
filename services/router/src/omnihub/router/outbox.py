"""The router's group commit: changes staged under one lock, then state written before its events are published."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.common.outgoing import Outgoing
from omnihub.common.wire import EventEncoder
from omnihub.router.records import Record
from omnihub.router.store import StateStore

_KIND_SUBJECT = {f.name: subjects.event_kind_subject(f.name)
                 for f in event_pb2.Event.DESCRIPTOR.oneofs_by_name["kind"].fields}
Watcher = asyncio.Queue[routing_pb2.AgentNotice]


def _fail(waiters: list[asyncio.Future[None]], exc: Exception) -> None:
    for w in waiters:
        if not w.done():
            w.set_exception(exc)


class Outbox:
    """Stages events, outbound auto-replies and agent notices, and writes them with the staged state."""

    def __init__(self, bus: Bus, store: StateStore, clock: Callable[[], float]) -> None:
        self.bus = bus
        self.store = store
        self.lock = asyncio.Lock()
        self._encoder = EventEncoder("router", clock)  # event times are the router's clock, as its state's are
        self._events: list[Outgoing] = []  # encoded when staged: subject, bytes, Nats-Msg-Id
        self._outbound: list[messaging_pb2.OutboundMessage] = []
        self._notices: list[tuple[str, routing_pb2.AgentNotice]] = []
        self._watchers: dict[str, set[Watcher]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    # ---- staging ------------------------------------------------------------------------
    def event(self, rec: Record | None, event_id: str = "", envelope: bytes = b"", **kind: Any) -> None:
        """Stage one event (a single `kind=` keyword) about `rec`'s conversation for the next flush.

        The conversation's envelope fields are encoded once per conversation and put in front of each
        event's own fields: protobuf decodes concatenated encodings as one message (merged)."""
        ((name, body),) = kind.items()
        event_id, data = self._encoder.encode(name, body, event_id)
        if rec is not None:
            envelope = self._envelope(rec)
        self._events.append(Outgoing(_KIND_SUBJECT[name], envelope + data, {subjects.HEADER_MSG_ID: event_id}))

    @staticmethod
    def _envelope(rec: Record) -> bytes:
        c = rec.conv
        key = (c.customer_id, c.queue)  # what can change (a merge, a transfer); the rest is fixed
        if rec.envelope_key != key:
            rec.envelope = event_pb2.Event(
                conversation_id=c.id, customer_id=c.customer_id, channel=c.channel, thread_key=c.thread_key,
                identity=c.identity, queue=c.queue).SerializeToString()
            rec.envelope_key = key
        return rec.envelope

    def outbound(self, message: messaging_pb2.OutboundMessage) -> None:
        """Stage a message to the customer (an auto-reply), published after the state is written."""
        self._outbound.append(message)

    def notify(self, agent_id: str, **kind: Any) -> None:
        """Stage a notice for the agent's watching clients, delivered once its flush is published."""
        self._notices.append((agent_id, routing_pb2.AgentNotice(**kind)))

    # ---- watchers -----------------------------------------------------------------------
    def watched(self, agent_id: str) -> bool:
        """True when some client watches the agent's offers (else notices are not even built)."""
        return bool(self._watchers.get(agent_id))

    def watch(self, agent_id: str) -> Watcher:
        """A new queue receiving the agent's notices until `unwatch`."""
        queue: Watcher = asyncio.Queue()
        self._watchers.setdefault(agent_id, set()).add(queue)
        return queue

    def unwatch(self, agent_id: str, queue: Watcher) -> None:
        """Stop delivering the agent's notices to `queue`."""
        self._watchers.get(agent_id, set()).discard(queue)

    # ---- group commit -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def changing(self) -> AsyncIterator[None]:
        """Change state under the lock, then wait, outside it, until the change is durable and
        published (group commit): other requests stage their changes into the same write meanwhile,
        and their callers, like this one, only return once their own changes are persisted."""
        async with self.lock:
            yield
            waiter = self._commit()
        await waiter

    def _commit(self) -> asyncio.Future[None]:
        """A future resolved once everything staged so far is written (by the flusher task)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())
        return waiter

    async def _flush_loop(self) -> None:
        """Write staged changes in two overlapping stages: a flush's state goes to KV while the previous
        flush's events are still being published. Each flush's events follow its own state (an event
        never names unsaved state) and the previous flush's events (their order holds)."""
        publishing: asyncio.Task[None] | None = None
        while self._waiters or (publishing is not None and not publishing.done()):
            if not self._waiters:
                assert publishing is not None
                await asyncio.wait({publishing})  # then look again: callers may have staged meanwhile
                continue
            waiters, self._waiters = self._waiters, []
            dirty = self.store.take()
            events, self._events = self._events, []
            outbound, self._outbound = self._outbound, []
            notices, self._notices = self._notices, []
            try:
                await self.store.write(dirty)
            except Exception as exc:
                _fail(waiters, exc)
                continue
            publishing = asyncio.get_running_loop().create_task(
                self._publish_flush(publishing, waiters, events, outbound, notices))

    async def _publish_flush(self, previous: asyncio.Task[None] | None, waiters: list[asyncio.Future[None]],
                             events: list[Outgoing], outbound: list[messaging_pb2.OutboundMessage],
                             notices: list[tuple[str, routing_pb2.AgentNotice]]) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self.bus.publish_many(subjects.STREAM_EVENTS, events)
            if outbound:
                async with self.bus.batch() as batch:
                    for out in outbound:
                        await batch.publish(subjects.outbound(out.channel), out, msg_id=out.id)
        except Exception as exc:
            _fail(waiters, exc)
            return
        for agent_id, notice in notices:
            for q in self._watchers.get(agent_id, ()):
                q.put_nowait(notice)
        for w in waiters:
            if not w.done():  # a cancelled caller (client hung up) no longer waits
                w.set_result(None)
