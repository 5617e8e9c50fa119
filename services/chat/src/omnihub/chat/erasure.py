"""The chat service's part of a customer's erasure: web chat sessions, WeChat state, the visitor's uploads."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from omnihub.common import privacy, subjects
from omnihub.common.bus import Bus

UPLOADS = "/widget/uploads/"


async def erase(bus: Bus, upload_dir: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Forget the customer's web chat sessions (by visitor id), WeChat entries naming their openid, and the files
    they uploaded in the widget (the request lists their attachment references)."""
    visitors = privacy.sources(body, "webchat", "web", "chat")
    openids = privacy.sources(body, "wechat")
    files = 0
    for uri in body.get("files", []):
        name = str(uri).removeprefix(UPLOADS)
        if str(uri).startswith(UPLOADS) and name and "/" not in name and not name.startswith("."):
            with contextlib.suppress(FileNotFoundError):
                (upload_dir / name).unlink()
                files += 1
    return {"removed": {
        subjects.KV_CHAT_SESSIONS: await privacy.forget_keys(bus, subjects.KV_CHAT_SESSIONS, visitors),
        subjects.KV_WECHAT: await privacy.forget_values(bus, subjects.KV_WECHAT, openids),
        "uploads": files}}
