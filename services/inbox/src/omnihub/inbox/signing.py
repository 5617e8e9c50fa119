"""Standard Webhooks signatures: `whsec_` secrets, `v1` HMAC-SHA256 over id.timestamp.body, and the verifier."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

PREFIX = "whsec_"
TOLERANCE = 300  # seconds a timestamp may be off (replays older than this are refused)


class InvalidSignature(Exception):
    """The webhook's headers, timestamp or signature do not check out (the message says which)."""


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and 24 random bytes in base64."""
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except ValueError:
        raise InvalidSignature("the secret is not whsec_ followed by base64") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`."""
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery attempt."""
    when = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(when),
            "webhook-signature": sign(secret, msg_id, when, body)}


def verify(secret: str, received: Mapping[str, str], body: bytes, now: float | None = None,
           tolerance: int = TOLERANCE) -> None:
    """Check a received webhook (for subscribers and our tests); raises InvalidSignature saying what is wrong.

    Any of the space-separated `v1,` signatures may match (secrets rotate); comparisons take constant time."""
    lower = {k.lower(): v for k, v in received.items()}
    msg_id, stamp, signatures = (lower.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise InvalidSignature("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        when = int(stamp)
    except ValueError:
        raise InvalidSignature("webhook-timestamp is not a number of seconds") from None
    if abs((time.time() if now is None else now) - when) > tolerance:
        raise InvalidSignature("webhook-timestamp is too old or in the future")
    expected = sign(secret, msg_id, when, body).encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split(" ")
               if candidate.startswith("v1,")):
        raise InvalidSignature("no signature matches")
