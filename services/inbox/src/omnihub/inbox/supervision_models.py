"""Request and response models of the supervisor's live-conversations routes, and their OpenAPI operations."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from omnihub.common.jsonbody import Body
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


class MonitorBody(Body):
    """POST /api/supervisor/conversations/{id}/monitor: start (true) or stop (false) watching it live."""

    active: bool


class InterventionBody(Body):
    """POST /api/supervisor/conversations/{id}/{whisper|barge}: a note to the agent, or a reply to the customer."""

    text: str = Field(min_length=1, max_length=20_000)


class Intervention(BaseModel):
    """One stored intervention (event supervisor.intervened)."""

    id: str
    conversation_id: str
    action: Literal["monitor_start", "monitor_stop", "whisper", "barge", "call_listen", "call_coach", "call_barge",
                    "call_leave"]
    supervisor_id: str
    supervisor_name: str
    agent_id: str
    message_id: str
    time: float


class Interventions(BaseModel):
    """GET /api/supervisor/conversations/{id}/interventions."""

    interventions: list[Intervention]


class Presence(BaseModel):
    """A supervisor present in a conversation and how (monitoring, whispered, barged, listening on the call...)."""

    supervisor_id: str
    supervisor_name: str
    action: str


class PresenceList(BaseModel):
    """GET /api/conversations/{id}/supervisors: who supervises this conversation right now."""

    supervisors: list[Presence]


class Sent(BaseModel):
    """The whisper's or barge's message id."""

    id: str


OPERATIONS = [
    Operation("GET", "/api/supervisor/live", "Every open conversation, filtered and sorted by wait",
              tags=("supervisor",), query=LiveQuery, response=LiveBoard),
    Operation("GET", "/api/supervisor/conversations/{id}", "A conversation and its history, read-only",
              tags=("supervisor",)),
    Operation("GET", "/api/supervisor/conversations/{id}/waiting", "Why a conversation is still waiting",
              tags=("supervisor",)),
    # chatsup: monitor, whisper and barge; the agent's "a supervisor is present"
    Operation("POST", "/api/supervisor/conversations/{id}/monitor", "Start or stop monitoring a conversation",
              tags=("supervisor",), body=MonitorBody, response=Sent),
    Operation("POST", "/api/supervisor/conversations/{id}/whisper", "A note only the agent sees",
              tags=("supervisor",), body=InterventionBody, response=Sent),
    Operation("POST", "/api/supervisor/conversations/{id}/barge", "Write to the customer as the supervisor",
              tags=("supervisor",), body=InterventionBody, response=Sent),
    Operation("GET", "/api/supervisor/conversations/{id}/interventions", "Every intervention in a conversation",
              tags=("supervisor",), response=Interventions),
    Operation("GET", "/api/conversations/{id}/supervisors", "Supervisors present in my conversation",
              tags=("conversations",), response=PresenceList),
]
