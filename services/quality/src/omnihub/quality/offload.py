"""CPU-heavy work (staffing maths) in a worker thread under a time limit, so health checks and ingest keep answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CPU_SECONDS = 5.0
CONCURRENT = 2


class Busy(Exception):
    """Every worker slot is taken: the caller should retry later (503 / RESOURCE_EXHAUSTED)."""


class Offload:
    """Runs `fn(deadline)` in a thread: at most `concurrent` at once, each stopping itself at its deadline
    (the maths checks it: a thread cannot be killed, and a process pool would cost more than the maths)."""

    def __init__(self, seconds: float = CPU_SECONDS, concurrent: int = CONCURRENT) -> None:
        self.seconds = seconds
        self._slots = asyncio.Semaphore(concurrent)

    async def run(self, fn: Callable[[float], T]) -> T:
        """The result of `fn(deadline)`; Busy when every slot is taken."""
        if self._slots.locked():
            raise Busy("the staffing calculator is busy; retry in a few seconds")
        async with self._slots:
            return await asyncio.to_thread(fn, time.monotonic() + self.seconds)
