"""The SMS/WhatsApp service's part of a customer's erasure: what its KV buckets keep under their numbers."""

from __future__ import annotations

from typing import Any

from omnihub.common import privacy, subjects
from omnihub.common.bus import Bus

BUCKETS = (subjects.KV_SMS_OPTOUT, subjects.KV_SMS_SURVEYS, subjects.KV_SMS_SENDERS, subjects.KV_WHATSAPP_WINDOWS)


async def erase(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    """Forget the customer's numbers in every bucket (opt-outs, pending surveys, senders, WhatsApp windows)."""
    numbers = privacy.sources(body, "sms", "whatsapp", "voice")
    keys = {*numbers, *(f"whatsapp:{n}" for n in numbers if not n.startswith("whatsapp:"))}
    return {"removed": {bucket: await privacy.forget_keys(bus, bucket, keys) for bucket in BUCKETS}}
