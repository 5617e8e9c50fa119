"""Frozen settings from OMNIHUB_* environment variables; bad ones stop the service with one line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, NoReturn, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "OMNIHUB_"


class ServiceSettings(BaseSettings):
    """Settings every service shares. Subclasses add their own, with the same prefix."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="ignore", case_sensitive=False
    )

    nats_url: str = "nats://127.0.0.1:4222"
    stream_replicas: int = 1
    # CONTACTS_IN keeps at most this many messages / bytes (all it retains, routed or not: limits retention, 30 days);
    # past either, publishes are refused and the edges answer 503. -1: no limit.
    stream_inbound_max_msgs: int = -1
    stream_inbound_max_bytes: int = 10 * 1024**3
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    var_dir: Path = Path("var")
    config_dir: Path = Path("config")
    http_host: str = "127.0.0.1"
    grpc_host: str = "127.0.0.1"  # 0.0.0.0 in Kubernetes; every call needs the service token either way
    # Retention in days per kind of data (0: kept for ever); each service's daily job removes its own older data
    # (omnihub.common.retention). Messages and attachments also bound the age of the NATS streams that carry them.
    retention_messages_days: int = Field(0, ge=0)
    retention_attachments_days: int = Field(0, ge=0)
    retention_recordings_days: int = Field(0, ge=0)
    retention_events_days: int = Field(0, ge=0)
    retention_evaluations_days: int = Field(0, ge=0)
    retention_audit_days: int = Field(0, ge=0)


def bind_address(host: str, port: int) -> str:
    """host:port for a server to listen on (IPv6 hosts in brackets)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


S = TypeVar("S", bound=BaseSettings)


def describe_error(cls: type[BaseSettings], exc: ValidationError) -> str:
    """One line naming the environment variable(s) at fault and why."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "?"
        var = (prefix + field).upper()
        problem = "is required but not set" if err["type"] == "missing" else err["msg"]
        parts.append(f"{var} {problem}")
    return "; ".join(parts)


def load_settings(cls: type[S]) -> S:
    """Read settings from the environment, or exit 2 with a one-line message naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        fail(f"invalid configuration: {describe_error(cls, exc)}")


def fail(message: str) -> NoReturn:
    """Print `omnihub: <message>` on stderr and exit with status 2."""
    print(f"omnihub: {message}", file=sys.stderr)
    raise SystemExit(2)
