"""Bodies and answers of the admins' privacy routes: retention log, customer erasure, customer export."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from omnihub.common.openapi import Operation


class RemovedKind(BaseModel):
    """What one run removed of one kind of data."""

    count: int = Field(description="documents removed (or emptied of their content)")
    before: float = Field(description="the cutoff: data older than this (seconds since the epoch) was due")
    oldest: float | None = Field(default=None, description="time of the oldest item removed")
    newest: float | None = Field(default=None, description="time of the newest item removed")


class RetentionRun(BaseModel):
    """One daily run of one service's retention job."""

    service: str
    time: float
    kinds: dict[str, RemovedKind]


class ServiceRuns(BaseModel):
    """One service's latest runs, or why it did not answer."""

    service: str
    ok: bool
    error: str = ""
    runs: list[RetentionRun] = []


class RetentionReport(BaseModel):
    """GET /api/admin/retention: the configured days per kind (absent: kept) and each service's runs."""

    days: dict[str, int]
    services: list[ServiceRuns]


class EraseBody(BaseModel):
    """POST /api/admin/customers/{id}/erase: the customer id typed again, as the confirmation."""

    confirm: str = Field(min_length=1, max_length=64, description="must equal the customer id in the path")


class ServiceErasure(BaseModel):
    """What one service erased of the customer (counts per kind of record), or why it could not."""

    service: str
    ok: bool
    error: str = ""
    removed: dict[str, int] = {}


class ErasureReport(BaseModel):
    """The state of one customer's erasure: done when every service reported success (retry otherwise)."""

    customer_id: str
    state: str = Field(description="done, or partial (some service failed or did not answer: retry)")
    time: float
    services: list[ServiceErasure]


def _op(method: str, path: str, summary: str, **kw: Any) -> Operation:
    return Operation(method, path, summary, tags=("privacy",), **kw)


OPERATIONS = [
    _op("GET", "/api/admin/retention", "Retention settings and each service's latest daily runs",
        response=RetentionReport),
    _op("POST", "/api/admin/customers/{id}/erase", "Erase one customer in every service (safe to retry)",
        body=EraseBody, response=ErasureReport),
    _op("GET", "/api/admin/customers/{id}/erasure", "The last erasure of one customer, per service",
        response=ErasureReport),
]
