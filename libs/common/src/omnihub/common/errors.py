"""omnihub's exception tree and `map_exceptions`, which turns library errors into ours.

OmnihubError
├── ConfigError                 a setting is missing or invalid; the service refuses to start
├── BusError                    NATS/JetStream trouble the caller cannot fix
└── ChannelError                a provider refused or failed a delivery
    ├── TransientChannelError   a retry can help (timeouts, 5xx, network)
    │   └── RateLimitedError    a retry can help after `retry_after` seconds (429)
    └── PermanentChannelError   a retry cannot help (blocked, unsubscribed, invalid address)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeAlias


class OmnihubError(Exception):
    """Base of every omnihub error."""


class ConfigError(OmnihubError):
    """A setting is missing or invalid."""


class BusError(OmnihubError):
    """NATS or JetStream failed in a way the caller cannot fix."""


class ChannelError(OmnihubError):
    """A channel provider refused or failed an operation."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.code else self.message


class TransientChannelError(ChannelError):
    """A retry can help."""

    retryable = True


class RateLimitedError(TransientChannelError):
    """The provider throttled us; retry after `retry_after` seconds."""


class PermanentChannelError(ChannelError):
    """A retry cannot help."""

    retryable = False


# What a library error becomes: one of our classes (built from its text) or a function that reads it
# (a status code, say) and returns ours.
ErrorMap: TypeAlias = Mapping[type[BaseException], type[OmnihubError] | Callable[[Any], OmnihubError]]


@contextmanager
def map_exceptions(mapping: ErrorMap) -> Iterator[None]:
    """Re-raise library exceptions as omnihub ones, keeping the original as the cause.

    The first matching entry (in mapping order) wins, so list subclasses first. The gateways use it to
    say which provider errors a retry can help (TransientChannelError) and which it cannot.
    """
    try:
        yield
    except OmnihubError:
        raise
    except Exception as exc:
        for source, target in mapping.items():
            if isinstance(exc, source):
                if isinstance(target, type):
                    raise target(str(exc) or type(exc).__name__) from exc
                raise target(exc) from exc
        raise
