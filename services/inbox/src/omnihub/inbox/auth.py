"""Sessions in signed HttpOnly cookies, argon2 passwords, CSRF tokens and login rate limiting."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from omnihub.inbox.config import User

COOKIE = "omnihub_session"
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not-a-password")


@dataclass(frozen=True, slots=True)
class Session:
    """Who is logged in, until when, and their CSRF token."""

    user: str
    role: str
    name: str
    csrf: str
    expires: float


class SessionCodec:
    """Signs and verifies session cookies with HMAC-SHA256."""

    def __init__(self, key: bytes, hours: int = 12) -> None:
        self.key = key
        self.lifetime = hours * 3600

    def issue(self, user: User) -> tuple[str, Session]:
        """A new session and its cookie value."""
        session = Session(user.id, user.role, user.display_name, secrets.token_urlsafe(24), time.time() + self.lifetime)
        body = base64.urlsafe_b64encode(json.dumps(asdict(session)).encode()).decode()
        return f"{body}.{self._sign(body)}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None if missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        body, _, sig = cookie.rpartition(".")
        if not hmac.compare_digest(sig, self._sign(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body))
            session = Session(**data)
        except (ValueError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def _sign(self, body: str) -> str:
        return hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()


def verify_password(user: User | None, password: str) -> bool:
    """argon2 verification; unknown users cost the same time as known ones."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


class LoginLimiter:
    """At most `attempts` failed logins per user and per address in `window` seconds."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, list[float]] = {}

    def blocked(self, *keys: str) -> bool:
        """True while any key is over the limit."""
        now = time.time()
        for key in keys:
            recent = [t for t in self._failures.get(key, []) if now - t < self.window]
            self._failures[key] = recent
            if len(recent) >= self.attempts:
                return True
        return False

    def failed(self, *keys: str) -> None:
        """Record a failure."""
        for key in keys:
            self._failures.setdefault(key, []).append(time.time())

    def succeeded(self, *keys: str) -> None:
        """Forget failures after a good login."""
        for key in keys:
            self._failures.pop(key, None)
