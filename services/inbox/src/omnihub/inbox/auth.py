"""Server-side sessions in MongoDB, argon2 passwords, CSRF tokens, login rate limits and the client's address."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import RateLimitItem, parse
from limits.aio.storage import MongoDBStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from omnihub.inbox.config import User

COOKIE = "omnihub_session"
# OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane): tens of milliseconds of one core per login instead of
# argon2-cffi's default (64 MiB, 3 passes, 4 lanes). A users.yaml hash made otherwise is rehashed after a good login.
HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY = HASHER.hash("not-a-password")


def hash_password(password: str) -> str:
    """An argon2id hash with the inbox's parameters (for users.yaml)."""
    return HASHER.hash(password)


@dataclass(frozen=True, slots=True)
class Session:
    """Who is logged in, until when, and their CSRF token."""

    user: str
    role: str
    name: str
    csrf: str
    expires: float
    teams: tuple[str, ...] = ()  # an SSO login's team claim (password logins: users.yaml's, read by teams.py)
    sso: bool = False  # made by single sign-on: role, name and teams come from the ID token, not users.yaml


# Where the security middleware leaves the caller's session for the handlers (a typed key, not a bare string).
SESSION = web.RequestKey("session", Session)


def _fingerprint(user: User) -> str:
    """Changes whenever the user's password hash (or role) changes, which ends their older sessions."""
    return hashlib.sha256(f"{user.role}\0{user.password_hash}".encode()).hexdigest()[:32]


class SessionStore:
    """Sessions kept in MongoDB: the cookie holds a random 256-bit id, the database only its keyed hash.

    Logout deletes the session; an admin's forced logout deletes all of a user's sessions; a changed
    password hash in users.yaml makes older sessions invalid. Expired ones are removed by a TTL index.
    """

    def __init__(self, collection: AsyncCollection[dict[str, Any]], key: bytes, users: Mapping[str, User],
                 hours: int = 12) -> None:
        self.sessions = collection
        # users.yaml hashes rehashed with HASHER's parameters: {_id: user, source: digest of the yaml hash, hash}
        self.rehashed: AsyncCollection[dict[str, Any]] = collection.database["password_rehash"]
        self.key = key
        self.users = users
        self.lifetime = hours * 3600

    async def setup(self) -> None:
        """The expiry (TTL) and per-user indexes."""
        await self.sessions.create_index([("expires", ASCENDING)], expireAfterSeconds=0)
        await self.sessions.create_index([("user", ASCENDING)])

    async def check_password(self, username: str, password: str) -> User | None:
        """The user whose password this is, or None. The hash checked is users.yaml's, or its rehash with today's
        parameters once a login succeeded (kept while users.yaml's hash stays the same: a new one there wins)."""
        user = self.users.get(username)
        copy = await self.rehashed.find_one({"_id": username})  # asked for unknown users too: the same time
        digest = user.password_hash if user else _DUMMY
        if user and copy and hmac.compare_digest(str(copy.get("source", "")), _digest(user.password_hash)):
            digest = str(copy["hash"])
        ok = await asyncio.to_thread(_verify, digest, password)
        if not ok or user is None:
            return None
        if HASHER.check_needs_rehash(digest):
            rehash = await asyncio.to_thread(HASHER.hash, password)
            await self.rehashed.replace_one({"_id": user.id}, {"source": _digest(user.password_hash), "hash": rehash},
                                            upsert=True)
        return user

    def _id(self, token: str) -> str:
        return hmac.new(self.key, token.encode(), hashlib.sha256).hexdigest()

    async def issue(self, user: User, sso: bool = False, id_token: str = "") -> tuple[str, Session]:
        """A new session and its cookie value; `sso`: the user comes from an ID token (kept in the session, the
        provider's logout wants it back as id_token_hint)."""
        token = secrets.token_urlsafe(32)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.lifetime)
        expires = expires.replace(microsecond=expires.microsecond // 1000 * 1000)  # BSON dates keep milliseconds
        session = Session(user.id, user.role, user.display_name, secrets.token_urlsafe(24), expires.timestamp(),
                          user.teams if sso else (), sso)
        doc: dict[str, Any] = {"_id": self._id(token), "user": user.id, "csrf": session.csrf, "expires": expires,
                               "fingerprint": "sso" if sso else _fingerprint(user)}
        if sso:
            doc["sso"] = {"role": user.role, "name": user.display_name, "teams": list(user.teams), "id_token": id_token}
        await self.sessions.insert_one(doc)
        return token, session

    async def read(self, token: str | None) -> Session | None:
        """The session of a cookie, or None if unknown, revoked, expired or its user's password changed."""
        if not token or len(token) > 100:
            return None
        doc = await self.sessions.find_one({"_id": self._id(token)})
        if doc is None:
            return None
        expires = doc["expires"].replace(tzinfo=dt.UTC).timestamp()
        if expires <= dt.datetime.now(dt.UTC).timestamp():
            return None
        if sso := doc.get("sso"):  # the identity provider vouched for role and name until the session's expiry
            return Session(doc["user"], sso["role"], sso["name"], doc["csrf"], expires, tuple(sso["teams"]), True)
        user = self.users.get(doc["user"])
        if expires <= dt.datetime.now(dt.UTC).timestamp() or user is None or doc["fingerprint"] != _fingerprint(user):
            return None
        return Session(user.id, user.role, user.display_name, doc["csrf"], expires)

    async def revoke(self, token: str | None) -> str:
        """End one session (logout); the ID token of an SSO session ("" otherwise)."""
        if not token:
            return ""
        doc = await self.sessions.find_one_and_delete({"_id": self._id(token)})
        return str(((doc or {}).get("sso") or {}).get("id_token") or "")

    async def known(self, user_id: str) -> bool:
        """Whether the user has a session (SSO users exist only there, not in users.yaml)."""
        return await self.sessions.find_one({"user": user_id}, {"_id": 1}) is not None

    async def revoke_user(self, user_id: str) -> int:
        """End every session of a user, on every replica; how many there were."""
        result = await self.sessions.delete_many({"user": user_id})
        return int(result.deleted_count)


def _digest(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()


def _verify(digest: str, password: str) -> bool:
    try:
        return HASHER.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def verify_password(user: User | None, password: str) -> bool:
    """argon2 verification against users.yaml's hash; unknown users cost the same time as known ones."""
    return _verify(user.password_hash if user else _DUMMY, password) and user is not None


class LoginLimiter:
    """Failed logins counted per account and per client address, atomically, in storage shared by every replica.

    An attempt takes a unit of both counters before the password is checked, so concurrent guesses
    cannot all be checked; a good login gives the account's counter back in full and the address's
    unit back, so colleagues behind one address are not locked out by one person's failures.
    """

    def __init__(self, storage: Storage, per_account: str = "5/5 minutes", per_address: str = "50/5 minutes") -> None:
        self.storage = storage
        self.strategy = FixedWindowRateLimiter(storage)
        self.account: RateLimitItem = parse(per_account)
        self.address: RateLimitItem = parse(per_address)

    async def attempt(self, account: str, address: str) -> bool:
        """Take one attempt for the account and the address; False (nothing taken) when either is used up."""
        if not await self.strategy.hit(self.account, "login-account", account):
            return False
        if not await self.strategy.hit(self.address, "login-address", address):
            await self._give_back(self.account, "login-account", account)
            return False
        return True

    async def succeeded(self, account: str, address: str) -> None:
        """A good login: forget the account's failures and give the address its unit back."""
        await self.strategy.clear(self.account, "login-account", account)
        await self._give_back(self.address, "login-address", address)

    async def _give_back(self, item: RateLimitItem, *identifiers: str) -> None:
        await self.storage.incr(item.key_for(*identifiers), item.get_expiry(), amount=-1)

    async def retry_after(self, account: str, address: str) -> int:
        """Seconds until both windows have room again (for Retry-After)."""
        stats = [await self.strategy.get_window_stats(self.account, "login-account", account),
                 await self.strategy.get_window_stats(self.address, "login-address", address)]
        now = dt.datetime.now(dt.UTC).timestamp()
        return max(1, int(max((s.reset_time - now for s in stats if s.remaining == 0), default=1)))


class SharedCounters(MongoDBStorage):
    """limits' MongoDB storage, made safe on SecantusDB: when replicas race to create a counter with an upsert,
    SecantusDB applies it but answers None, so the counter is created first (a duplicate is fine) and
    only ever updated; an empty answer still reads the count back (which can only over-count)."""

    def __init__(self, uri: str, database_name: str = "limits", counter_collection_name: str = "counters",
                 window_collection_name: str = "windows") -> None:
        super().__init__(uri, database_name=database_name, counter_collection_name=counter_collection_name,
                         window_collection_name=window_collection_name)
        self.counters_name = counter_collection_name

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to the counter and return its value."""
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expiry)
        with contextlib.suppress(DuplicateKeyError):
            await self.database[self.counters_name].insert_one({"_id": key, "count": 0, "expireAt": expires})
        try:
            return await super().incr(key, expiry, amount)
        except TypeError:
            return await self.get(key)
