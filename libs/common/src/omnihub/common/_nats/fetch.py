"""A faster batch fetch for JetStream pull subscriptions.

nats-py's `PullSubscription.fetch` awaits each message through `next_msg`, which creates a task, a
timer and a uuid per message: about a third of a consumer's time. This fetch sends the same pull
requests but takes every message already parsed off the subscription's queue at once, awaiting only
when the queue is empty. It relies on nats-py's subscription internals (`_sub`, `_nms`, `_deliver`),
pinned by uv.lock and exercised by every consumer test.

Kept because it pays (bench/bus.py, 20,000 messages, shared 2-core machine, load 18-24): a handler consumer
5,996-7,304/s with it against 2,417-3,137/s with nats-py's fetch (2.3-2.5x); a batch handler 5,624-13,559/s
against 1,694-2,229/s.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from nats.aio.msg import Msg
from nats.js import api
from nats.js.errors import APIError

END_OF_REQUEST = frozenset({api.StatusCode.NO_MESSAGES, api.StatusCode.REQUEST_TIMEOUT, api.StatusCode.CONFLICT})


async def fetch_batch(psub: Any, batch: int, timeout: float) -> list[Msg]:
    """Up to `batch` messages: all that are waiting now, else the first that arrive within `timeout` ([] if none)."""
    sub = psub._sub
    msgs: list[Msg] = []
    deadline = time.monotonic() + timeout
    await _collect(sub, msgs, batch, deadline, wait=False)  # left from an earlier lingering request
    if len(msgs) >= batch:
        return msgs
    # no_wait: the server sends what it has now, then a 404 or 408 status
    await _request(psub, {"batch": batch - len(msgs), "no_wait": True})
    await _collect(sub, msgs, batch, deadline, wait=True, until_status=True)
    if msgs:
        return msgs
    remaining = deadline - time.monotonic()
    if remaining <= 0.01:
        return msgs
    # nothing waiting: a lingering request, answered as soon as anything arrives
    await _request(psub, {"batch": batch, "expires": int((remaining - 0.005) * 1e9)})
    await _collect(sub, msgs, batch, deadline, wait=True)
    return msgs


async def _request(psub: Any, body: dict[str, Any]) -> None:
    await psub._nc.publish(psub._nms, json.dumps(body).encode(), psub._deliver)


async def _collect(sub: Any, msgs: list[Msg], batch: int, deadline: float, *, wait: bool,
                   until_status: bool = False) -> None:
    """Move messages from the subscription's queue into `msgs` until the batch is full or the queue runs
    dry after something arrived. With `until_status`, a 404/408/409 status ends the wait (else such
    statuses are stale answers to earlier requests and are skipped)."""
    queue: asyncio.Queue[Msg] = sub._pending_queue
    while len(msgs) < batch:
        if queue.empty():
            if not wait or msgs:  # what was waiting has been parsed: don't sit out a status queued behind
                return            # an earlier lingering request of ours (it would cost the whole timeout)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                msg = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return
        else:
            msg = queue.get_nowait()
        sub._pending_size -= len(msg.data)
        status = msg.headers.get(api.Header.STATUS) if msg.headers else None
        if not status:
            msgs.append(msg)
        elif status in END_OF_REQUEST:
            if until_status:
                return
        elif status != api.StatusCode.CONTROL_MESSAGE:
            raise APIError.from_msg(msg)
