"""Read receipts to the web-chat visitor: the agent holding the conversation has seen the visitor's messages."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.inbox.auth import SESSION

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

LAST = 50  # the visitor's latest messages a receipt names


async def agent_read(inbox: Inbox, user: str, conv: routing_pb2.Conversation, history: list[dict[str, Any]]) -> None:
    """Tell the widget (through the chat service) that the holding agent has read the visitor's messages."""
    if conv.channel != contact_pb2.CHANNEL_WEBCHAT or user != conv.assigned_agent:
        return
    seen = [m["_id"] for m in history if m.get("conversation_id") == conv.id and m.get("direction") == "incoming"]
    if seen:
        payload = json.dumps({"message_ids": seen[-LAST:]}).encode()
        await inbox.bus.nc.publish(subjects.chat_read_agent(conv.identity.source_id), payload)


def register(router: web.UrlDispatcher, inbox: Inbox) -> None:
    """POST /api/conversations/{id}/read: the open conversation's new messages were seen (the desktop calls it as
    they arrive; opening the conversation does the same)."""

    async def read(request: web.Request) -> web.Response:
        s = request[SESSION]
        conv = await inbox._conversation(s, request.match_info["id"])
        await agent_read(inbox, s.user, conv, await inbox.store.customer_history(conv.customer_id))
        return web.json_response({"ok": True})

    router.add_post("/api/conversations/{id}/read", read)
