"""The one publisher that touches nats-py internals: lists of messages as fast batches or with an ack each."""

from __future__ import annotations

from collections.abc import Sequence

from nats.aio.client import Client as NATS

from omnihub.common._nats.acked import AckedPublisher
from omnihub.common._nats.fastbatch import MIN_BATCH, FastPublisher
from omnihub.common.outgoing import Outgoing


class Publisher:
    """One per connection: `publish` stores messages bound for one stream, in order, and returns once all are
    acked: `min_batch` or more as a fast batch (`fastbatch`), fewer with an ack each (`acked`), which is back
    sooner."""

    def __init__(self, nc: NATS, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout
        self._acked: AckedPublisher | None = None
        self._fast: FastPublisher | None = None

    async def publish(self, messages: Sequence[Outgoing], *, min_batch: int = MIN_BATCH) -> int:
        """Store `messages`; returns how many (stored or deduplicated). Raises BusError when the stream
        refuses one."""
        if not messages:
            return 0
        if len(messages) < min_batch:
            return await self._publish_acked(messages)
        if self._fast is None:
            self._fast = FastPublisher(self._nc, each=self._publish_acked)
        return await self._fast.publish(messages, self._timeout)

    async def _publish_acked(self, messages: Sequence[Outgoing]) -> int:
        if self._acked is None:
            self._acked = AckedPublisher(self._nc)
        return await self._acked.publish(messages, self._timeout)
