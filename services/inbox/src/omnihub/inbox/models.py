"""Request and response models of the inbox's HTTP API, and the OpenAPI document built from them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel, StringConstraints, field_validator

from omnihub.common.jsonbody import Body
from omnihub.common.openapi import Operation, document
from omnihub.inbox import attachments, search, wfm
from omnihub.inbox.audit_models import OPERATIONS as AUDIT_OPERATIONS
from omnihub.inbox.call_models import CALL_OPERATIONS
from omnihub.inbox.customer_models import OPERATIONS as CUSTOMER_OPERATIONS
from omnihub.inbox.integration_models import ADMIN_OPERATIONS as INTEGRATION_OPERATIONS
from omnihub.inbox.privacy_models import OPERATIONS as PRIVACY_OPERATIONS
from omnihub.inbox.report_models import OPERATIONS as REPORTS
from omnihub.inbox.report_models import MyPerformance
from omnihub.inbox.sso_models import OPERATIONS as SSO_OPERATIONS
from omnihub.inbox.supervision_models import OPERATIONS as SUPERVISION_OPERATIONS
from omnihub.inbox.wallboard_models import OPERATIONS as WALLBOARD_OPERATIONS

MAX_REPLY = 20_000
EMAIL = r"^[^@\s,;<>\"()\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"  # one plain address, no display name
Name = Field(default="", max_length=64)


class LoginBody(Body):
    """POST /api/login."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class StateBody(Body):
    """POST /api/state: Available, Away (with a reason) or Offline (any letter case)."""

    state: Literal["AVAILABLE", "AWAY", "OFFLINE"]
    reason: str = Field(default="", max_length=64)

    @field_validator("state", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ForceStateBody(StateBody):
    """POST /api/supervisor/agents/{id}/state."""

    reason: str = Field(default="supervisor", max_length=64)


class ReplyBody(Body):
    """POST /api/conversations/{id}/reply: a reply to the customer, or a private note."""

    text: str = Field(default="", max_length=MAX_REPLY)
    subject: str = Field(default="", max_length=300)
    private: bool = False
    # WhatsApp only: an approved Content API template (ContentSid) and its variables, the one kind of
    # message WhatsApp delivers outside the 24-hour customer-service window.
    template_id: str = Field(default="", pattern=r"^(HX[0-9a-fA-F]{32})?$")
    template_variables: dict[str, str] = Field(default_factory=dict, max_length=20)
    # Email only: copies to more addresses, and the customer's mail quoted under the reply.
    cc: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=254, pattern=EMAIL)]] = Field(
        default_factory=list, max_length=10)
    quote: bool = False
    # The quote's attribution line as the agent's desktop words it (its language, its date format); one line.
    quote_header: str = Field(default="", max_length=300, pattern=r"^[^\r\n\x00]*$")
    # Files uploaded to this conversation (POST /api/conversations/{id}/attachments) to send with the reply.
    attachments: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]] = Field(
        default_factory=list, max_length=attachments.MAX_FILES)

    @field_validator("template_variables")
    @classmethod
    def _bounded(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not key.isdigit() or len(key) > 2 or len(item) > 1024:
                raise ValueError("template variables are numbered placeholders (\"1\") of at most 1024 characters")
        return value


class TypingBody(Body):
    """POST /api/conversations/{id}/typing."""

    typing: bool = False


class WrapUpBody(Body):
    """POST /api/conversations/{id}/wrapup."""

    disposition: str = Field(default="", max_length=64)
    resolved: bool = False
    notes: str = Field(default="", max_length=2000)


class TransferBody(Body):
    """POST /api/conversations/{id}/transfer: to an agent or a queue."""

    to_agent: str = Name
    to_queue: str = Name
    note: str = Field(default="", max_length=500)


class ReassignBody(Body):
    """POST /api/supervisor/conversations/{id}/reassign."""

    to_agent: str = Name
    to_queue: str = Name


class MergeBody(Body):
    """POST /api/customers/{id}/merge: another customer record, or one identity (channel + source id)."""

    customer_id: str = Field(default="", max_length=128)
    channel: str = Field(default="", max_length=32)
    source_id: str = Field(default="", max_length=320)


KbKind = Literal["article", "canned"]
KbLanguage = Literal["en", "zh-CN"]
SHORTCUT = r"^([a-z0-9][a-z0-9_-]{0,31})?$"


class KbBody(Body):
    """POST /api/supervisor/kb (add; with an id, add or replace) and PUT /api/supervisor/kb/{id} (edit):
    a knowledge-base article or a canned response (with the shortcut the composer's `/` expands)."""

    id: str = Field(default="", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")
    kind: KbKind = "article"
    title: str = Field(max_length=200)
    body: str = Field(max_length=5000)
    category: str = Field(default="", max_length=64)
    language: KbLanguage = "en"
    shortcut: str = Field(default="", max_length=32, pattern=SHORTCUT, description="canned responses only")


class KbDoc(BaseModel):
    """An article or canned response; `score` is its BM25 relevance when the list answers a search."""

    id: str = Field(alias="_id")
    kind: KbKind = "article"
    title: str
    body: str
    category: str = ""
    language: KbLanguage = "en"
    shortcut: str = ""
    updated_by: str = ""
    updated: float = 0
    score: float | None = None


class KbCategory(BaseModel):
    """A category and how many articles and canned responses it holds."""

    category: str
    count: int


class KbList(RootModel[list[KbDoc]]):
    """Articles and canned responses."""


class KbCategories(RootModel[list[KbCategory]]):
    """Every category of the knowledge base."""


class EvaluationActionBody(Body):
    """POST /api/evaluations/{id}/{action}: acknowledge or dispute (agents), resolve (supervisors)."""

    note: str = Field(default="", max_length=2000)
    new_score: float | None = Field(default=None, ge=0, le=100)


class Disposition(BaseModel):
    """One disposition code and its label in each language of the desktop."""

    code: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    labels: dict[str, str] = Field(description="label per language: en and zh-CN")


class Dispositions(BaseModel):
    """GET /api/dispositions: the codes an agent picks from at wrap-up, in configuration order."""

    dispositions: list[Disposition]


Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class LabelsBody(Body):
    """POST /api/conversations/{id}/labels: labels to add and to remove."""

    add: list[Label] = Field(default_factory=list, max_length=20)
    remove: list[Label] = Field(default_factory=list, max_length=20)


class Labels(BaseModel):
    """A conversation's labels."""

    labels: list[str]


class SnoozeBody(Body):
    """POST /api/conversations/{id}/snooze: until when (epoch seconds, within 30 days), or null to wake it now."""

    until: float | None = None


class Snoozed(BaseModel):
    """Until when a conversation is snoozed (null: not snoozed)."""

    snoozed_until: float | None


class OrganiseQuery(BaseModel):
    """GET /api/organise: only conversations in this status, or with this label."""

    status: Literal["", "open", "pending", "snoozed"] = ""
    label: str = Field(default="", max_length=40)
    all: str = Field(default="", max_length=8)


class OrganisedConversation(BaseModel):
    """A conversation's labels, derived status and snooze time."""

    labels: list[str]
    status: Literal["open", "pending", "snoozed"]
    snoozed_until: float | None


class Organised(BaseModel):
    """GET /api/organise: per conversation id, and every label in use on them."""

    conversations: dict[str, OrganisedConversation]
    labels: list[str]


class QaDrawBody(Body):
    """POST /api/supervisor/qa/samples: draw a sample by a sampling policy (the same seed draws it again)."""

    policy: str = Field(default="weekly", max_length=32)
    seed: int | None = Field(default=None, ge=0, lt=2**63)


class QaEvaluationBody(Body):
    """POST /api/supervisor/qa/evaluations: a filled scorecard; the evaluator is the logged-in user (no field
    names it) and the agent is whoever handled the conversation."""

    conversation_id: str = Field(min_length=1, max_length=128)
    scorecard_id: str = Field(default="default", max_length=64)
    answers: dict[str, float] = Field(default_factory=dict, max_length=100)
    comments: str = Field(default="", max_length=2000)
    calibration_id: str = Field(default="", max_length=64)


class QaCalibrationBody(Body):
    """POST /api/supervisor/qa/calibrations: several evaluators score these conversations."""

    name: str = Field(default="", max_length=200)
    conversation_ids: list[str] = Field(min_length=1, max_length=50)


class ConversationsQuery(BaseModel):
    """GET /api/conversations: supervisors may ask for every open conversation."""

    all: str = Field(default="", max_length=8)


class KbQuery(BaseModel):
    """GET /api/kb: ranked by relevance with `q`, else by kind, category and title; filters narrow either."""

    q: str = Field(default="", max_length=100)
    kind: Literal["", "article", "canned"] = ""
    category: str = Field(default="", max_length=64)
    language: Literal["", "en", "zh-CN"] = ""
    shortcut: str = Field(default="", max_length=32, description="canned responses whose shortcut starts so")
    limit: int = Field(default=20, ge=1, le=100)


class Me(BaseModel):
    """Who is logged in, and their CSRF token."""

    id: str
    name: str
    role: str
    csrf: str


class Ok(BaseModel):
    """A plain acknowledgement."""

    ok: bool


class LogoutResult(BaseModel):
    """Logged out; `redirect`: the identity provider's logout (an SSO session, where it offers one) to open next."""

    ok: bool
    redirect: str | None = None


class Ended(BaseModel):
    """How many sessions were ended."""

    ended: int


class MessageId(BaseModel):
    """The id of a new message."""

    id: str


class WhatsAppTemplate(BaseModel):
    """An approved WhatsApp template (Twilio Content API), from config/whatsapp_templates.yaml."""

    sid: str = Field(pattern=r"^HX[0-9a-fA-F]{32}$")  # the ContentSid
    name: str = Field(min_length=1, max_length=100)
    language: str = Field(min_length=2, max_length=16)
    body: str = Field(default="", max_length=1024)  # its text with {{1}}, {{2}} ... shown as a preview
    variables: list[str] = Field(default_factory=list, max_length=20)  # a label per numbered placeholder


class WhatsAppComposer(BaseModel):
    """What the composer needs for a WhatsApp conversation."""

    window_open: bool  # free text may be sent (the customer wrote within 24 hours)
    window_closes_at: float | None  # seconds since the epoch; None: the customer never wrote
    templates: list[WhatsAppTemplate]


def _op(method: str, path: str, summary: str, tag: str, **kw: Any) -> Operation:
    return Operation(method, path, summary, tags=(tag,), **kw)


OPERATIONS = [
    _op("POST", "/api/login", "Log in; sets the session cookie", "auth", body=LoginBody, response=Me, public=True),
    _op("GET", "/api/me", "Who am I (and my CSRF token)", "auth", response=Me),
    _op("POST", "/api/logout", "Log out, ending this session everywhere (and at the identity provider next, for an "
        "SSO session whose provider offers RP-initiated logout)", "auth", response=LogoutResult),
    _op("POST", "/api/admin/users/{id}/logout", "End every session of a user (admins)", "auth", response=Ended),
    _op("POST", "/api/state", "Set my state", "agent", body=StateBody),
    _op("POST", "/api/heartbeat", "Keep my router session alive", "agent"),
    _op("POST", "/api/offers/{reservation}/accept", "Accept an offer", "agent"),
    _op("POST", "/api/offers/{reservation}/reject", "Reject an offer", "agent", response=Ok),
    _op("GET", "/api/conversations", "My conversations (or all open ones, supervisors)", "conversations",
        query=ConversationsQuery),
    _op("GET", "/api/conversations/{id}/messages", "A conversation and the customer's history", "conversations"),
    _op("POST", "/api/conversations/{id}/read", "The agent read the web-chat visitor's messages (read receipts)",
        "conversations"),
    _op("POST", "/api/conversations/{id}/reply", "Reply or add a private note", "conversations", body=ReplyBody,
        response=MessageId),
    _op("POST", "/api/conversations/{id}/wrapup", "Wrap up with a configured disposition", "conversations",
        body=WrapUpBody),
    _op("GET", "/api/organise", "Labels, snooze and status of my conversations", "conversations",
        query=OrganiseQuery, response=Organised),
    _op("POST", "/api/conversations/{id}/labels", "Add and remove labels", "conversations", body=LabelsBody,
        response=Labels),
    _op("POST", "/api/conversations/{id}/snooze", "Snooze until a time (null wakes it)", "conversations",
        body=SnoozeBody, response=Snoozed),
    _op("GET", "/api/dispositions", "The disposition codes to pick from at wrap-up", "conversations",
        response=Dispositions),
    _op("POST", "/api/conversations/{id}/typing", "Tell a web-chat visitor I am typing", "conversations",
        body=TypingBody, response=Ok),
    _op("POST", "/api/conversations/{id}/transfer", "Transfer to an agent or a queue", "conversations",
        body=TransferBody),
    _op("GET", "/api/agents", "Colleagues and their states", "agent"),
    _op("GET", "/api/customers/{id}", "A customer and their identities", "customers"),
    _op("POST", "/api/customers/{id}/merge", "Merge another record into this customer", "customers", body=MergeBody),
    _op("GET", "/api/kb", "List or search articles and canned responses", "knowledge", query=KbQuery,
        response=KbList),
    _op("GET", "/api/kb/categories", "Categories of the knowledge base", "knowledge", response=KbCategories),
    _op("GET", "/api/kb/{id}", "One article or canned response", "knowledge", response=KbDoc),
    _op("POST", "/api/supervisor/kb", "Add (or replace) an article or canned response", "knowledge", body=KbBody,
        response=KbDoc),
    _op("PUT", "/api/supervisor/kb/{id}", "Edit an article or canned response", "knowledge", body=KbBody,
        response=KbDoc),
    _op("DELETE", "/api/supervisor/kb/{id}", "Delete an article or canned response", "knowledge", response=Ok),
    _op("GET", "/api/kpis/me", "My KPIs today, this week and this month beside the team and the targets", "kpis",
        response=MyPerformance),
    _op("GET", "/api/evaluations/me", "My QA evaluations", "kpis"),
    _op("POST", "/api/evaluations/{id}/{action}", "Acknowledge, dispute or resolve an evaluation", "kpis",
        body=EvaluationActionBody),
    # qakb: the QA workspace (supervisors and admins; quality acts as the logged-in user)
    _op("GET", "/api/supervisor/qa/policies", "QA sampling policies", "qa"),
    _op("GET", "/api/supervisor/qa/scorecards", "QA scorecards", "qa"),
    _op("POST", "/api/supervisor/qa/samples", "Draw a QA sample by a policy", "qa", body=QaDrawBody),
    _op("GET", "/api/supervisor/qa/queue", "My QA queue, each item with its sample's seed", "qa"),
    _op("GET", "/api/supervisor/qa/conversations/{id}", "A sampled conversation's QA record and transcript", "qa"),
    _op("GET", "/api/supervisor/qa/conversations/{id}/recording", "The call recording, streamed through the inbox",
        "qa"),
    _op("POST", "/api/supervisor/qa/evaluations", "Submit a filled scorecard as the logged-in evaluator", "qa",
        body=QaEvaluationBody, status=201),
    _op("GET", "/api/supervisor/qa/evaluations", "Evaluations (e.g. the disputes to resolve)", "qa"),
    _op("GET", "/api/supervisor/qa/calibrations", "Calibration sessions with Krippendorff's alpha", "qa"),
    _op("POST", "/api/supervisor/qa/calibrations", "Open a calibration session", "qa", body=QaCalibrationBody,
        status=201),
    _op("GET", "/api/supervisor/qa/calibrations/{id}", "One calibration session", "qa"),
    _op("POST", "/api/supervisor/agents/{id}/state", "Force an agent's state", "supervisor", body=ForceStateBody),
    _op("POST", "/api/supervisor/conversations/{id}/reassign", "Reassign a conversation", "supervisor",
        body=ReassignBody),
    _op("GET", "/api/conversations/{id}/whatsapp", "WhatsApp templates and the 24-hour window", "conversations",
        response=WhatsAppComposer),
    _op("GET", "/api/supervisor/conversations/{id}/why", "Every routing decision of a conversation", "supervisor"),
    *REPORTS,
    *CALL_OPERATIONS,
    *CUSTOMER_OPERATIONS,
    *SUPERVISION_OPERATIONS,
    *WALLBOARD_OPERATIONS,
    *search.OPERATIONS,
    *AUDIT_OPERATIONS,
    *wfm.OPERATIONS,
    *INTEGRATION_OPERATIONS,
    *attachments.OPERATIONS,
    *PRIVACY_OPERATIONS,
    *SSO_OPERATIONS,
]

SECURITY = {
    "session": {"type": "apiKey", "in": "cookie", "name": "omnihub_session"},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": "required on every POST; from /api/login or /api/me"},
}


def openapi() -> dict[str, Any]:
    """The inbox's OpenAPI document."""
    return document("omnihub inbox", "1", OPERATIONS, SECURITY)
