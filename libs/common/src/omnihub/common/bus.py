"""JetStream helpers: connect, ensure streams, publish protobuf with dedupe ids, durable consumers."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue
from prometheus_client import Counter

from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects
from omnihub.common._nats import MIN_BATCH, Publisher, PullReader, num_delivered, publish_retrying
from omnihub.common.consumer import BatchHandler, Consumer, Delivery, Handler, M, Reject, Retry
from omnihub.common.errors import BusError
from omnihub.common.logging import get_logger
from omnihub.common.outgoing import Outgoing
from omnihub.common.retry import STREAM_RETRY

log = get_logger("omnihub.bus")

# The consumer's names, where every service has imported them from (they live in omnihub.common.consumer).
__all__ = [
    "BatchHandler",
    "BatchPublisher",
    "Bus",
    "Consumer",
    "Delivery",
    "Handler",
    "Reject",
    "Retry",
    "kv_key",
    "new_event",
    "new_id",
    "now_timestamp",
]

PUBLISHED = Counter("omnihub_bus_published_total", "Messages published to JetStream", ["stream"])

ACK_TIMEOUT = 10.0


def new_id(prefix: str) -> str:
    """A unique, unguessable id sortable by creation time, e.g. "cnv_0193c1b2e4f0" + 32 hex: the time in ms,
    then 128 random bits (ids reach browsers and URLs, so none can be predicted from another)."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(16)}"


_KV_UNSAFE = re.compile(r"[^-/_.a-zA-Z0-9]")


def _hex_escape(match: re.Match[str]) -> str:
    return "".join(f"={b:02X}" for b in match.group().encode())


def kv_key(raw: str) -> str:
    """Encode any string as a valid KV key: unsafe characters become =XX (UTF-8 hex)."""
    if not raw:
        raise ValueError("empty KV key")
    return _KV_UNSAFE.sub(_hex_escape, raw).strip(".")


def now_timestamp() -> timestamp_pb2.Timestamp:
    """The current time as a protobuf Timestamp."""
    now = time.time_ns()
    return timestamp_pb2.Timestamp(seconds=now // 1_000_000_000, nanos=now % 1_000_000_000)


def new_event(source: str, **fields: Any) -> event_pb2.Event:
    """Build an Event envelope with a fresh id and time; pass envelope fields and one kind."""
    if "id" not in fields:
        fields["id"] = new_id("evt")
    if "time" not in fields:
        fields["time"] = now_timestamp()
    return event_pb2.Event(source=source, **fields)


def _store_busy(exc: BaseException) -> bool:
    return isinstance(exc, nats.js.errors.ServerError) and exc.err_code == 10049


class Bus:
    """A NATS connection with omnihub's JetStream conventions."""

    def __init__(self, nc: NATS, *, replicas: int = 1) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream(timeout=ACK_TIMEOUT)
        self.replicas = replicas
        self._publisher = Publisher(nc, ACK_TIMEOUT)
        self.closing = False  # set by close(): a closed connection is then expected
        # Applied by every consumer of this connection to each decoded message before its handler: the message as
        # the handler may see it, or None to acknowledge and drop it (erased customers: `omnihub.common.tombstones`).
        self.scrub: Callable[[Message], Message | None] | None = None
        self.consumers: set[Consumer[Any]] = set()  # the running ones (`settled`)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        name: str,
        replicas: int = 1,
        connect_wait: float = 30.0,
        on_lost: Callable[[], None] | None = None,
    ) -> Bus:
        """Connect with endless reconnects; the first connect retries for `connect_wait` s.

        nats-py gives up for good when the server answers a protocol error (such as "maximum control line
        exceeded"): `on_lost` is then called, so the service can stop instead of sitting half-alive.
        """

        connected = False
        nc: NATS | None = None
        bus: Bus | None = None

        async def on_closed() -> None:
            if bus is not None and not bus.closing:
                log.error("nats.closed_for_good", url=url, error=str(nc.last_error if nc else ""))
                if on_lost is not None:
                    on_lost()

        async def on_disconnect() -> None:
            if nc is not None and nc.is_closed:  # our own close(): expected, not worth a warning
                log.info("nats.closed", url=url)
            else:
                log.warning("nats.disconnected", url=url)

        async def on_reconnect() -> None:
            log.info("nats.reconnected", url=url)

        async def on_error(exc: Exception) -> None:
            if connected:  # before the first connect, the timeout below reports the problem
                log.warning("nats.error", error=str(exc))

        try:
            nc = await asyncio.wait_for(
                nats.connect(
                    servers=[u.strip() for u in url.split(",")],
                    name=name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    allow_reconnect=True,
                    disconnected_cb=on_disconnect,
                    reconnected_cb=on_reconnect,
                    error_cb=on_error,
                    closed_cb=on_closed,
                ),
                timeout=connect_wait,
            )
        except (TimeoutError, OSError, nats.errors.NoServersError) as exc:
            raise BusError(f"cannot connect to NATS at {url} within {connect_wait:g}s") from exc
        connected = True
        assert nc is not None
        bus = cls(nc, replicas=replicas)
        return bus

    @property
    def connected(self) -> bool:
        """True while the NATS connection is up."""
        return bool(self.nc.is_connected)

    @property
    def lost(self) -> bool:
        """True when the connection was closed without close(): no reconnect will follow."""
        return bool(self.nc.is_closed) and not self.closing

    async def ensure_streams(self, specs: Sequence[subjects.StreamSpec] = subjects.STREAMS) -> None:
        """Create or update omnihub's streams: file storage, dedupe windows, limits."""
        for spec in specs:
            config = api.StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                discard=api.DiscardPolicy.NEW if spec.discard_new else api.DiscardPolicy.OLD,
                max_msgs=spec.max_msgs,
                max_bytes=spec.max_bytes,
                duplicate_window=spec.duplicate_window_seconds,
                max_age=spec.max_age_seconds,
                max_msg_size=spec.max_msg_size,
                num_replicas=self.replicas,
                allow_batched=spec.batched or None,
            )
            await self._add_or_update_stream(config)

    async def enable_batched(self, stream: str) -> None:
        """Let an existing stream (a KV bucket's, say) take fast batches; nats-server 2.14+."""
        info = await self.js.stream_info(stream)
        if not info.config.allow_batched:
            info.config.allow_batched = True
            await self.js.update_stream(info.config)

    async def publish_many(self, stream: str, messages: Sequence[Outgoing], *, min_batch: int = MIN_BATCH) -> int:
        """Store messages bound for `stream`, in order: `min_batch` or more as a fast batch, acked every few
        hundred, fewer with an ack each, which is back sooner (`omnihub.common._nats.Publisher`). Raises
        BusError when the stream refuses one."""
        stored = await self._publisher.publish(messages, min_batch=min_batch)
        if stored:
            PUBLISHED.labels(stream).inc(stored)
        return stored

    @staticmethod
    def event_message(evt: event_pb2.Event) -> Outgoing:
        """An Event envelope as a batch message on its subject, its id as Nats-Msg-Id."""
        return Outgoing(subjects.event_subject(evt), evt.SerializeToString(), {subjects.HEADER_MSG_ID: evt.id})

    async def _add_or_update_stream(self, config: api.StreamConfig) -> None:
        """Create a stream, or update it when it exists. nats-server answers 500 "error creating store"
        (10049) while a just-deleted stream of the same name is still being removed: retried."""
        async for attempt in STREAM_RETRY.retrying(_store_busy):
            with attempt:
                try:
                    await self.js.add_stream(config)
                except nats.js.errors.BadRequestError:
                    await self.js.update_stream(config)

    async def publish(
        self,
        subject: str,
        message: Message,
        *,
        msg_id: str,
        headers: dict[str, str] | None = None,
    ) -> api.PubAck:
        """Publish one protobuf with Nats-Msg-Id and wait for its ack (retrying safely)."""
        hdrs = {**(headers or {}), subjects.HEADER_MSG_ID: msg_id}  # the id makes a retry safe
        ack = await publish_retrying(self.js, subject, message.SerializeToString(), hdrs)
        PUBLISHED.labels(ack.stream).inc()
        return ack

    async def publish_event(self, evt: event_pb2.Event) -> api.PubAck:
        """Publish an Event envelope on its subject with its id as Nats-Msg-Id."""
        return await self.publish(subjects.event_subject(evt), evt, msg_id=evt.id)

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[BatchPublisher]:
        """Publish many messages with publish_async; all acks are awaited together on exit."""
        batch = BatchPublisher(self)
        yield batch
        await batch.flush()

    async def kv(self, bucket: str, *, history: int = 1, ttl: float | None = None) -> KeyValue:
        """Open a JetStream key-value bucket, creating it with file storage when missing."""
        try:
            return await self.js.key_value(bucket)
        except nats.js.errors.BucketNotFoundError:
            config = api.KeyValueConfig(
                bucket=bucket,
                history=history,
                ttl=ttl,
                storage=api.StorageType.FILE,
                replicas=self.replicas,
            )
            return await self.js.create_key_value(config)

    async def consume(
        self,
        *,
        stream: str,
        durable: str,
        subjects: Sequence[str],
        message_type: type[M],
        handler: Handler[M] | None = None,
        batch_handler: BatchHandler[M] | None = None,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        batch: int = 64,
        max_ack_pending: int = 10_000,
        prefetch: bool = False,
        fast_fetch: bool = False,
        pipeline: int = 1,
    ) -> Consumer[M]:
        """Start a durable pull consumer as a task. See `Consumer` for the handler contract.

        With `prefetch`, the next batch is fetched and decoded while the handler works on the current
        one (batches are still handled one after another, in order). `fast_fetch` takes each batch off
        the subscription's queue in bursts (`omnihub.common._nats.fetch`), about 2.5x nats-py's fetch; the
        high-volume consumers use it (the router's intake, quality's ingest). With `pipeline` > 1, a
        batch handler may start on the next batch while earlier ones still wait (for a group commit,
        say); the handler must keep their effects in order itself (the router's lock does), and each
        batch is acked when its own handler returns. Holding deliveries needs `pipeline` 1.
        """
        if (handler is None) == (batch_handler is None):
            raise ValueError("pass exactly one of handler or batch_handler")
        config = api.ConsumerConfig(
            durable_name=durable,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=ack_wait,
            max_deliver=-1,  # we count deliveries ourselves so poison messages reach the DLQ
            max_ack_pending=max_ack_pending,
            filter_subjects=list(subjects) if len(subjects) > 1 else None,
            filter_subject=subjects[0] if len(subjects) == 1 else None,
        )
        psub = await self.js.pull_subscribe(
            subjects[0] if len(subjects) == 1 else "",
            durable=durable,
            stream=stream,
            config=config,
        )
        consumer = Consumer(
            self, PullReader(self.nc, psub, fast_fetch), stream, durable, message_type, handler, batch_handler,
            max_deliver, batch, prefetch, pipeline,
        )
        consumer.start()
        self.consumers.add(consumer)
        return consumer

    async def settled(self, timeout: float = 10.0) -> bool:
        """Wait until every consumer of this connection has handled the batches it decoded before this call: after
        a change of `scrub` (a new tombstone), nothing decoded under the old rule is still to be written."""
        if not self.consumers:
            return True
        results = await asyncio.gather(*(c.settled(timeout) for c in list(self.consumers)))
        return all(results)

    async def dead_letter(self, msg: Msg, stream: str, reason: str) -> None:
        """Copy a message to deadletter.<stream> with the reason and origin in headers."""
        headers = dict(msg.headers or {})
        original_id = headers.pop(subjects.HEADER_MSG_ID, "")
        headers.update(
            {
                subjects.HEADER_DLQ_REASON: reason[:1000],
                subjects.HEADER_DLQ_SUBJECT: msg.subject,
                subjects.HEADER_DLQ_STREAM: stream,
                subjects.HEADER_DLQ_DELIVERIES: str(num_delivered(msg)),
                subjects.HEADER_MSG_ID: f"dlq:{stream}:{_stream_seq(msg)}:{original_id}",
            }
        )
        await self.js.publish(subjects.deadletter(stream), msg.data, headers=headers)
        log.warning("bus.dead_lettered", stream=stream, subject=msg.subject, reason=reason)

    async def close(self) -> None:
        """Drain subscriptions and close the connection, in bounded time even if NATS is gone."""
        self.closing = True
        if self.nc.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), timeout=5.0)
        if not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), timeout=2.0)


class BatchPublisher:
    """Collects publish_async futures; `flush` awaits them and re-sends any that failed."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._pending: list[tuple[str, bytes, dict[str, str], asyncio.Future[api.PubAck]]] = []

    async def publish(
        self, subject: str, message: Message, *, msg_id: str, headers: dict[str, str] | None = None
    ) -> None:
        """Queue one message; its ack is collected by `flush`."""
        hdrs = {subjects.HEADER_MSG_ID: msg_id} if headers is None else {**headers, subjects.HEADER_MSG_ID: msg_id}
        payload = message.SerializeToString()
        future = await self._bus.js.publish_async(subject, payload, headers=hdrs)
        self._pending.append((subject, payload, hdrs, future))

    async def publish_event(self, evt: event_pb2.Event) -> None:
        """Queue an Event envelope on its subject."""
        await self.publish(subjects.event_subject(evt), evt, msg_id=evt.id)

    async def flush(self) -> list[api.PubAck]:
        """Wait for every ack; re-publish (same ids, so no duplicates) those that failed."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        done, _ = await asyncio.wait([p[3] for p in pending], timeout=ACK_TIMEOUT)
        acks: list[api.PubAck] = []
        counts: dict[str, int] = {}
        for subject, payload, hdrs, future in pending:
            if future in done and future.exception() is None:
                ack = future.result()
            else:
                if not future.done():
                    future.cancel()
                ack = await publish_retrying(self._bus.js, subject, payload, hdrs)
            counts[ack.stream] = counts.get(ack.stream, 0) + 1
            acks.append(ack)
        for stream, n in counts.items():  # one metrics update per stream, not per message
            PUBLISHED.labels(stream).inc(n)
        return acks


def _stream_seq(msg: Msg) -> int:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return 0
