"""Fixtures of the chat service tests: a running ChatService on a free port and the Bot API double."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from omnihub.chat.app import ChatService
from omnihub.chat.config import ChatSettings
from omnihub.common.bus import Bus
from omnihub.testkit.fakes.telegram_api import FakeTelegramApi
from omnihub.testkit.ports import free_port

REPO = Path(__file__).resolve().parents[3]
WEBHOOK_SECRET = "test-webhook-secret"


@dataclass
class RunningChat:
    """A chat service serving HTTP on 127.0.0.1:port."""

    service: ChatService
    port: int
    telegram: FakeTelegramApi

    @property
    def base(self) -> str:
        """http://127.0.0.1:port"""
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegramApi]:
    """The Bot API double on a free port."""
    api = await FakeTelegramApi().start()
    yield api
    await api.stop()


@contextlib.asynccontextmanager
async def running_chat(bus: Bus, telegram_api: FakeTelegramApi, tmp_path: Path,
                       **overrides: Any) -> AsyncIterator[RunningChat]:
    """A ChatService wired to the test NATS and the Bot API double, settings overridable."""
    settings = ChatSettings(**{
        "nats_url": "unused",
        "var_dir": tmp_path,
        "widget_signing_key": "test-signing-key",
        "telegram_bot_token": telegram_api.token,
        "telegram_webhook_secret": WEBHOOK_SECRET,
        "telegram_base_url": telegram_api.base_url,
        "telegram_base_file_url": telegram_api.base_file_url,
        "widget_rate_per_minute": 5,
        "widget_max_message_chars": 200,
        **overrides,
    })
    service = ChatService(settings, bus)
    app = await service.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield RunningChat(service, port, telegram_api)
    finally:
        await service.stop()
        await runner.cleanup()


@pytest.fixture
async def chat(bus: Bus, telegram_api: FakeTelegramApi, tmp_path: Path) -> AsyncIterator[RunningChat]:
    """A ChatService wired to the test NATS and the Bot API double."""
    async with running_chat(bus, telegram_api, tmp_path) as running:
        yield running
