"""Back-pressure at the edges: a publish the stream cannot take becomes 503 with Retry-After, never a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from nats.errors import NoRespondersError, OutboundBufferLimitError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import APIError

from omnihub.common.logging import get_logger

RETRY_AFTER_SECONDS = 5
STORE_FAILED = 10077  # JetStream's "maximum messages/bytes exceeded" (limits with discard new)
log = get_logger("omnihub.backpressure")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def stream_refused(exc: BaseException) -> bool:
    """True when a publish failed because the stream could not take it now (full, unavailable, timed out)."""
    if isinstance(exc, NatsTimeoutError | NoRespondersError | OutboundBufferLimitError):
        return True
    return isinstance(exc, APIError) and (exc.code == 503 or exc.err_code == STORE_FAILED)


@web.middleware
async def backpressure(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 503 + Retry-After when a handler's publish was refused; the provider retries, nothing is lost
    (a request is only acknowledged after JetStream stored its message)."""
    try:
        return await handler(request)
    except Exception as exc:
        if not stream_refused(exc):
            raise
        log.warning("http.backpressure", path=request.path, error=type(exc).__name__)
        raise web.HTTPServiceUnavailable(text="busy: the message was not taken; retry later",
                                         headers={"Retry-After": str(RETRY_AFTER_SECONDS)}) from None
