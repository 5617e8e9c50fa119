"""API tokens of the integration API: created by admins with scopes, shown once, stored as a hash, checked in
constant time, each with its own rate limit (the `limits` library, counters shared by every replica)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from limits import parse
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter

from omnihub.common.bus import new_id
from omnihub.inbox.integration_models import NewToken, TokenBody, TokenInfo

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from omnihub.inbox.store import InboxStore

_DUMMY = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A checked token: who it is and what it may do."""

    id: str
    name: str
    scopes: frozenset[str]
    rate: str
    teams: tuple[str, ...] = ()  # it sees these teams' agents only, like their supervisor; empty: everything


def _digest(secret: str) -> str:
    # the secret is 256 random bits: a plain SHA-256 is enough (no password to stretch)
    return hashlib.sha256(secret.encode()).hexdigest()


def info(doc: dict[str, Any]) -> TokenInfo:
    """A stored token as listed (never its hash)."""
    return TokenInfo(id=doc["_id"], name=doc["name"], scopes=doc["scopes"], rate=doc["rate"],
                     created_by=doc["created_by"], created=doc["created"], expires=doc.get("expires"),
                     revoked=bool(doc.get("revoked")), teams=doc.get("teams", []))


class TokenStore:
    """The `api_tokens` collection and the per-token rate limiter."""

    def __init__(self, store: InboxStore | None, limits_storage: Storage) -> None:
        self.store = store
        self.limiter = FixedWindowRateLimiter(limits_storage)

    @property
    def _tokens(self) -> AsyncCollection[dict[str, Any]]:
        assert self.store is not None, "API tokens need the inbox's store"
        return self.store.db["api_tokens"]

    async def create(self, body: TokenBody, created_by: str) -> NewToken:
        """A new token; the returned `token` is the only time its secret is seen."""
        token_id, secret = new_id("tok"), secrets.token_urlsafe(32)
        now = time.time()
        doc = {"_id": token_id, "name": body.name.strip(), "scopes": sorted(set(body.scopes)), "rate": body.rate,
               "hash": _digest(secret), "created_by": created_by, "created": now,
               "expires": now + body.expires_in_days * 86400 if body.expires_in_days else None, "revoked": False,
               "teams": sorted(set(body.teams))}
        await self._tokens.insert_one(doc)
        return NewToken(**info(doc).model_dump(), token=f"{token_id}.{secret}")

    async def listed(self) -> list[TokenInfo]:
        """Every token, newest first."""
        return [info(d) for d in await self._tokens.find().sort("_id", -1).to_list(1000)]

    async def revoke(self, token_id: str) -> bool:
        """Revoke one (it is refused at once); False when there is none."""
        result = await self._tokens.update_one({"_id": token_id}, {"$set": {"revoked": True}})
        return result.matched_count == 1

    async def check(self, presented: str) -> ApiToken | None:
        """The token of an Authorization header's value, or None if unknown, wrong, revoked or expired."""
        token_id, _, secret = presented.partition(".")
        doc = await self._tokens.find_one({"_id": token_id}) if token_id and len(presented) < 200 else None
        matches = hmac.compare_digest(_digest(secret), doc["hash"] if doc else _DUMMY)
        if doc is None or not matches or doc.get("revoked"):
            return None
        if doc.get("expires") is not None and doc["expires"] <= time.time():
            return None
        return ApiToken(doc["_id"], doc["name"], frozenset(doc["scopes"]), doc["rate"], tuple(doc.get("teams", ())))

    async def hit(self, token: ApiToken) -> int:
        """Count one request; 0 when allowed, else the seconds until the token's window has room (Retry-After)."""
        item = parse(token.rate)
        if await self.limiter.hit(item, "api-token", token.id):
            return 0
        stats = await self.limiter.get_window_stats(item, "api-token", token.id)
        return max(1, int(stats.reset_time - dt.datetime.now(dt.UTC).timestamp()) + 1)
