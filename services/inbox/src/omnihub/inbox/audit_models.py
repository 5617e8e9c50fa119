"""The audit trail's HTTP models: the admins' filters, one record, a page of records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from omnihub.common.openapi import Operation

ACTIONS = (
    "auth.login", "auth.login_failed", "auth.force_logout", "agent.force_state", "conversation.transfer",
    "conversation.reassign", "customer.merge", "kb.create", "kb.update", "kb.delete", "qa.sample",
    "qa.evaluation.submit", "qa.evaluation.acknowledge", "qa.evaluation.dispute", "qa.evaluation.resolve",
    "qa.calibration.open", "call.supervise", "export.report", "export.audit", "config.change", "customer.erase",
    "customer.export")


class AuditQuery(BaseModel):
    """GET /api/admin/audit: filters (all optional, combined with AND), newest first."""

    actor: str = Field(default="", max_length=64, description="who acted (exactly)")
    action: str = Field(default="", max_length=64, description="an action, or its family ending with '.' (kb.)")
    target: str = Field(default="", max_length=200, description="what was acted on (exactly)")
    since: float | None = Field(default=None, ge=0, description="seconds since the epoch, inclusive")
    until: float | None = Field(default=None, ge=0, description="seconds since the epoch, exclusive")
    cursor: str = Field(default="", max_length=64, pattern=r"^[a-z0-9_]*$",
                        description="the `next` of the previous page: older records than it")
    limit: int = Field(default=100, ge=1, le=500)


class AuditExportQuery(AuditQuery):
    """GET /api/admin/audit/export: the same filters, up to 50,000 rows as CSV."""

    limit: int = Field(default=10_000, ge=1, le=50_000)


class AuditRecord(BaseModel):
    """One privileged action: who, when, what, on what, and the state before and after where there is one."""

    id: str
    time: float = Field(description="seconds since the epoch")
    actor: str
    role: str = Field(description="the actor's role, or '' for a refused login")
    action: str
    target: str
    outcome: str = Field(description="ok, or refused")
    address: str = Field(description="the client's address")
    before: Any = None
    after: Any = None


class AuditPage(BaseModel):
    """Newest first; `next` fetches the older ones ('' when there are none)."""

    records: list[AuditRecord]
    next: str = ""


OPERATIONS = [
    Operation("GET", "/api/admin/audit", "Browse and filter the audit trail (admins)", query=AuditQuery,
              response=AuditPage, tags=("audit",)),
    Operation("GET", "/api/admin/customers/{id}/export", "One customer's record, identities and messages as JSON "
              "(admins; audited)", tags=("privacy",)),
    Operation("GET", "/api/admin/audit/export", "The filtered audit trail as CSV (admins; the export is audited)",
              query=AuditExportQuery, tags=("audit",)),
]
