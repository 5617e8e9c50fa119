"""The KV lease elects exactly one leader and hands over when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from omnihub.common.bus import Bus
from omnihub.common.leader import LeaderLease
from omnihub.testkit.waiting import eventually


async def test_one_leader_then_handover(bus: Bus) -> None:
    log: list[str] = []

    def callbacks(name: str) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
        async def elected() -> None:
            log.append(f"{name}+")

        async def lost() -> None:
            log.append(f"{name}-")

        return elected, lost

    a = LeaderLease(bus, "test_leader", "router", "a", ttl=2.0, renew=0.4)
    b = LeaderLease(bus, "test_leader", "router", "b", ttl=2.0, renew=0.4)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(*callbacks("a"), stop_a))
    await eventually(lambda: a.is_leader)
    task_b = asyncio.create_task(b.run(*callbacks("b"), stop_b))
    await asyncio.sleep(3.0)  # a span longer than the ttl, not a wait: a keeps renewing, b never wins
    assert log == ["a+"] and a.is_leader and not b.is_leader
    stop_a.set()
    await task_a
    await eventually(lambda: b.is_leader, timeout=3)
    assert log == ["a+", "a-", "b+"]
    stop_b.set()
    await task_b


async def test_crashed_leader_expires_and_standby_takes_over(bus: Bus) -> None:
    a = LeaderLease(bus, "test_leader2", "router", "a", ttl=2.0, renew=0.4)
    b = LeaderLease(bus, "test_leader2", "router", "b", ttl=2.0, renew=0.4)
    won = asyncio.Event()

    async def nothing() -> None:
        return None

    async def b_won() -> None:
        won.set()

    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(nothing, nothing, stop_a))
    await eventually(lambda: a.is_leader)
    task_b = asyncio.create_task(b.run(b_won, nothing, stop_b))
    a.is_leader = False  # a crash: a stops renewing without handing over
    task_a.cancel()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(won.wait(), timeout=10)
    assert loop.time() - started < 5.0
    stop_b.set()
    await task_b
