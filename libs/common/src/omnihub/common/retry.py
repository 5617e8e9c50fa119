"""omnihub's one retry policy: exponential backoff computed by tenacity, for redeliveries and in-process retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

_STATE_OWNER = AsyncRetrying()  # tenacity wants a retrying object behind a call state; the policy only reads attempts


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Wait `first` seconds after the first failed attempt, doubling each time, never more than `cap`.

    Between deliveries of a JetStream message the wait is JetStream's (the message is nak'ed with
    `delay(attempt)`, and `max_deliver` ends it); `retrying()` is the same policy for an in-process loop.
    """

    first: float = 0.5
    cap: float = 30.0
    attempts: int = 5  # in-process retries only; redeliveries stop at the consumer's max_deliver

    @property
    def wait(self) -> wait_exponential:
        """The tenacity wait strategy of this policy."""
        return wait_exponential(multiplier=self.first, max=self.cap, exp_base=2)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); a provider's Retry-After wins."""
        if retry_after:
            return float(retry_after)
        state = RetryCallState(_STATE_OWNER, None, (), {})
        state.attempt_number = max(1, attempt)
        return float(self.wait(state))

    def retrying(self, retry_on: Callable[[BaseException], bool]) -> AsyncRetrying:
        """An in-process loop (`async for attempt in policy.retrying(...)`) that retries errors `retry_on`
        accepts and re-raises the last one after `attempts` tries."""
        return AsyncRetrying(retry=retry_if_exception(retry_on), stop=stop_after_attempt(self.attempts),
                             wait=self.wait, reraise=True)


# Named policies (the channels' figures are those the hand-written formulas had before).
HANDLER_RETRY = RetryPolicy(first=0.5, cap=30.0)  # a consumer's handler raised something unexpected
PUBLISH_RETRY = RetryPolicy(first=0.2, cap=2.0)  # a publish ack was lost or no stream answered yet
STREAM_RETRY = RetryPolicy(first=0.2, cap=1.0)  # nats-server still removing a stream of the same name
