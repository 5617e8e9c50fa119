"""The composer's WhatsApp side: approved templates from configuration and the customer's 24-hour window."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import nats.js.errors
import yaml
from aiohttp import web
from pydantic import ValidationError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.common import subjects
from omnihub.common.bus import kv_key
from omnihub.common.config import ServiceSettings, fail
from omnihub.inbox.auth import SESSION
from omnihub.inbox.models import WhatsAppComposer, WhatsAppTemplate

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

TEMPLATES_FILE = "whatsapp_templates.yaml"
WINDOW_SECONDS = 24 * 3600.0  # WhatsApp's customer-service window, as the sms service applies it


def load_templates(config_dir: Path) -> list[WhatsAppTemplate]:
    """The approved templates in `<config>/whatsapp_templates.yaml` (none when the file is missing); a bad file
    stops the service with the file and the problem named."""
    path = config_dir / TEMPLATES_FILE
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return [WhatsAppTemplate.model_validate(t) for t in data.get("templates", [])]
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        fail(f"invalid WhatsApp templates file {path}: {exc}")


def register(router: web.UrlDispatcher, inbox: Inbox, config_dir: Path | None = None) -> None:
    """GET /api/conversations/{id}/whatsapp: the templates and whether free text may still be sent."""
    templates = load_templates(config_dir or ServiceSettings().config_dir)

    async def composer(request: web.Request) -> web.Response:
        s = request[SESSION]
        conv = await inbox._conversation(s, request.match_info["id"])
        if conv.channel != contact_pb2.CHANNEL_WHATSAPP:
            raise web.HTTPBadRequest(text="not a WhatsApp conversation")
        last = await _last_customer_message(inbox, conv.identity.source_id)
        closes = last + WINDOW_SECONDS if last is not None else None
        open_ = closes is not None and time.time() < closes
        return web.json_response(WhatsAppComposer(window_open=open_, window_closes_at=closes,
                                                  templates=templates).model_dump())

    router.add_get("/api/conversations/{id}/whatsapp", composer)


async def _last_customer_message(inbox: Inbox, address: str) -> float | None:
    """When the customer last wrote, from the sms service's record (KV whatsapp_windows): one truth for both."""
    windows = await inbox.bus.kv(subjects.KV_WHATSAPP_WINDOWS)
    try:
        entry = await windows.get(kv_key(address))
        return float((entry.value or b"").decode())
    except (nats.js.errors.KeyNotFoundError, ValueError):
        return None
