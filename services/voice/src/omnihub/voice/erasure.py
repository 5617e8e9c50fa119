"""The voice service's part of a customer's erasure: calls in its KV bucket that name their number."""

from __future__ import annotations

from typing import Any

from omnihub.common import privacy, subjects
from omnihub.common.bus import Bus


async def erase(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    """Forget the calls (by CallSid, kept a day) whose state names one of the customer's numbers."""
    numbers = privacy.sources(body, "voice", "sms", "whatsapp")
    return {"removed": {subjects.KV_VOICE_CALLS: await privacy.forget_values(bus, subjects.KV_VOICE_CALLS, numbers)}}
