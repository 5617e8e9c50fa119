"""Leader election with a JetStream KV lease: one active instance, hot standbys take over on expiry."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors

from omnihub.common.bus import Bus
from omnihub.common.logging import get_logger

log = get_logger("omnihub.leader")


class LeaderLease:
    """Hold the key `name` in a KV bucket whose entries expire after `ttl` seconds.

    The leader rewrites the key every `renew` seconds with a revision check, so two instances can
    never both believe they hold it: a standby's `create` only succeeds once the key has expired.
    A leader that cannot renew for `ttl - renew` seconds steps down before anyone can take over.
    """

    def __init__(self, bus: Bus, bucket: str, name: str, holder: str, ttl: float = 4.0, renew: float = 1.0) -> None:
        if renew * 2 >= ttl:
            raise ValueError("renew must be well under ttl")
        self.bus = bus
        self.bucket = bucket
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.renew = renew
        self.is_leader = False
        self._revision = 0
        self._renewed = 0.0

    async def run(self, on_elected: Callable[[], Awaitable[None]], on_lost: Callable[[], Awaitable[None]],
                  stop: asyncio.Event) -> None:
        """Campaign until `stop` is set; call the callbacks on every change of leadership."""
        kv = await self.bus.kv(self.bucket, ttl=self.ttl)
        try:
            while not stop.is_set():
                if self.is_leader:
                    try:
                        self._revision = await kv.update(self.name, self.holder.encode(), last=self._revision)
                        self._renewed = time.monotonic()
                    except nats.js.errors.KeyWrongLastSequenceError:
                        await self._step_down(on_lost, "another instance holds the lease")
                    except Exception as exc:
                        if time.monotonic() - self._renewed > self.ttl - self.renew:
                            await self._step_down(on_lost, f"cannot renew: {exc!r}")
                else:
                    with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError, nats.errors.TimeoutError):
                        self._revision = await kv.create(self.name, self.holder.encode())
                        self._renewed = time.monotonic()
                        self.is_leader = True
                        log.info("leader.elected", name=self.name, holder=self.holder)
                        await on_elected()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.renew)
        finally:
            if self.is_leader:
                with contextlib.suppress(Exception):
                    await kv.delete(self.name, last=self._revision)  # hand over at once on a clean stop
                await self._step_down(on_lost, "stopping")

    async def _step_down(self, on_lost: Callable[[], Awaitable[None]], why: str) -> None:
        self.is_leader = False
        level = log.info if why == "stopping" else log.warning  # a clean stop hands over on purpose
        level("leader.lost", name=self.name, holder=self.holder, reason=why)
        await on_lost()
