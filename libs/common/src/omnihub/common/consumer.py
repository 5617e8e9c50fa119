"""Durable JetStream pull consumers: the handler contract (ack, Retry, Reject), batches, holding, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

import nats.errors
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from prometheus_client import Counter

from omnihub.common import subjects
from omnihub.common._nats import PullReader, num_delivered
from omnihub.common.logging import get_logger
from omnihub.common.retry import HANDLER_RETRY

if TYPE_CHECKING:
    from omnihub.common.bus import Bus

log = get_logger("omnihub.bus")

M = TypeVar("M", bound=Message)

CONSUMED = Counter("omnihub_bus_consumed_total", "Messages handled by consumers", ["durable", "outcome"])


class Retry(Exception):
    """Raise from a handler to nak the message for redelivery after `delay` seconds."""

    def __init__(self, reason: str, delay: float = 1.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class Reject(Exception):
    """Raise from a handler to dead-letter the message now: no retry can help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Delivery(Generic[M]):
    """One decoded message handed to a consumer's handler."""

    message: M
    subject: str
    headers: dict[str, str]
    num_delivered: int
    msg_id: str
    raw: Msg = field(repr=False)


Handler = Callable[[Delivery[M]], Awaitable[None]]
# A batch handler may return deliveries it has not stored yet: they stay un-acked and come back at the
# head of the next batch (see `Consumer`).
BatchHandler = Callable[[list[Delivery[M]]], Awaitable[Sequence[Delivery[M]] | None]]


class Consumer(Generic[M]):
    """A running durable pull consumer.

    A batch handler may return some of its deliveries to *hold* them: they are not acked, and they are
    handed back at the head of the next batch (or alone within the fetch timeout when no more come),
    so a handler can group related messages across fetches. Held messages are nak'ed on stop.

    Handler contract: return to ack; raise `Retry` to nak with its delay; raise `Reject` to
    dead-letter at once; any other exception naks with exponential backoff. A message that
    fails its `max_deliver`-th attempt, or cannot be decoded, goes to deadletter.<stream>
    with the reason in a header, and the consumer moves on.
    """

    def __init__(
        self,
        bus: Bus,
        reader: PullReader,
        stream: str,
        durable: str,
        message_type: type[M],
        handler: Handler[M] | None,
        batch_handler: BatchHandler[M] | None,
        max_deliver: int,
        batch: int,
        prefetch: bool = False,
        pipeline: int = 1,
    ) -> None:
        self._bus = bus
        self._pipeline = max(1, pipeline)
        self._inflight: set[asyncio.Task[None]] = set()
        self._prefetch = prefetch
        self._held: list[Delivery[M]] = []
        self._reader = reader
        self.stream = stream
        self.durable = durable
        self._type = message_type
        self._handler = handler
        self._batch_handler = batch_handler
        self.max_deliver = max_deliver
        self._batch = batch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._acked = CONSUMED.labels(durable, "ack")  # bound once: label lookups are slow per message
        # Batches being decoded or handled, each a future done when its handler returned (`settled`).
        self._working: set[asyncio.Future[None]] = set()

    def start(self) -> None:
        """Begin fetching in a background task."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"consumer:{self.durable}")

    async def settled(self, timeout: float) -> bool:
        """Wait until every batch decoded before this call has been handled (so a change of `Bus.scrub` holds for
        everything handled from now on); False if some were still being handled after `timeout` seconds."""
        pending = set(self._working)
        if not pending:
            return True
        _, left = await asyncio.wait(pending, timeout=timeout)
        return not left

    def _begin(self) -> asyncio.Future[None]:
        work: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._working.add(work)
        return work

    def _end(self, work: asyncio.Future[None]) -> None:
        self._working.discard(work)
        if not work.done():
            work.set_result(None)

    async def stop(self) -> None:
        """Stop fetching and wait for the in-flight batch to finish."""
        self._bus.consumers.discard(self)
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5.0)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader.unsubscribe(), timeout=2.0)

    async def _run(self) -> None:
        ahead: asyncio.Task[list[Msg]] | None = None
        try:
            while not self._stopping.is_set():
                msgs = await (ahead or self._fetch())
                ahead = None
                if self._prefetch and msgs and not self._stopping.is_set():
                    ahead = asyncio.get_running_loop().create_task(self._fetch())
                if not msgs and not self._held:
                    continue
                if self._pipeline > 1 and self._batch_handler is not None:
                    await self._start(msgs)
                    continue
                work = self._begin()
                try:
                    await self._guarded(self._process(msgs))
                finally:
                    self._end(work)
        finally:
            if self._inflight:
                await asyncio.wait(self._inflight)
            await self._hand_back(ahead)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:  # never let one batch kill the consumer
            log.error("bus.batch_failed", durable=self.durable, error=repr(exc))

    async def _start(self, msgs: list[Msg]) -> None:
        """Handle a batch in its own task; wait while `pipeline` batches are in flight. Decoding (and
        dead-lettering what cannot be decoded) happens here, so handlers start in fetch order."""
        work = self._begin()
        try:
            deliveries = await self._decode_all(msgs)
        except BaseException:
            self._end(work)
            raise
        task = asyncio.get_running_loop().create_task(self._guarded(self._run_batch(deliveries)))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        task.add_done_callback(lambda _: self._end(work))
        await asyncio.sleep(0)  # let it start (and take its place in the handler's order) first
        while len(self._inflight) >= self._pipeline:
            await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)

    async def _hand_back(self, ahead: asyncio.Task[list[Msg]] | None) -> None:
        """Nak what was held or fetched ahead but never handled, so it is redelivered at once."""
        held, self._held = [d.raw for d in self._held], []
        if ahead is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait({ahead}, timeout=1.0)  # a fetch in flight ends within its 0.5 s timeout
            if ahead.done() and not ahead.cancelled() and ahead.exception() is None:
                held += ahead.result()
            else:
                ahead.cancel()
        with contextlib.suppress(Exception):
            for msg in held:
                await msg.nak()

    async def _fetch(self) -> list[Msg]:
        """The next batch, or [] after a timeout or a connection problem (logged, retried by the caller)."""
        try:
            return await self._reader.fetch(self._batch, 0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except (nats.errors.ConnectionClosedError, nats.errors.ConnectionDrainingError):
            if not self._stopping.is_set():
                await asyncio.sleep(0.5)
            return []
        except Exception as exc:
            log.warning("bus.fetch_failed", durable=self.durable, error=repr(exc))
            await asyncio.sleep(0.5)
            return []

    async def _decode_all(self, msgs: list[Msg]) -> list[Delivery[M]]:
        deliveries: list[Delivery[M]] = []
        for msg in msgs:
            delivery = await self._decode(msg)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    async def _process(self, msgs: list[Msg]) -> None:
        deliveries = await self._decode_all(msgs)
        if self._batch_handler is not None:
            held, self._held = await self._rescrub(self._held), []
            try:
                await self._run_batch(held + deliveries)
            except asyncio.CancelledError:
                # a stop that gave up waiting for this batch: its messages (held again or not) become the held
                # ones that _run's finally naks, redelivered at once rather than after ack_wait (JetStream ignores
                # the nak of one acked just before the cancel)
                self._held = [*held, *deliveries]
                raise
            return
        assert self._handler is not None
        for delivery in deliveries:
            await self._run_one(self._handler, delivery)

    async def _rescrub(self, held: list[Delivery[M]]) -> list[Delivery[M]]:
        """Held deliveries were scrubbed when decoded: apply `Bus.scrub` again (it may have changed since)."""
        scrub = self._bus.scrub
        if scrub is None or not held:
            return held
        kept = []
        for d in held:
            message = scrub(d.message)
            if message is None:
                await d.raw.ack()
                CONSUMED.labels(self.durable, "erased").inc()
                continue
            d.message = message  # type: ignore[assignment]
            kept.append(d)
        return kept

    async def _decode(self, msg: Msg) -> Delivery[M] | None:
        n = num_delivered(msg)
        if n > self.max_deliver:
            await self._dead(msg, f"exceeded max_deliver={self.max_deliver}")
            return None
        try:
            message = self._type.FromString(msg.data)
        except (DecodeError, ValueError) as exc:
            await self._dead(msg, f"decode: cannot parse {self._type.__name__}: {exc}")
            return None
        scrub = self._bus.scrub
        if scrub is not None:
            kept = scrub(message)
            if kept is None:  # an erased customer's late data: acknowledged, never handled
                await msg.ack()
                CONSUMED.labels(self.durable, "erased").inc()
                return None
            message = kept  # type: ignore[assignment]
        headers = msg.headers or {}
        return Delivery(message, msg.subject, headers, n, headers.get(subjects.HEADER_MSG_ID, ""), msg)

    async def _run_one(self, handler: Callable[[Delivery[M]], Awaitable[object]], d: Delivery[M]) -> None:
        try:
            held = await handler(d)
        except Reject as exc:
            await self._dead(d.raw, exc.reason)
        except Retry as exc:
            await self._failed(d, exc.reason, exc.delay)
        except Exception as exc:
            log.warning(
                "bus.handler_failed",
                durable=self.durable,
                error=repr(exc),
                subject=d.subject,
                attempt=d.num_delivered,
            )
            await self._failed(d, repr(exc), HANDLER_RETRY.delay(d.num_delivered))
        else:
            if held:
                self._held.append(d)
                return
            await d.raw.ack()
            self._acked.inc()

    async def _run_batch(self, deliveries: list[Delivery[M]]) -> None:
        if not deliveries:
            return
        assert self._batch_handler is not None
        try:
            held = await self._batch_handler(deliveries)
        except Exception as exc:
            log.warning("bus.batch_handler_failed", durable=self.durable, error=repr(exc))
            # Fall back to one at a time so a single poison message cannot block the batch.
            handler = self._batch_handler

            async def single(d: Delivery[M]) -> bool:
                return bool(await handler([d]))

            for d in deliveries:
                await self._run_one(single, d)
            return
        keep = {id(d) for d in held or ()}
        done = []
        for d in deliveries:
            if id(d) in keep:
                self._held.append(d)
            else:
                done.append(d.raw)
        await self._reader.ack(done)
        self._acked.inc(len(done))

    async def _failed(self, d: Delivery[M], reason: str, delay: float) -> None:
        if d.num_delivered >= self.max_deliver:
            await self._dead(d.raw, f"failed {d.num_delivered} deliveries; last error: {reason}")
            return
        await d.raw.nak(delay=delay)
        CONSUMED.labels(self.durable, "nak").inc()

    async def _dead(self, msg: Msg, reason: str) -> None:
        await self._bus.dead_letter(msg, self.stream, reason)
        await msg.term()
        CONSUMED.labels(self.durable, "deadletter").inc()
