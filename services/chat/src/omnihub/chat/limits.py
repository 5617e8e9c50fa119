"""Per-visitor rate limiting: a token bucket, pure and clock-injected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """Allow `rate_per_minute` messages per minute with a burst of the same size."""

    rate_per_minute: int
    tokens: float = -1.0
    last: float = 0.0

    def allow(self, now: float) -> bool:
        """Take one token at time `now`; False when the visitor is over the rate."""
        capacity = float(self.rate_per_minute)
        if self.tokens < 0:
            self.tokens, self.last = capacity, now
        self.tokens = min(capacity, self.tokens + (now - self.last) * capacity / 60.0)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
