"""Wrap-up: the disposition codes from the desktop's configuration, and the wrap-up request that must use one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from aiohttp import web
from pydantic import ValidationError

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common.config import fail
from omnihub.common.jsonbody import read_body
from omnihub.inbox.auth import SESSION
from omnihub.inbox.live import to_dict
from omnihub.inbox.models import Disposition, Dispositions, WrapUpBody

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

LANGUAGES = ("en", "zh-CN")


DEFAULT = Dispositions(dispositions=[
    Disposition(code="question_answered", labels={"en": "Question answered", "zh-CN": "问题已解答"}),
    Disposition(code="order_status", labels={"en": "Order status", "zh-CN": "订单状态"}),
    Disposition(code="refund", labels={"en": "Refund", "zh-CN": "退款"}),
    Disposition(code="complaint", labels={"en": "Complaint", "zh-CN": "投诉"}),
    Disposition(code="sale", labels={"en": "Sale", "zh-CN": "销售"}),
    Disposition(code="no_action", labels={"en": "No action needed", "zh-CN": "无需处理"}),
])


def load_dispositions(path: Path) -> Dispositions:
    """The `dispositions:` of the desktop file (the defaults when it is missing), or exit 2 naming the problem."""
    if not path.exists():
        return DEFAULT
    try:
        data = yaml.safe_load(path.read_text()) or {}
        loaded = Dispositions.model_validate({"dispositions": data.get("dispositions", [])})
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        fail(f"invalid desktop file {path}: {exc}")
    for d in loaded.dispositions:
        missing = [lang for lang in LANGUAGES if not d.labels.get(lang)]
        if missing:
            fail(f"invalid desktop file {path}: disposition {d.code!r} has no label in {', '.join(missing)}")
    if len({d.code for d in loaded.dispositions}) != len(loaded.dispositions):
        fail(f"invalid desktop file {path}: a disposition code appears twice")
    return loaded if loaded.dispositions else DEFAULT


class WrapUps:
    """The wrap-up routes, on the inbox's router stub and its rpc error mapping."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def list(self, request: web.Request) -> web.Response:
        """GET /api/dispositions."""
        return web.json_response(self.inbox.dispositions.model_dump())

    async def wrap_up(self, request: web.Request) -> web.Response:
        """POST /api/conversations/{id}/wrapup {disposition, resolved, notes}: the disposition is a configured code."""
        body = await read_body(request, WrapUpBody)
        if body.disposition and body.disposition not in {d.code for d in self.inbox.dispositions.dispositions}:
            raise web.HTTPBadRequest(text=f"unknown disposition {body.disposition!r}: see /api/dispositions")
        conv = await self.inbox._rpc(self.inbox.router.WrapUp(routing_pb2.WrapUpRequest(
            agent_id=request[SESSION].user, conversation_id=request.match_info["id"],
            disposition=body.disposition, resolved=body.resolved, notes=body.notes)))
        return web.json_response(to_dict(conv))


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """GET /api/dispositions and POST /api/conversations/{id}/wrapup."""
    routes = WrapUps(inbox)
    router.add_get("/api/dispositions", routes.list)
    router.add_post("/api/conversations/{id}/wrapup", routes.wrap_up)
