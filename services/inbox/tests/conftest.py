"""Shared by the inbox's HTTP tests: users with known passwords, an inbox served on a free port, and a login."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import grpc
from aiohttp import web
from argon2 import PasswordHasher

from omnihub.api.routing.v1 import routing_pb2_grpc
from omnihub.common.bus import Bus
from omnihub.common.identity import Credentials
from omnihub.inbox.api import Inbox
from omnihub.inbox.app import build_app
from omnihub.inbox.auth import LoginLimiter, SessionStore, SharedCounters
from omnihub.inbox.config import User
from omnihub.inbox.store import InboxStore
from omnihub.testkit.ports import free_port

_hash = PasswordHasher().hash


def users(*people: tuple[str, str]) -> dict[str, User]:
    """(id, role) pairs as users whose password is "<id>-pw" and whose name is the id capitalised."""
    return {uid: User(uid, uid.capitalize(), role, _hash(f"{uid}-pw")) for uid, role in people}


@dataclass
class RunningInbox:
    """An inbox served on a free port: its address, the Inbox and its store."""

    base: str
    inbox: Inbox
    store: InboxStore


@asynccontextmanager
async def running_inbox(mongo_url: str, mongo_db: str, people: dict[str, User], bus: Bus | None = None, *,
                        quality_url: str = "http://127.0.0.1:1", credentials: Credentials | None = None,
                        prepare: Callable[[Inbox], Awaitable[None]] | None = None) -> AsyncIterator[RunningInbox]:
    """An inbox on a free port over SecantusDB; its router address answers nothing (calls to it get 503).
    `prepare` sets the inbox up before it serves (webhooks, audit, recordings, ...)."""
    store = InboxStore(mongo_url, mongo_db)
    await store.setup()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    sessions = SessionStore(store.db["sessions"], b"k" * 32, people)
    await sessions.setup()
    counters = SharedCounters(f"async+{mongo_url}", database_name=mongo_db)
    inbox = Inbox(people, sessions, store, bus, routing_pb2_grpc.RouterStub(channel),  # type: ignore[arg-type]
                  quality_url, limiter=LoginLimiter(counters), credentials=credentials)
    runner = web.AppRunner(build_app(inbox))
    try:
        if prepare is not None:
            await prepare(inbox)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield RunningInbox(f"http://127.0.0.1:{port}", inbox, store)
    finally:
        if inbox.http is not None:
            await inbox.http.close()
        await runner.cleanup()
        await channel.close(None)
        counters.storage.close()
        await store.close()


async def login(http: aiohttp.ClientSession, base: str, user: str, password: str = "") -> dict[str, str]:
    """Log in (password "<user>-pw" unless given); the CSRF header for the session's writes."""
    resp = await http.post(f"{base}/api/login", json={"username": user, "password": password or f"{user}-pw"})
    assert resp.status == 200, await resp.text()
    return {"X-CSRF-Token": (await resp.json())["csrf"]}
