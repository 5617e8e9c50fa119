"""The quoted thread under an email reply: the customer's latest mail of the conversation, each line after "> "."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox.store import InboxStore

MAX_QUOTED = 10_000  # characters of the customer's mail carried under a reply


def quote(doc: dict[str, Any], sender: str, header: str = "") -> str:
    """The attribution line and the mail's text, "> " before every line (RFC 3676 style quoting). `header` is the
    line as the agent's desktop words it (their language and date format); English with a UTC time otherwise."""
    when = datetime.fromtimestamp(float(doc.get("time", 0)), UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = str(doc.get("text", ""))[:MAX_QUOTED].rstrip()
    lines = "\n".join(">" if not line.strip() else f"> {line}" for line in text.splitlines())
    return f"{header.strip() or f'On {when}, {sender} wrote:'}\n{lines}"


async def thread_quote(store: InboxStore, conv: routing_pb2.Conversation, header: str = "") -> str:
    """The quote of the customer's latest mail in `conv` ("" when they have written none)."""
    doc = await store.last_incoming(conv.customer_id, conv.id)
    if doc is None:
        return ""
    name = conv.customer_display_name
    address = conv.identity.source_id
    return quote(doc, f"{name} <{address}>" if name and name != address else address, header)
