"""The one consumer side that touches nats-py internals: fetching a batch off a pull subscription and acking many.

`fetch_batch` pays (see fetch.py). `ack_all` writes a batch's acks as one buffer; bench/bus.py does not
isolate it (both batch rows use it), so its gain is not shown by a figure here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from omnihub.common._nats.fetch import fetch_batch


class PullReader:
    """Fetch batches from a pull subscription and ack them: with `fast`, `fetch_batch` takes each batch off the
    subscription's queue in bursts; without, nats-py's own `fetch`. Acks of a batch go out as one buffer."""

    def __init__(self, nc: NATS, psub: Any, fast: bool) -> None:
        self._nc = nc
        self._psub = psub
        self._fast = fast

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to `batch` messages within `timeout`; raises nats-py's timeout/connection errors as `fetch` does."""
        if self._fast:
            return await fetch_batch(self._psub, batch, timeout)
        msgs: list[Msg] = await self._psub.fetch(batch, timeout=timeout)
        return msgs

    async def ack(self, msgs: Sequence[Msg]) -> None:
        """Ack these deliveries (see `ack_all`)."""
        await ack_all(self._nc, msgs)

    async def unsubscribe(self) -> None:
        """End the subscription."""
        await self._psub.unsubscribe()


async def ack_all(nc: NATS, msgs: Sequence[Msg]) -> None:
    """Ack JetStream deliveries as `Msg.ack` does, written as one buffer rather than one publish each."""
    if not nc.is_connected:  # nats-py buffers or refuses them while reconnecting, one by one
        for msg in msgs:
            await msg.ack()
        return
    frames = []
    for msg in msgs:
        msg._check_reply()
        frames.append(f"PUB {msg.reply} 0\r\n\r\n")
        msg._ackd = True
    if frames:
        await nc._send_command("".join(frames).encode())
        await nc._flush_pending()


def num_delivered(msg: Msg) -> int:
    """The delivery count from the JetStream ack subject (v1 `$JS.ACK.<stream>.<consumer>.<n>...` or v2 with
    domain and account hash), read without building nats-py's full metadata, which is slow per message."""
    tokens = (msg.reply or "").split(".")
    try:
        if len(tokens) == 9:
            return int(tokens[4])
        if len(tokens) >= 11:
            return int(tokens[6])
    except ValueError:
        pass
    return 1
