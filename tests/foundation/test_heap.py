"""Long-lived objects leave the garbage collector's view, and go back to it for a full collection."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref

from omnihub.common import heap
from omnihub.testkit.waiting import eventually


class Node:
    """A weak-referenceable object to put in a cycle."""

    other: Node | None = None


async def test_survivors_are_frozen_and_a_cycle_frozen_while_alive_is_reclaimed_by_the_full_collection() -> None:
    gc.unfreeze()
    try:
        kept = [[i] for i in range(1000)]  # long-lived state, tracked by the collector
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        gc.freeze()
        del a, b  # a cycle that became garbage while frozen: only a full collection after unfreezing frees it
        gc.collect()
        assert gone() is not None
        gc.unfreeze()
        gc.freeze()  # as the loop leaves things between its full collections
        task = asyncio.create_task(heap.freeze_long_lived(every=0.05, full_every=0.12))
        await eventually(lambda: gone() is None, timeout=5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert gone() is None
        assert gc.get_freeze_count() >= len(kept)  # and the survivors are frozen again afterwards
    finally:
        gc.unfreeze()
