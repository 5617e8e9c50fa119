"""Publishing many JetStream messages with an ack each, at a fraction of `publish_async`'s cost.

nats-py's `publish_async` makes a future, an inbox token and a parsed `PubAck` per message, behind a
semaphore. Here the messages of one call go out as one buffer, each with a reply subject of its own
under one wildcard subscription; the acks are counted as they come in, and the call waits on a single
future. The guarantees are `publish_async`'s: every message is acked by the stream (or deduplicated by
its Nats-Msg-Id), and messages whose ack does not come in time are published again, one by one.

Kept because it pays where it carries volume (bench/bus.py, shared machine, load 18-24): 500 messages a call
8,103-14,925/s against publish_async's 1,245-3,819/s (a fast batch's fallback, and the path of a stream
without fast batches). For 8 messages a call it measured level with publish_async (2,839 / 6,847 / 5,349
against 2,189 / 6,955 / 5,554 in three runs): no gain shown there, none lost; the router's small flushes use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext, api

from omnihub.common.errors import BusError
from omnihub.common.outgoing import Outgoing, frame
from omnihub.common.retry import PUBLISH_RETRY


def _ack_lost(exc: BaseException) -> bool:
    return isinstance(exc, nats.errors.TimeoutError | nats.js.errors.NoStreamResponseError)


async def publish_retrying(js: JetStreamContext, subject: str, payload: bytes,
                           headers: dict[str, str] | None) -> api.PubAck:
    """Publish one message and wait for its ack, trying again (PUBLISH_RETRY: 0.2 s apart, doubling up to 2 s)
    when the ack is lost or no stream answers yet. A Nats-Msg-Id makes a repeat harmless; so does a
    key-value write."""
    try:
        async for attempt in PUBLISH_RETRY.retrying(_ack_lost):
            with attempt:
                return await js.publish(subject, payload, headers=headers)
    except (nats.errors.TimeoutError, nats.js.errors.NoStreamResponseError) as exc:
        raise BusError(f"publish to {subject} failed after {PUBLISH_RETRY.attempts} attempts: {exc!r}") from exc
    raise AssertionError("unreachable: tenacity re-raises the last error")


@dataclass(slots=True)
class _Call:
    total: int
    done: asyncio.Future[None]
    acked: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)


class AckedPublisher:
    """One per connection: `publish` stores a list of messages and returns once all are acked."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._sub: Subscription | None = None
        self._calls: dict[str, _Call] = {}
        self._ids = itertools.count(1)

    async def publish(self, messages: Sequence[Outgoing], timeout: float) -> int:
        """Store `messages` in order; returns how many (stored or deduplicated). Raises BusError when a
        stream refuses one (no stream for the subject, a limit)."""
        if not messages:
            return 0
        nc = self._nc
        if self._sub is None:
            self._sub = await nc.subscribe(f"{self._prefix}.*.*", cb=self._on_ack)
        key = f"{next(self._ids):x}"
        call = _Call(len(messages), asyncio.get_running_loop().create_future())
        self._calls[key] = call
        try:
            if nc.is_connected:
                await nc._send_command(b"".join(frame(out, nc.max_payload, f"{self._prefix}.{key}.{i}")
                                                for i, out in enumerate(messages)))
                await nc._flush_pending()
                with contextlib.suppress(TimeoutError):  # what is missing then is resent below
                    await asyncio.wait_for(asyncio.shield(call.done), timeout)
            await self._resend([m for i, m in enumerate(messages) if i not in call.acked], timeout)
        finally:
            self._calls.pop(key, None)
        if call.errors:
            raise BusError(f"publish to {messages[0].subject} refused: {call.errors[0]}")
        return len(messages)

    async def _resend(self, missing: Sequence[Outgoing], timeout: float) -> None:
        """Publish what was not acked in time, one by one."""
        js = self._nc.jetstream(timeout=timeout)
        for out in missing:
            await publish_retrying(js, out.subject, out.payload, out.headers)

    async def _on_ack(self, msg: Msg) -> None:
        _, key, index = msg.subject.rsplit(".", 2)
        call = self._calls.get(key)
        if call is None:
            return  # a late ack for a call that resent or ended
        status = msg.headers.get("Status") if msg.headers else None
        if status == "503":
            call.errors.append("no stream takes the subject")
        elif msg.data.startswith(b'{"error"'):
            error = json.loads(msg.data)["error"]
            call.errors.append(f"{error.get('description')} ({error.get('err_code')})")
        call.acked.add(int(index))
        if len(call.acked) == call.total and not call.done.done():
            call.done.set_result(None)
