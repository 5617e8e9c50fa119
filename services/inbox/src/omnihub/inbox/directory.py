"""Who the inbox knows: users.yaml, plus agents known by single sign-on with the teams of their last sign-in."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from omnihub.common.logging import get_logger
from omnihub.inbox.config import User

log = get_logger("omnihub.inbox.directory")
REFRESH_SECONDS = 15.0  # how soon a replica sees a sign-in made at another one


class Directory(dict[str, User]):
    """users.yaml's users by id (only they may log in with a password) and, apart, `sso`: agents signed in by single
    sign-on -> their teams from the provider's team claim. Supervisors' team scoping (teams.py) reads both; an SSO
    agent's claim replaces the teams users.yaml gives them."""

    def __init__(self, users: dict[str, User] | None = None) -> None:
        super().__init__(users or {})
        self.sso: dict[str, tuple[str, ...]] = {}

    def teams_of(self, user_id: str) -> tuple[str, ...]:
        """An agent's teams: their last SSO claim, else users.yaml's."""
        if user_id in self.sso:
            return self.sso[user_id]
        user = self.get(user_id)
        return user.teams if user else ()

    def agents(self) -> set[str]:
        """Every agent id: users.yaml's and those who signed in by SSO."""
        return {u.id for u in self.values() if u.role == "agent"} | set(self.sso)

    def knows(self, user_id: str) -> bool:
        """Whether this id is a users.yaml user or an SSO agent."""
        return user_id in self or user_id in self.sso


class SsoMembers:
    """Agents' team claims from their SSO sign-ins, kept in MongoDB (`sso_members`) so they outlive the session and
    every replica sees them; the directory's `sso` is their in-memory copy."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], directory: Directory) -> None:
        self.collection = collection
        self.directory = directory

    async def load(self) -> None:
        """Read every agent's last claim into the directory."""
        self.directory.sso = {str(d["_id"]): tuple(d.get("teams", [])) async for d in
                              self.collection.find({"role": "agent"}, projection={"teams": 1})}

    async def record(self, user: User) -> None:
        """Keep an SSO sign-in's role and teams (an agent appears in their teams at once; another role, nowhere)."""
        await self.collection.update_one({"_id": user.id}, {"$set": {"role": user.role, "teams": list(user.teams),
                                                                    "time": time.time()}}, upsert=True)
        if user.role == "agent":
            self.directory.sso[user.id] = tuple(user.teams)
        else:
            self.directory.sso.pop(user.id, None)

    def follow(self, stack: contextlib.AsyncExitStack, period: float = REFRESH_SECONDS) -> None:
        """Reload every `period` seconds (sign-ins at other replicas)."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(period)
                try:
                    await self.load()
                except Exception as exc:  # MongoDB away for a moment: keep the last copy
                    log.warning("directory.reload_failed", error=repr(exc))

        task = asyncio.get_running_loop().create_task(loop(), name="sso-members")

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        stack.push_async_callback(stop)
