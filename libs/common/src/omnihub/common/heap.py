"""Keeping the garbage collector's full collections short in a service that holds much state.

CPython starts a full collection whenever the objects that survived young collections grow by a
quarter, and a full collection walks every tracked object. A router holding 8,000 conversations
(a record, a protobuf `Conversation`, lists and dicts: 40,000 tracked objects) paused 27-57 ms per
full collection, about once a second at 2,000 conversations/s; with a day of closed conversations
it would be hundreds of milliseconds. Long-lived state is not cyclic garbage (it is freed by
reference counting when dropped), so it is moved out of the collector's view (`gc.freeze`) every
second; what was frozen is given back to one full collection an hour, which reclaims any
cycle that was frozen while alive.
"""

from __future__ import annotations

import asyncio
import gc
import time

from omnihub.common.logging import get_logger

log = get_logger("omnihub.heap")

FREEZE_EVERY_SECONDS = 1.0
FULL_EVERY_SECONDS = 3600.0


def freeze_startup() -> None:
    """Collect once, then freeze what starting made (modules, configuration, restored state)."""
    gc.collect()
    gc.freeze()


async def freeze_long_lived(every: float = FREEZE_EVERY_SECONDS, full_every: float = FULL_EVERY_SECONDS) -> None:
    """Run forever: freeze the survivors every `every` seconds, and unfreeze them for one full
    collection every `full_every` seconds (logged with its pause)."""
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(every)
        if time.monotonic() - last_full >= full_every:
            gc.unfreeze()
            started = time.perf_counter()
            found = gc.collect()
            log.info("heap.full_collection", pause_ms=round((time.perf_counter() - started) * 1e3, 1),
                     unreachable=found, tracked=len(gc.get_objects()))
            last_full = time.monotonic()
        gc.collect(1)  # the young garbage goes first: only survivors are frozen
        gc.freeze()
