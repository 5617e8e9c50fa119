"""Sessions, passwords and login throttling of the inbox."""

from __future__ import annotations

import time

from argon2 import PasswordHasher

from omnihub.inbox.auth import LoginLimiter, SessionCodec, verify_password
from omnihub.inbox.config import User

USER = User("alice", "Alice", "agent", PasswordHasher().hash("s3cret!"))


def test_session_round_trip_and_forgery() -> None:
    codec = SessionCodec(b"k" * 32)
    cookie, session = codec.issue(USER)
    assert codec.read(cookie) == session
    body, _, sig = cookie.rpartition(".")
    assert codec.read(body + "." + "0" * len(sig)) is None
    assert codec.read(cookie.replace(body[:6], body[:5] + "A")) is None
    assert SessionCodec(b"x" * 32).read(cookie) is None
    assert codec.read(None) is None and codec.read("garbage") is None


def test_expired_session_is_refused() -> None:
    codec = SessionCodec(b"k" * 32, hours=0)
    cookie, _ = codec.issue(USER)
    time.sleep(0.01)
    assert codec.read(cookie) is None


def test_passwords() -> None:
    assert verify_password(USER, "s3cret!")
    assert not verify_password(USER, "wrong")
    assert not verify_password(None, "s3cret!")


def test_login_limiter() -> None:
    limiter = LoginLimiter(attempts=3, window=60)
    for _ in range(3):
        assert not limiter.blocked("user:bob")
        limiter.failed("user:bob")
    assert limiter.blocked("user:bob")
    limiter.succeeded("user:bob")
    assert not limiter.blocked("user:bob")
