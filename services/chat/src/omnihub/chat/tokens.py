"""Signed per-visitor tokens: "<visitor_id>.<hex hmac-sha256>", verified in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_visitor_id() -> str:
    """A fresh random visitor id (128 random bits, like every id a browser sees)."""
    return "v_" + secrets.token_hex(16)


def sign(visitor_id: str, key: bytes) -> str:
    """The token a browser presents to prove it owns `visitor_id`."""
    mac = hmac.new(key, visitor_id.encode(), hashlib.sha256).hexdigest()
    return f"{visitor_id}.{mac}"


def verify(token: str, key: bytes) -> str | None:
    """The visitor id of a valid token, else None (also for tokens that are not printable ASCII)."""
    if len(token) > 200 or not token.isascii() or not token.isprintable():
        return None
    visitor_id, _, mac = token.rpartition(".")
    if not visitor_id:
        return None
    expected = hmac.new(key, visitor_id.encode(), hashlib.sha256).hexdigest()
    return visitor_id if hmac.compare_digest(mac.encode(), expected.encode()) else None
