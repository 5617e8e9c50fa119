"""The chat service's retention: widget uploads older than the attachments' limit, swept daily, runs kept in KV."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import nats.js.errors
from nats.js.kv import KeyValue

from omnihub.common import privacy, subjects
from omnihub.common.bus import Bus
from omnihub.common.logging import get_logger
from omnihub.common.retention import DAY, Clock, Removed, cutoffs

log = get_logger("omnihub.chat.retention")
KEEP_RUNS = 30
RUNS_KEY = "runs"


def sweep(upload_dir: Path, days: dict[str, int], now: float) -> dict[str, Removed]:
    """Delete widget uploads written before the attachments' cutoff (deleting is idempotent: a run repeated after
    a restart removes nothing more)."""
    before = cutoffs(days, now).get("attachments")
    if before is None:
        return {}
    found = Removed(0, before)
    for path in upload_dir.iterdir() if upload_dir.is_dir() else ():
        with contextlib.suppress(FileNotFoundError):
            mtime = path.stat().st_mtime
            if path.is_file() and mtime < before:
                path.unlink()
                found += Removed(1, before, mtime, mtime)
    return {"attachments": found}


class UploadRetention:
    """Runs `sweep` now and every day after, and keeps the last runs in the KV bucket `chat_retention`: the chat
    service keeps no database, and its sweep may run twice harmlessly."""

    def __init__(self, bus: Bus, upload_dir: Path, days: dict[str, int], clock: Clock = time.time) -> None:
        self.bus, self.upload_dir, self.days, self.clock = bus, upload_dir, days, clock
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.bus.kv(subjects.KV_CHAT_RETENTION)
        return self._kv

    async def run(self) -> dict[str, Any]:
        """One sweep, logged; the log entry."""
        now = self.clock()
        removed = await asyncio.to_thread(sweep, self.upload_dir, self.days, now)
        entry = {"service": "chat", "time": now, "kinds": {k: asdict(r) for k, r in removed.items()}}
        kv = await self.kv()
        await kv.put(RUNS_KEY, json.dumps([entry, *await self.recent()][:KEEP_RUNS]).encode())
        log.info("retention.run", service="chat", removed={k: r.count for k, r in removed.items()})
        return entry

    async def recent(self) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        try:
            entry = await (await self.kv()).get(RUNS_KEY)
        except nats.js.errors.KeyNotFoundError:
            return []
        return list(json.loads(entry.value or b"[]"))

    async def loop(self, stop: asyncio.Event) -> None:
        """Sweep now and then once a day until `stop`."""
        while not stop.is_set():
            try:
                await self.run()
            except Exception as exc:  # NATS away: try again in a minute, never stop the service
                log.warning("retention.failed", service="chat", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 60.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), DAY)

    async def start(self, stack: contextlib.AsyncExitStack) -> None:
        """Run the loop until the stack closes, and answer the inbox's retention-log requests."""
        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self.loop(stop))

        async def halt() -> None:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 5.0)

        stack.push_async_callback(halt)

        async def runs(_body: dict[str, Any]) -> dict[str, Any]:
            return {"runs": await self.recent()}

        await privacy.serve(self.bus, "chat", {privacy.RETENTION: runs}, stack)
