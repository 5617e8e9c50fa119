"""The chat service's retention: old widget uploads go, newer stay; runs are kept in KV and answered over NATS."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from omnihub.chat.retention import UploadRetention
from omnihub.common import privacy
from omnihub.common.bus import Bus
from omnihub.common.retention import DAY


async def test_old_uploads_go_and_runs_are_logged(bus: Bus, tmp_path: Path) -> None:
    now = time.time()
    old, new = tmp_path / "old.png", tmp_path / "new.png"
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    os.utime(old, (now - 40 * DAY, now - 40 * DAY))
    job = UploadRetention(bus, tmp_path, {"attachments": 30}, clock=lambda: now)
    first = await job.run()
    assert first["kinds"]["attachments"]["count"] == 1 and first["kinds"]["attachments"]["before"] == now - 30 * DAY
    assert abs(first["kinds"]["attachments"]["oldest"] - (now - 40 * DAY)) < 1
    assert not old.exists() and new.exists()
    second = await job.run()  # a repeat (a restart the same day) removes nothing more
    assert second["kinds"]["attachments"]["count"] == 0
    assert [r["kinds"]["attachments"]["count"] for r in await job.recent()] == [0, 1]
    async with contextlib.AsyncExitStack() as stack:
        await UploadRetention(bus, tmp_path, {}, clock=lambda: now).start(stack)  # kept: runs with nothing due
        answer = await privacy.ask(bus, privacy.RETENTION, {}, ("chat",), 5.0)
        assert answer["chat"]["ok"] and len(answer["chat"]["runs"]) >= 2
    assert new.exists()
