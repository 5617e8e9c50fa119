"""JetStream fast-ingest batches (nats-server 2.14+, ADR-50, streams with `allow_batched`).

Each message of a batch names the batch in its reply subject,
`<inbox>.<batch id>.<flow>.<gap>.<batch sequence>.<operation>.$FI`, and carries no batch headers.
The server stores each message as it arrives, sends a flow ack (`{"type":"ack","seq":N,"msgs":M}`)
every `flow` messages, and answers the last one (operation "commit") with the batch's ack: stream,
last stream sequence, batch id and count. In `fail` gap mode a message the server refuses or never
gets ends the batch there, and that ack's count falls short. A message whose Nats-Msg-Id the stream
already holds is dropped and counted, as a plain publish is.

Measured here against the atomic batches used before (same file stream, 200-byte messages): a batch
of 64 took 2.5 ms instead of 12.4 ms and 17 us of nats-server CPU per message instead of 94 (an
atomic commit stages the batch in a temporary store and syncs it), with the same client CPU.

Kept because it pays (bench/bus.py, 500 messages a call on a batched stream, shared machine): 13,632-16,961/s
against 8,103-14,925/s with an ack each and 3,536-3,819/s with publish_async.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.nuid import NUID

from omnihub.common.logging import get_logger
from omnihub.common.outgoing import Outgoing, frame

log = get_logger("omnihub.bus")

# Below this many messages an ack each is as cheap and back sooner (8 messages: 0.56 ms and 35 us of
# nats-server CPU each, against 0.72 ms and 43 us as a batch; 20: 1.33 ms and 30 us, against 0.89 and 22).
MIN_BATCH = 16
FLOW = 500  # the server acks every FLOW messages; at most 2 * FLOW are sent ahead of the latest ack
OP_START, OP_ADD, OP_COMMIT = 0, 1, 2
PublishEach = Callable[[Sequence[Outgoing]], Awaitable[int]]


@dataclass(slots=True)
class _Batch:
    size: int
    done: asyncio.Future[dict[str, object]]
    acked: int = 0  # stored through this batch sequence, as far as the server said so
    progress: asyncio.Event = field(default_factory=asyncio.Event)


class FastPublisher:
    """One per connection: `publish` stores a list of messages bound for one stream, in order, as one
    fast batch, and returns once the batch's ack is in. A batch that ends short (a refused message, a
    lost one, an ack that does not come in time) goes on from the last message the server said it
    stored through `each`, which publishes with an ack per message: should some of those be stored
    already, Nats-Msg-Ids keep events from being stored twice, and key-value writes repeated in order
    leave the same values."""

    def __init__(self, nc: NATS, each: PublishEach) -> None:
        self._nc = nc
        self._each = each
        self._prefix = nc.new_inbox()
        self._nuid = NUID()
        self._sub: Subscription | None = None
        self._batches: dict[str, _Batch] = {}

    async def publish(self, messages: Sequence[Outgoing], timeout: float) -> int:
        """Store `messages` (all bound for one stream that allows fast batches); returns how many were
        stored or deduplicated. Raises BusError, from `each`, when the stream refuses one."""
        if not messages:
            return 0
        nc = self._nc
        if not nc.is_connected:
            return await self._each(messages)
        if self._sub is None:
            self._sub = await nc.subscribe(f"{self._prefix}.>", cb=self._on_reply)
        batch_id = self._nuid.next().decode()
        batch = _Batch(len(messages), asyncio.get_running_loop().create_future())
        self._batches[batch_id] = batch
        reply = f"{self._prefix}.{batch_id}.{FLOW}.fail."
        last = len(messages)
        try:
            async with asyncio.timeout(timeout):
                for lo in range(0, last, FLOW):
                    while lo - batch.acked >= 2 * FLOW and not batch.done.done():
                        batch.progress.clear()
                        await batch.progress.wait()
                    await nc._send_command(b"".join([
                        frame(out, nc.max_payload, f"{reply}{seq}.{_op(seq, last)}.$FI")
                        for seq, out in enumerate(messages[lo:lo + FLOW], start=lo + 1)]))
                    await nc._flush_pending()
                ack = await batch.done
        except TimeoutError:
            ack = {"error": {"description": f"no batch ack within {timeout:g} s"}}
        finally:
            self._batches.pop(batch_id, None)
        if "error" in ack or ack.get("count") != last:
            log.warning("bus.fast_batch_short", messages=last, stored=batch.acked, ack=ack)
            return batch.acked + await self._each(messages[batch.acked:])
        return last

    async def _on_reply(self, msg: Msg) -> None:
        tokens = msg.subject.split(".")  # the reply subject of the message answered: ...<batch>.<flow>.<gap>.<seq>.<op>.$FI
        batch = self._batches.get(tokens[-6])
        if batch is None or batch.done.done():
            return  # a late reply to a batch that ended
        if msg.headers and msg.headers.get("Status") == "503":
            batch.done.set_result({"error": {"description": "no stream takes the subject"}})
            return
        reply = json.loads(msg.data)
        kind = reply.get("type")
        if kind == "ack":
            batch.acked = max(batch.acked, int(reply.get("seq", 0)))
            batch.progress.set()
        elif kind is None:  # the batch's ack, or its end at a message refused: those before it are stored
            if "error" in reply:
                batch.acked = max(batch.acked, int(tokens[-3]) - 1)
            batch.done.set_result(reply)
            batch.progress.set()
        # "gap" and "err" frames are followed by the batch's ack, short


def _op(seq: int, last: int) -> int:
    return OP_COMMIT if seq == last else OP_START if seq == 1 else OP_ADD
