"""Server-side sessions, passwords, the shared login limiter (on SecantusDB) and the client's address."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import make_mocked_request
from argon2 import PasswordHasher, Type, extract_parameters
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from omnihub.common.clientaddr import client_address, parse_networks
from omnihub.inbox.auth import HASHER, LoginLimiter, SessionStore, SharedCounters, hash_password, verify_password
from omnihub.inbox.config import InboxSettings, User

USER = User("alice", "Alice", "agent", PasswordHasher().hash("s3cret!"))


@pytest.fixture
async def sessions(mongo_url: str, mongo_db: str) -> AsyncIterator[SessionStore]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    store = SessionStore(client[mongo_db]["sessions"], b"k" * 32, {"alice": USER})  # type: ignore[arg-type]
    await store.setup()
    yield store
    await client.close()


@pytest.fixture
async def storage(mongo_url: str, mongo_db: str) -> AsyncIterator[SharedCounters]:
    st = SharedCounters(f"async+{mongo_url}", database_name=mongo_db)
    yield st
    st.storage.close()


async def test_sessions_live_in_the_database_and_end_everywhere(sessions: SessionStore) -> None:
    token, session = await sessions.issue(USER)
    assert len(token) >= 43 and await sessions.read(token) == session  # 256 random bits
    stored = await sessions.sessions.find_one({})
    assert stored is not None and token not in str(stored) and stored["_id"] != token  # only a keyed hash is kept
    assert await sessions.read(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert await sessions.read(None) is None and await sessions.read("x" * 500) is None
    await sessions.revoke(token)
    assert await sessions.read(token) is None
    first, _ = await sessions.issue(USER)
    second, _ = await sessions.issue(USER)
    assert await sessions.revoke_user("alice") == 2
    assert await sessions.read(first) is None and await sessions.read(second) is None


async def test_a_new_password_or_an_expired_session_ends_older_sessions(sessions: SessionStore) -> None:
    token, _ = await sessions.issue(USER)
    sessions.users = {"alice": dataclasses.replace(USER, password_hash=PasswordHasher().hash("new!"))}
    assert await sessions.read(token) is None
    sessions.users = {}
    assert await sessions.read(token) is None  # removed from users.yaml
    sessions.users = {"alice": USER}
    assert await sessions.read(token) is not None
    sessions.lifetime = 0
    short, _ = await sessions.issue(USER)
    assert await sessions.read(short) is None
    indexes = await sessions.sessions.index_information()
    assert any(ix.get("expireAfterSeconds") == 0 for ix in indexes.values())


def test_passwords() -> None:
    assert verify_password(USER, "s3cret!")
    assert not verify_password(USER, "wrong")
    assert not verify_password(None, "s3cret!")
    params = extract_parameters(hash_password("s3cret!"))  # OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane
    assert (params.type, params.memory_cost, params.time_cost, params.parallelism) == (Type.ID, 19_456, 2, 1)


async def test_an_old_hash_is_rehashed_with_todays_parameters_after_a_good_login(sessions: SessionStore) -> None:
    old = USER.password_hash  # argon2-cffi's default parameters (64 MiB, t=3, p=4)
    assert await sessions.check_password("alice", "wrong") is None
    assert await sessions.rehashed.count_documents({}) == 0  # nothing is kept for a failed login
    assert await sessions.check_password("nobody", "s3cret!") is None
    assert await sessions.check_password("alice", "s3cret!") == USER
    copy = await sessions.rehashed.find_one({"_id": "alice"})
    assert copy is not None and copy["hash"] != old and not HASHER.check_needs_rehash(copy["hash"])
    # the next login checks the cheaper copy: a copy of another password proves which one is read
    await sessions.rehashed.update_one({"_id": "alice"}, {"$set": {"hash": hash_password("other")}})
    assert await sessions.check_password("alice", "s3cret!") is None
    assert await sessions.check_password("alice", "other") == USER
    # a new hash in users.yaml wins over the copy of the old one (and is then rehashed in turn)
    changed = dataclasses.replace(USER, password_hash=PasswordHasher().hash("new!"))
    sessions.users = {"alice": changed}
    assert await sessions.check_password("alice", "other") is None
    assert await sessions.check_password("alice", "new!") == changed
    copy = await sessions.rehashed.find_one({"_id": "alice"})
    assert copy is not None and HASHER.verify(copy["hash"], "new!")


async def test_concurrent_guesses_on_two_replicas_are_cut_at_the_limit(mongo_url: str, mongo_db: str) -> None:
    replicas = [SharedCounters(f"async+{mongo_url}", database_name=mongo_db) for _ in range(2)]
    limiters = [LoginLimiter(st, "5/5 minutes", "50/5 minutes") for st in replicas]
    allowed = await asyncio.gather(*[limiters[i % 2].attempt("admin", "10.0.0.9") for i in range(60)])
    assert sum(allowed) == 5
    assert 200 < await limiters[0].retry_after("admin", "10.0.0.9") <= 300
    await limiters[1].succeeded("admin", "10.0.0.9")
    assert await limiters[0].attempt("admin", "10.0.0.9")
    for st in replicas:
        st.storage.close()


async def test_one_users_failures_do_not_lock_out_the_office(storage: SharedCounters) -> None:
    limiter = LoginLimiter(storage, "5/5 minutes", "8/5 minutes")
    office = "203.0.113.7"
    assert [await limiter.attempt("bob", office) for _ in range(6)] == [True] * 5 + [False]
    assert await limiter.attempt("alice", office)  # bob's failures are his alone
    await limiter.succeeded("alice", office)  # a good login gives the address its unit back
    assert [await limiter.attempt(u, office) for u in ("carol", "dan", "erin")] == [True, True, True]
    assert not await limiter.attempt("frank", office)  # 8 failures from one address: its ceiling
    assert await limiter.attempt("frank", "198.51.100.1")  # frank was not charged for the refused try


def test_client_address_believes_only_trusted_proxies() -> None:
    trusted = parse_networks("10.0.0.0/8, 192.168.1.5")

    def address(peer: str, xff: str | None) -> str:
        request = make_mocked_request("POST", "/api/login", headers={"X-Forwarded-For": xff} if xff else {})
        request._transport_peername = (peer, 1234)  # type: ignore[attr-defined]
        return client_address(request.clone(remote=peer), trusted)

    assert address("203.0.113.9", "1.2.3.4") == "203.0.113.9"  # not from a proxy: the header is ignored
    assert address("10.1.2.3", "1.2.3.4") == "1.2.3.4"
    assert address("10.1.2.3", "6.6.6.6, 1.2.3.4, 192.168.1.5") == "1.2.3.4"  # a client's own XFF is not believed
    assert address("10.1.2.3", "junk, 1.2.3.4") == "1.2.3.4"
    assert address("10.1.2.3", None) == "10.1.2.3"
    assert client_address(make_mocked_request("GET", "/").clone(remote="1.1.1.1"), ()) == "1.1.1.1"
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")


def test_limit_and_proxy_settings_are_checked_at_start() -> None:
    ok = InboxSettings(inbox_session_key="k" * 32, inbox_trusted_proxies="10.0.0.0/8, ::1",
                       inbox_login_limit_address="100/10 minutes")
    assert parse_networks(ok.inbox_trusted_proxies)[1] == ipaddress.ip_network("::1/128")
    for bad in ({"inbox_trusted_proxies": "10.0.0.0/33"}, {"inbox_login_limit_account": "five a minute"}):
        with pytest.raises(ValidationError):
            InboxSettings(inbox_session_key="k" * 32, **bad)  # type: ignore[arg-type]
