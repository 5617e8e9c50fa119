"""Data-subject requests and retention (admins): export one customer as JSON, the retention log of every service."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from aiohttp import web

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import privacy
from omnihub.inbox import audit, erasure
from omnihub.inbox.auth import SESSION
from omnihub.inbox.live import to_dict
from omnihub.inbox.privacy_models import RetentionReport, ServiceRuns

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox


ASK_SECONDS = 10.0  # how long the inbox waits for quality's part of an export
LOG_SECONDS = 5.0  # how long the retention page waits for the services' logs (a silent one is shown as such)


def _admin(request: web.Request) -> None:
    if request[SESSION].role != "admin":  # the middleware refuses others on /api/admin/ too
        raise web.HTTPForbidden(text="admins only")


def register(app: web.Application, inbox: Inbox) -> None:
    """GET /api/admin/customers/{id}/export: the customer record, identities, every message and attachment and
    quality's conversations, events, surveys and evaluations (asked over NATS), as a download;
    GET /api/admin/retention: the retention settings and every service's latest runs."""

    async def retention_report(request: web.Request) -> web.Response:
        _admin(request)
        job = inbox.retention_job
        services = [ServiceRuns(service="inbox", ok=True, runs=await job.recent() if job is not None else [])]
        answers = await privacy.ask(inbox.bus, privacy.RETENTION, {}, privacy.RETAINERS, LOG_SECONDS)
        for name in privacy.RETAINERS:
            got = answers.get(name, {"ok": False, "error": "no answer"})
            services.append(ServiceRuns(service=name, ok=bool(got.get("ok")), error=str(got.get("error", "")),
                                        runs=got.get("runs", []) if got.get("ok") else []))
        report = RetentionReport(days=dict(inbox.retention_days), services=services)
        return web.json_response(report.model_dump(mode="json"))

    async def export(request: web.Request) -> web.Response:
        _admin(request)
        customer_id = request.match_info["id"]
        customer = await inbox._rpc(inbox.router.GetCustomer(routing_pb2.GetCustomerRequest(customer_id=customer_id)))
        messages = await inbox.store.customer_history(customer_id, limit=100_000)
        files = await inbox.store.db["attachments"].find({"customer_id": customer_id}).to_list(100_000)
        answer = (await privacy.ask(inbox.bus, privacy.EXPORT, {"customer_id": customer_id}, ("quality",),
                                    ASK_SECONDS)).get("quality")
        if answer is None or not answer.get("ok"):  # never a silently partial export
            raise web.HTTPServiceUnavailable(text="the quality service did not answer; try again",
                                             headers={"Retry-After": "5"})
        body = {"exported": dt.datetime.now(dt.UTC).isoformat(), "customer": to_dict(customer), "messages": messages,
                "attachments": files, "quality": answer["data"]}
        await audit.record(request, "customer.export", customer_id, after={"messages": len(messages)})
        return web.Response(body=json.dumps(body, ensure_ascii=False, default=str).encode(), headers={
            "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="customer-{customer_id[:64]}.json"'})

    app.router.add_get("/api/admin/customers/{id}/export", export)
    app.router.add_get("/api/admin/retention", retention_report)
    erasure.register(app, inbox)
