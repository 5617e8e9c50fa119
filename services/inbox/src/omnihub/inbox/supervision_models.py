"""Request and response models of the supervisor's live-conversations routes, and their OpenAPI operations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from omnihub.common.openapi import Operation

LIVE_STATES = ("queued", "offered", "assigned", "wrap_up")


class LiveQuery(BaseModel):
    """GET /api/supervisor/live: filters (empty = any) and the order."""

    queue: str = Field(default="", max_length=64)
    agent: str = Field(default="", max_length=64)
    channel: str = Field(default="", max_length=32)
    state: Literal["", "queued", "offered", "assigned", "wrap_up"] = ""
    min_wait: int = Field(default=0, ge=0, le=86_400 * 7)
    sort: Literal["wait", "newest"] = "wait"


class LiveConversation(BaseModel):
    """One open conversation as the supervisor's live list shows it."""

    id: str
    channel: str  # token: sms, webchat, ...
    queue: str
    state: str  # queued, offered, assigned, wrap_up
    agent: str
    agent_name: str
    customer: str
    preview: str
    subject: str
    flagged: bool
    wait_seconds: float  # in its queue so far (queued/offered), or until an agent answered
    age_seconds: float  # since it was created


class LiveAgent(BaseModel):
    """An agent for the filters, the reassign target list and the forced state."""

    id: str
    name: str
    state: str  # AVAILABLE, BUSY, WRAP_UP, AWAY, OFFLINE
    reason: str
    queues: list[str]
    conversations: int


class LiveBoard(BaseModel):
    """GET /api/supervisor/live."""

    time: float
    conversations: list[LiveConversation]
    agents: list[LiveAgent]
    queues: list[str]


OPERATIONS = [
    Operation("GET", "/api/supervisor/live", "Every open conversation, filtered and sorted by wait",
              tags=("supervisor",), query=LiveQuery, response=LiveBoard),
    Operation("GET", "/api/supervisor/conversations/{id}", "A conversation and its history, read-only",
              tags=("supervisor",)),
    Operation("GET", "/api/supervisor/conversations/{id}/waiting", "Why a conversation is still waiting",
              tags=("supervisor",)),
]
