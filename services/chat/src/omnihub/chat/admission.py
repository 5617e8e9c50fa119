"""Per-client-address limits on opening web-chat sockets and new visitors (the `limits` library, moving window)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

NAMESPACE = "webchat"


class Admission:
    """How often one client address may open the chat socket, and start a new visitor (a new conversation).

    Counts live in this replica's memory: behind N replicas an address gets up to N times the limit.
    """

    def __init__(self, connects: str, new_visitors: str, storage: Storage | None = None) -> None:
        self.limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self.connects = parse(connects)
        self.new_visitors = parse(new_visitors)

    async def connect(self, address: str) -> int:
        """0 when `address` may open a socket now, else the seconds to wait (at least 1)."""
        return await self._take(self.connects, "connect", address)

    async def new_visitor(self, address: str) -> int:
        """0 when `address` may start a new visitor now, else the seconds to wait (at least 1)."""
        return await self._take(self.new_visitors, "visitor", address)

    async def _take(self, item: RateLimitItem, kind: str, address: str) -> int:
        if await self.limiter.hit(item, NAMESPACE, kind, address):
            return 0
        stats = await self.limiter.get_window_stats(item, NAMESPACE, kind, address)
        return max(1, math.ceil(stats.reset_time - time.time()))


def valid_limit(value: str) -> str:
    """The setting if `limits` can parse it ("10/minute", "30 per 2 minutes"), else ValueError."""
    parse(value)
    return value
