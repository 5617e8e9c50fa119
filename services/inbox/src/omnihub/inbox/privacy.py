"""Data-subject requests (admins): one customer's data as JSON, audited (erasure is not built yet)."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from aiohttp import web

from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox import audit
from omnihub.inbox.live import to_dict

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox


def register(app: web.Application, inbox: Inbox) -> None:
    """GET /api/admin/customers/{id}/export: the customer record, identities and every message, as a download."""

    async def export(request: web.Request) -> web.Response:
        if request["session"].role != "admin":  # the middleware refuses others on /api/admin/ too
            raise web.HTTPForbidden(text="admins only")
        customer_id = request.match_info["id"]
        customer = await inbox._rpc(inbox.router.GetCustomer(routing_pb2.GetCustomerRequest(customer_id=customer_id)))
        messages = await inbox.store.customer_history(customer_id, limit=100_000)
        body = {"exported": dt.datetime.now(dt.UTC).isoformat(), "customer": to_dict(customer), "messages": messages}
        await audit.record(request, "customer.export", customer_id, after={"messages": len(messages)})
        return web.Response(body=json.dumps(body, ensure_ascii=False, default=str).encode(), headers={
            "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="customer-{customer_id[:64]}.json"'})

    app.router.add_get("/api/admin/customers/{id}/export", export)
