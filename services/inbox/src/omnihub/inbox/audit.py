"""The audit trail: append-only records of privileged actions, browsed, filtered and exported (CSV) by admins.

Any handler records with one line, `await audit.record(request, "kb.update", doc_id, before=old, after=new)`.
The trail only inserts and reads: it has no update or delete, and no route changes a record.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pymongo import DESCENDING

from omnihub.common.bus import new_id
from omnihub.common.clientaddr import Network, client_address
from omnihub.common.jsonbody import describe
from omnihub.inbox.audit_models import AuditExportQuery, AuditPage, AuditQuery, AuditRecord
from omnihub.inbox.auth import SESSION

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from omnihub.inbox.store import InboxStore

COLUMNS = ("id", "time", "actor", "role", "action", "target", "outcome", "address", "before", "after")
_FORMULA = re.compile(r"^[=+\-@\t\r]")  # cells a spreadsheet would run as a formula


class AuditTrail:
    """The `audit` collection of the inbox's database: insert and find, nothing else."""

    def __init__(self, store: InboxStore | None, trusted_proxies: Sequence[Network] = ()) -> None:
        self.store = store
        self.trusted_proxies = tuple(trusted_proxies)

    @property
    def _records(self) -> AsyncCollection[dict[str, Any]]:
        assert self.store is not None, "the audit trail needs the inbox's store"
        return self.store.db["audit"]

    async def setup(self) -> None:
        """Indexes for the admins' filters (ids sort by time)."""
        for field in ("actor", "action", "target", "time"):
            await self._records.create_index([(field, DESCENDING)])

    async def add(self, actor: str, role: str, action: str, target: str = "", *, before: Any = None,
                  after: Any = None, outcome: str = "ok", address: str = "") -> str:
        """Append one record; its id."""
        doc = {"_id": new_id("aud"), "time": time.time(), "actor": actor[:64], "role": role, "action": action,
               "target": target[:200], "outcome": outcome, "address": address, "before": _plain(before),
               "after": _plain(after)}
        await self._records.insert_one(doc)
        return str(doc["_id"])

    async def find(self, query: AuditQuery) -> AuditPage:
        """Records matching the filters, newest first, one page."""
        docs = await self._records.find(_filter(query)).sort("_id", DESCENDING).to_list(query.limit + 1)
        more = len(docs) > query.limit
        records = [_record(d) for d in docs[:query.limit]]
        return AuditPage(records=records, next=records[-1].id if more and records else "")


async def record(request: web.Request, action: str, target: str = "", *, before: Any = None, after: Any = None,
                 actor: str = "", role: str = "", outcome: str = "ok") -> None:
    """Record a privileged action of this request's user (or `actor` and `role`, e.g. at login)."""
    trail = request.app.get(AUDIT)
    if trail is None:
        return  # an app built without the trail (route-table introspection only)
    session = request.get(SESSION)
    role = role or (session.role if session is not None else "")
    who = actor or (session.user if session is not None else "")
    await trail.add(who, role, action, target, before=before, after=after, outcome=outcome,
                    address=client_address(request, trail.trusted_proxies))


AUDIT: web.AppKey[AuditTrail] = web.AppKey("audit", AuditTrail)


def _plain(value: Any) -> Any:
    """Before/after values as stored: JSON-compatible (pydantic models dumped, other objects as text)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def _filter(query: AuditQuery) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if query.actor:
        found["actor"] = query.actor
    if query.action.endswith("."):
        found["action"] = {"$regex": "^" + re.escape(query.action)}
    elif query.action:
        found["action"] = query.action
    if query.target:
        found["target"] = query.target
    window = {op: value for op, value in (("$gte", query.since), ("$lt", query.until)) if value is not None}
    if window:
        found["time"] = window
    if query.cursor:
        found["_id"] = {"$lt": query.cursor}
    return found


def _record(doc: dict[str, Any]) -> AuditRecord:
    return AuditRecord(id=doc["_id"], time=doc["time"], actor=doc.get("actor", ""), role=doc.get("role", ""),
                       action=doc["action"], target=doc.get("target", ""), outcome=doc.get("outcome", "ok"),
                       address=doc.get("address", ""), before=doc.get("before"), after=doc.get("after"))


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) if value is not None else ""
    return "'" + text if _FORMULA.match(text) else text


def to_csv(records: Sequence[AuditRecord]) -> bytes:
    """The records as CSV (UTF-8 with a BOM for spreadsheets; formula-like cells quoted with ')."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in records:
        when = dt.datetime.fromtimestamp(r.time, dt.UTC).isoformat(timespec="milliseconds")
        writer.writerow([_cell(v) for v in (r.id, when, r.actor, r.role, r.action, r.target, r.outcome, r.address,
                                            r.before, r.after)])
    return ("\ufeff" + out.getvalue()).encode()


def _query(request: web.Request, model: type[AuditQuery]) -> AuditQuery:
    if request[SESSION].role != "admin":
        raise web.HTTPForbidden(text="admins only")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise web.HTTPBadRequest(text=describe(exc)) from None


async def browse(request: web.Request) -> web.Response:
    """GET /api/admin/audit?actor=&action=&target=&since=&until=&cursor=&limit=: a page, newest first."""
    query = _query(request, AuditQuery)
    page = await request.app[AUDIT].find(query)
    return web.json_response(page.model_dump(mode="json"))


async def export(request: web.Request) -> web.Response:
    """GET /api/admin/audit/export?...: the filtered trail as a CSV download (the export is itself recorded)."""
    query = _query(request, AuditExportQuery)
    records: list[AuditRecord] = []
    page = AuditPage(records=[], next="")
    while True:  # pages of 500 until the export's limit
        step = query.model_copy(update={"limit": min(500, query.limit - len(records)), "cursor": page.next})
        page = await request.app[AUDIT].find(step)
        records += page.records
        if not page.next or len(records) >= query.limit:
            break
    filters = query.model_dump(exclude_defaults=True)
    await record(request, "export.audit", "audit", after={"filters": filters, "rows": len(records)})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return web.Response(body=to_csv(records), headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="omnihub-audit-{stamp}.csv"'})


def register(app: web.Application, trail: AuditTrail) -> None:
    """The admins' routes: read and export only (there is deliberately no PUT, PATCH or DELETE)."""
    app[AUDIT] = trail
    app.router.add_get("/api/admin/audit", browse)
    app.router.add_get("/api/admin/audit/export", export)
