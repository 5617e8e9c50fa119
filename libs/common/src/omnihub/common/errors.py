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

from collections.abc import Iterator, Mapping
from contextlib import contextmanager


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


@contextmanager
def map_exceptions(mapping: Mapping[type[BaseException], type[OmnihubError]]) -> Iterator[None]:
    """Re-raise library exceptions as omnihub ones, keeping the original as the cause.

    The first matching entry (in mapping order) wins, so list subclasses first.
    """
    try:
        yield
    except OmnihubError:
        raise
    except Exception as exc:
        for source, target in mapping.items():
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__) from exc
        raise
