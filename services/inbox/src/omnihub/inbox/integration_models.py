"""Models of the integration API (/api/v1) and of its administration (API tokens, webhook subscriptions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, HttpUrl

from omnihub.common.jsonbody import Body
from omnihub.common.openapi import Operation
from omnihub.inbox.report_models import Report, ReportQuery

Scope = Literal["conversations:read", "messages:read", "customers:read", "agents:read", "queues:read", "kpis:read"]
SCOPES: tuple[str, ...] = Scope.__args__  # type: ignore[attr-defined]
EventType = Literal["conversation.created", "conversation.assigned", "conversation.resolved", "message.created",
                    "survey.answered"]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]


# ---- administration (admins, session + CSRF) -------------------------------------------------------------
class TokenBody(Body):
    """POST /api/admin/tokens: a named token with scopes and its own rate limit."""

    name: str = Field(min_length=1, max_length=80)
    scopes: list[Scope] = Field(min_length=1, max_length=len(SCOPES))
    rate: str = Field(default="600/minute", max_length=32, pattern=r"^\d{1,6}/(second|minute|hour|day)$",
                      description="requests per window (the limits library's notation)")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="null: never expires")
    teams: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20,
        description="teams of users.yaml: the token then sees only their agents' conversations, agents and KPI "
                    "rows, as those teams' supervisor does; empty: the whole center")


class TokenInfo(BaseModel):
    """A token as listed: never its secret."""

    id: str
    name: str
    scopes: list[str]
    rate: str
    created_by: str
    created: float
    expires: float | None = None
    revoked: bool = False
    teams: list[str] = Field(default_factory=list)  # empty: the whole center


class NewToken(TokenInfo):
    """The token as created: `token` is shown this once and stored only as a hash."""

    token: str


class TokenList(BaseModel):
    """Every token."""

    tokens: list[TokenInfo]


class WebhookBody(Body):
    """POST /api/admin/webhooks: where to deliver which events."""

    url: HttpUrl
    events: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES))
    description: str = Field(default="", max_length=200)


class WebhookInfo(BaseModel):
    """A subscription as listed: never its secret."""

    id: str
    url: str
    events: list[str]
    description: str
    created_by: str
    created: float


class NewWebhook(WebhookInfo):
    """The subscription as created: `secret` (whsec_...) is shown this once."""

    secret: str


class WebhookList(BaseModel):
    """Every subscription."""

    webhooks: list[WebhookInfo]


class Attempt(BaseModel):
    """One try to deliver: when, the receiver's status (0: no answer) and the error."""

    time: float
    status: int
    error: str = ""


class DeliveryInfo(BaseModel):
    """One event for one subscription: pending (retrying with backoff), delivered or failed (gave up after a day)."""

    id: str = Field(description="the webhook-id header: the same on every attempt and replay")
    event_type: str
    state: Literal["pending", "delivered", "failed"]
    created: float
    next_attempt: float | None = None
    attempts: list[Attempt]


class DeliveryLog(BaseModel):
    """A subscription's deliveries, newest first."""

    deliveries: list[DeliveryInfo]


class Ok(BaseModel):
    """Done."""

    ok: bool = True


# ---- /api/v1 (Bearer API tokens) ------------------------------------------------------------------------
class ConversationsQuery(BaseModel):
    """GET /api/v1/conversations: open conversations, optionally of one queue or agent."""

    queue: str = Field(default="", max_length=64)
    agent: str = Field(default="", max_length=64)


class ConversationOut(BaseModel):
    """A conversation (times are RFC 3339, '' when not reached)."""

    id: str
    channel: str
    customer_id: str
    status: str
    routing_state: str
    queue: str
    assigned_agent: str
    subject: str
    disposition: str
    resolved: bool
    create_time: str
    answer_time: str
    close_time: str


class Conversations(BaseModel):
    """Open conversations."""

    conversations: list[ConversationOut]


class MessageOut(BaseModel):
    """A message of a conversation (private notes excluded)."""

    id: str
    conversation_id: str
    direction: str
    channel: str
    text: str
    agent_id: str = ""
    time: float


class Messages(BaseModel):
    """A conversation's messages, oldest first."""

    messages: list[MessageOut]


class CustomerOut(BaseModel):
    """A customer and their identities."""

    id: str
    display_name: str
    identities: list[dict[str, Any]]


class AgentOut(BaseModel):
    """An agent and their state."""

    id: str
    display_name: str
    state: str
    reason: str
    queues: list[str]
    conversations: int


class Agents(BaseModel):
    """Every agent the router knows."""

    agents: list[AgentOut]


class QueueOut(BaseModel):
    """A queue's live figures."""

    queue: str
    waiting: int
    active: int
    longest_wait_seconds: float
    answered_today: int
    abandoned_today: int
    service_level_today: float | None = None
    open_now: bool
    agents_by_state: dict[str, int]


class Queues(BaseModel):
    """Every queue."""

    queues: list[QueueOut]


ADMIN_OPERATIONS = [
    Operation("POST", "/api/admin/tokens", "Create an API token (shown once)", body=TokenBody, response=NewToken,
              status=201, tags=("integration",)),
    Operation("GET", "/api/admin/tokens", "API tokens (never their secrets)", response=TokenList,
              tags=("integration",)),
    Operation("POST", "/api/admin/tokens/{id}/revoke", "Revoke an API token", response=Ok, tags=("integration",)),
    Operation("POST", "/api/admin/webhooks", "Subscribe a URL to events (the signing secret is shown once)",
              body=WebhookBody, response=NewWebhook, status=201, tags=("integration",)),
    Operation("GET", "/api/admin/webhooks", "Webhook subscriptions", response=WebhookList, tags=("integration",)),
    Operation("DELETE", "/api/admin/webhooks/{id}", "End a subscription", response=Ok, tags=("integration",)),
    Operation("GET", "/api/admin/webhooks/{id}/deliveries", "A subscription's delivery log", response=DeliveryLog,
              tags=("integration",)),
    Operation("POST", "/api/admin/webhooks/{id}/deliveries/{delivery}/replay", "Deliver one again now",
              response=Ok, tags=("integration",)),
]

V1_OPERATIONS = [
    Operation("GET", "/api/v1/conversations", "Open conversations (conversations:read)", query=ConversationsQuery,
              response=Conversations, tags=("conversations",)),
    Operation("GET", "/api/v1/conversations/{id}", "One conversation (conversations:read)", response=ConversationOut,
              tags=("conversations",)),
    Operation("GET", "/api/v1/conversations/{id}/messages", "A conversation's messages (messages:read)",
              response=Messages, tags=("messages",)),
    Operation("GET", "/api/v1/customers/{id}", "A customer and their identities (customers:read)",
              response=CustomerOut, tags=("customers",)),
    Operation("GET", "/api/v1/agents", "Agents and their states (agents:read)", response=Agents, tags=("agents",)),
    Operation("GET", "/api/v1/queues", "Queues and their live figures (queues:read)", response=Queues,
              tags=("queues",)),
    Operation("GET", "/api/v1/kpis", "KPIs for a window, grouped (kpis:read)", query=ReportQuery, response=Report,
              tags=("kpis",)),
    Operation("GET", "/api/v1/openapi.json", "This document", public=True, tags=("meta",)),
]
