"""Settings and the routing YAML (queues, agents); a bad file names the file, field and reason."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from omnihub.common.config import ServiceSettings, fail
from omnihub.router.strategies import STRATEGIES

CHANNELS = ("voice", "sms", "email", "webchat", "telegram", "whatsapp", "wechat")
DEFAULT_CAPACITY = {"voice": 1, "webchat": 3, "telegram": 3, "whatsapp": 3, "wechat": 3, "sms": 5, "email": 5}
DEFAULT_RESERVATION_TIMEOUT = {
    "voice": 15, "webchat": 30, "telegram": 30, "whatsapp": 30, "wechat": 30, "sms": 60, "email": 120,
}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RouterSettings(ServiceSettings):
    """Router settings (OMNIHUB_ROUTER_*)."""

    router_grpc_port: int = 50051
    router_http_port: int = 8086
    router_config_file: Path | None = None
    router_tick_seconds: float = 0.25
    router_lease_seconds: float = 4.0
    # the same variables as quality's, so the wallboard's "today" and the reports cut and count alike
    center_timezone: str = "UTC"  # OMNIHUB_CENTER_TIMEZONE: live figures' "today" starts at local midnight
    quality_short_abandon_seconds: float = 5.0  # abandons shorter than this are not counted

    @field_validator("center_timezone")
    @classmethod
    def _center_zone(cls, value: str) -> str:
        try:
            return ZoneInfo(value).key
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SkillReq(_Strict):
    """A skill and its minimum level."""

    name: str
    min_level: int = Field(0, ge=0, le=10)


class ServiceLevel(_Strict):
    """Target fraction within a threshold."""

    target: float = Field(0.8, gt=0, le=1)
    threshold_seconds: float = Field(20, gt=0)


class BusinessHours(_Strict):
    """Weekly opening hours in a time zone, with holidays."""

    time_zone: str = "UTC"
    always_open: bool = False
    weekly: dict[str, list[str]] = Field(default_factory=dict)
    holidays: list[dt.date] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
            for r in ranges:
                start, _, end = r.partition("-")
                try:
                    if dt.time.fromisoformat(start) >= dt.time.fromisoformat(end):
                        raise ValueError
                except ValueError:
                    raise ValueError(f"bad range {r!r} on {day}; use HH:MM-HH:MM") from None
        return value

    def is_open(self, when: dt.datetime) -> bool:
        """True when `when` (aware) falls inside opening hours and is not a holiday."""
        if self.always_open:
            return True
        local = when.astimezone(ZoneInfo(self.time_zone))
        if local.date() in self.holidays:
            return False
        now = local.time()
        for r in self.weekly.get(DAYS[local.weekday()], []):
            start, _, end = r.partition("-")
            if dt.time.fromisoformat(start) <= now < dt.time.fromisoformat(end):
                return True
        return False


class Relaxation(_Strict):
    """After N seconds waiting: lower levels, drop skills, replace skills or overflow."""

    after_seconds: int = Field(ge=0)
    lower_levels_by: int = Field(0, ge=0, le=10)
    drop_skills: list[str] = Field(default_factory=list)
    skills: list[SkillReq] | None = None
    overflow_queue: str = ""


class QueueConfig(_Strict):
    """One queue."""

    name: str
    display_name: str = ""
    skills: list[SkillReq] = Field(default_factory=list)
    priority: int = 0
    service_level: ServiceLevel = ServiceLevel()
    max_wait_seconds: int = Field(1800, gt=0)
    max_wait_action: Literal["overflow", "callback", "none"] = "overflow"
    overflow_queue: str = ""
    strategy: str = "longest_idle"  # a name in strategies.STRATEGIES
    wrap_up_seconds: int = Field(30, ge=0)
    business_hours: BusinessHours = BusinessHours(always_open=True)
    closed_message: str = "We are closed right now. We will answer as soon as we open."
    relaxation: list[Relaxation] = Field(default_factory=list)
    returning_agent_seconds: int = Field(30, ge=0)
    report_time_zone: str = ""  # IANA zone of the queue's reports (quality); empty: the center's

    @field_validator("report_time_zone")
    @classmethod
    def _report_zone(cls, value: str) -> str:
        try:
            return ZoneInfo(value).key if value else value
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"unknown strategy {value!r}; use {', '.join(STRATEGIES)}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> QueueConfig:
        times = [r.after_seconds for r in self.relaxation]
        if times != sorted(times):
            raise ValueError("relaxation steps must be ordered by after_seconds")
        return self


class AgentConfig(_Strict):
    """One agent."""

    id: str
    display_name: str = ""
    skills: dict[str, int] = Field(default_factory=dict)
    queues: list[str] = Field(default_factory=list)
    capacity: dict[str, int] = Field(default_factory=dict)
    max_concurrent: int = Field(0, ge=0)  # cross-channel cap on conversations held at once; 0 = none
    voice_destination: str = ""
    # Offers on these channels are accepted for the agent at once (Genesys auto-answer, Amazon Connect
    # auto-accept): `true` for every channel, or a list such as [voice, webchat].
    auto_accept: bool | list[str] = False

    @field_validator("auto_accept")
    @classmethod
    def _auto_accept(cls, value: bool | list[str]) -> bool | list[str]:
        for channel in value if isinstance(value, list) else ():
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; use {', '.join(CHANNELS)}")
        return value

    def auto_accepts(self, channel: str) -> bool:
        """True when offers on `channel` are accepted without the agent's click."""
        return self.auto_accept is True or (isinstance(self.auto_accept, list) and channel in self.auto_accept)

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for name, level in value.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {name!r} level {level} is outside 1-10")
        return value

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, value: dict[str, int]) -> dict[str, int]:
        for channel, n in value.items():
            if channel not in CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; use {', '.join(CHANNELS)}")
            if n < 0:
                raise ValueError(f"capacity for {channel} is negative")
        return value

    def capacity_for(self, channel: str) -> int:
        """Concurrent conversations allowed on a channel."""
        return self.capacity.get(channel, DEFAULT_CAPACITY[channel])


class EntryPoint(_Strict):
    """Maps a channel entry point or topic to a queue."""

    match: str
    queue: str


class Defaults(_Strict):
    """Router-wide timings."""

    reservation_timeout_seconds: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_RESERVATION_TIMEOUT)
    )
    missed_offers_before_away: int = Field(3, ge=1)
    heartbeat_timeout_seconds: int = Field(60, ge=5)
    other_reservation_timeout_seconds: int = Field(30, gt=0)  # for a channel the map above leaves out
    returning_customer_window_seconds: int = Field(86_400, ge=0)
    # a transfer to an agent by name waits this long for them, then the queue takes it
    transfer_hold_seconds: int = Field(300, ge=0)
    # an agent who rejected or let an offer time out is not offered that conversation again for this long
    offer_exclusion_seconds: int = Field(60, ge=0)
    closed_retention_seconds: int = Field(86_400, ge=0)  # closed conversations stay in the router's state
    default_queue: str = ""


class RoutingConfig(_Strict):
    """The whole routing configuration file."""

    version: int = 1
    defaults: Defaults = Defaults()
    queues: list[QueueConfig]
    agents: list[AgentConfig] = Field(default_factory=list)
    entry_points: list[EntryPoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        names = [q.name for q in self.queues]
        if not names:
            raise ValueError("at least one queue is required")
        if len(set(names)) != len(names):
            raise ValueError("queue names must be unique")
        known = set(names)
        for q in self.queues:
            targets = [r.overflow_queue for r in q.relaxation] + [q.overflow_queue]
            for target in filter(None, targets):
                if target not in known:
                    raise ValueError(f"queue {q.name!r} overflows to unknown queue {target!r}")
        for a in self.agents:
            for qn in a.queues:
                if qn not in known:
                    raise ValueError(f"agent {a.id!r} is in unknown queue {qn!r}")
        for e in self.entry_points:
            if e.queue not in known:
                raise ValueError(f"entry point {e.match!r} points at unknown queue {e.queue!r}")
        if self.defaults.default_queue and self.defaults.default_queue not in known:
            raise ValueError(f"default_queue {self.defaults.default_queue!r} is not a queue")
        return self

    @property
    def default_queue(self) -> str:
        """Queue for contacts no hint places."""
        return self.defaults.default_queue or self.queues[0].name


class LoadedConfig(BaseModel):
    """A parsed configuration with its version hash."""

    model_config = ConfigDict(frozen=True)

    config: RoutingConfig
    version: str
    path: str


class RoutingConfigError(ValueError):
    """The routing file is unreadable or invalid."""


def parse_routing_config(text: str, path: str = "<string>") -> LoadedConfig:
    """Parse YAML text; errors name the file, the field and the reason."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RoutingConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RoutingConfigError(f"{path}: expected a mapping with 'queues' at the top")
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise RoutingConfigError(f"{path}: field {field}: {err['msg']}") from None
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return LoadedConfig(config=config, version=version, path=path)


def load_routing_config(settings: RouterSettings) -> LoadedConfig:
    """Read the routing file named by settings, or exit 2 with the file, field and reason."""
    path = settings.router_config_file or settings.config_dir / "routing.yaml"
    try:
        text = Path(path).read_text()
    except OSError as exc:
        fail(f"cannot read routing configuration {path}: {exc.strerror}")
    try:
        return parse_routing_config(text, str(path))
    except RoutingConfigError as exc:
        fail(f"invalid routing configuration: {exc}")
