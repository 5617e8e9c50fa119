"""Schedule inputs (shift templates, agents, contracts, availability) as validated request models."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from omnihub.common.jsonbody import Body

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Name = Field(min_length=1, max_length=64)


def minutes(value: str) -> int:
    """'08:30' -> 510 (24:00 allowed as the end of a day)."""
    hours, _, mins = value.partition(":")
    if not (hours.isdigit() and mins.isdigit() and len(mins) == 2):
        raise ValueError(f"bad time {value!r}; use HH:MM")
    total = int(hours) * 60 + int(mins)
    if total > 24 * 60 or int(mins) >= 60:
        raise ValueError(f"bad time {value!r}; use HH:MM")
    return total


class Pause(Body):
    """A break or lunch: its length, and the window after the shift's start where it must begin."""

    minutes: int = Field(ge=0, le=180)
    earliest: int = Field(ge=0, le=16 * 60, description="minutes after the shift's start")
    latest: int = Field(ge=0, le=16 * 60, description="minutes after the shift's start")

    @model_validator(mode="after")
    def _window(self) -> Pause:
        if self.latest < self.earliest:
            raise ValueError("latest must not be before earliest")
        return self


class ShiftTemplate(Body):
    """Shifts that may start at any of `starts` and last `minutes` (breaks and lunch included, paid)."""

    name: str = Name
    starts: list[str] = Field(min_length=1, max_length=48)
    minutes: int = Field(ge=60, le=14 * 60)
    breaks: list[Pause] = Field(default_factory=list, max_length=4)
    lunch: Pause | None = None

    @field_validator("starts")
    @classmethod
    def _starts(cls, value: list[str]) -> list[str]:
        for s in value:
            minutes(s)
        return value


class Agent(Body):
    """An agent: skills (queues served), weekly contracted hours, availability per weekday and days off."""

    id: str = Name
    skills: list[str] = Field(default_factory=list, max_length=20, description="queues; empty: every queue")
    max_hours: float = Field(default=40.0, ge=0, le=80, description="contracted paid hours a week, at most")
    min_hours: float = Field(default=0.0, ge=0, le=80, description="contracted hours to give if at all possible")
    max_days: int = Field(default=5, ge=0, le=7)
    availability: dict[str, str] = Field(default_factory=dict,
                                         description="weekday -> HH:MM-HH:MM (may cross midnight); absent: any")
    days_off: list[str] = Field(default_factory=list, max_length=14, description="weekdays (mon..sun) or dates")
    templates: list[str] = Field(default_factory=list, max_length=10, description="templates allowed; empty: all")

    @field_validator("availability")
    @classmethod
    def _availability(cls, value: dict[str, str]) -> dict[str, str]:
        for day, span in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown weekday {day!r}; use {', '.join(DAYS)}")
            start, _, end = span.partition("-")
            if minutes(start) == minutes(end) or minutes(start) >= 24 * 60:
                raise ValueError(f"bad availability {span!r}; use HH:MM-HH:MM (22:00-06:00 ends the next morning)")
        return value

    @field_validator("days_off")
    @classmethod
    def _days_off(cls, value: list[str]) -> list[str]:
        for day in value:
            if day not in DAYS:
                try:
                    dt.date.fromisoformat(day)
                except ValueError:
                    raise ValueError(f"bad day off {day!r}; use a weekday (mon..sun) or a date") from None
        return value


class ChannelRule(Body):
    """How one channel's contacts are worked, for a requirement from per-channel forecasts."""

    channel: str = Field(min_length=1, max_length=32, description="voice, webchat, email, sms, ...")
    concurrency: int = Field(default=1, ge=1, le=10, description="contacts an agent holds at once (chat)")
    response_seconds: float = Field(default=0, ge=0, le=7 * 86_400,
                                    description="> 0: deferred work (e-mail) answered within this many seconds")
    target: float | None = Field(default=None, gt=0, lt=1, description="service-level fraction; else the queue's")
    threshold_seconds: float | None = Field(default=None, ge=0, le=3600, description="else the queue's")


class ScheduleBody(Body):
    """POST /api/wfm/schedule: a week's schedule for these agents against the forecast's requirement."""

    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W50")
    queues: list[str] = Field(default_factory=list, max_length=20, description="queues to staff; empty: support")
    interval: str = Field(default="30m", pattern=r"^(15m|30m)$")
    templates: list[ShiftTemplate] = Field(min_length=1, max_length=20)
    agents: list[Agent] = Field(min_length=1, max_length=300)
    shrinkage: float = Field(default=0.0, ge=0, lt=1, description="absence and training (breaks are scheduled)")
    max_occupancy: float = Field(default=0.85, gt=0, le=1)
    seconds: float = Field(default=20.0, gt=0, le=120, description="the solver's time limit")
    min_rest_hours: float = Field(default=11.0, ge=0, le=24,
                                  description="hours between the end of an agent's shift and the start of the next")
    patience: dict[str, Annotated[float, Field(ge=1, le=86_400)]] = Field(
        default_factory=dict, max_length=20,
        description="queue -> customers' mean patience in seconds (Erlang A); else measured from the queue's "
                    "abandons, Erlang C when too few")
    channels: list[ChannelRule] = Field(
        default_factory=list, max_length=7,
        description="requirement from each channel's own forecast, summed per interval; empty: the forecast of "
                    "every channel together")
    requirement: dict[str, list[int]] | None = Field(
        default=None, description="queue -> agents needed per interval of the week (else from each queue's forecast)")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[ChannelRule]) -> list[ChannelRule]:
        if len({c.channel for c in value}) != len(value):
            raise ValueError("each channel once")
        return value


class ForecastBody(Body):
    """POST /api/wfm/forecasts: forecast a queue (and channel) from today for some weeks, and keep it."""

    queue: str = Field(default="support", min_length=1, max_length=64)
    channel: str = Field(default="", max_length=32, description="empty: every channel of the queue together")
    weeks: int = Field(default=2, ge=1, le=6)
    interval: str = Field(default="30m", pattern=r"^(15m|30m)$")
    history_weeks: int = Field(default=8, ge=3, le=26)
    uplift: dict[dt.date, float] = Field(default_factory=dict, max_length=60,
                                         description="date -> factor for holidays ahead, e.g. 1.3 or 0.2")
