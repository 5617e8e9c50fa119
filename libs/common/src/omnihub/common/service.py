"""The service skeleton: logging, signal handling, an AsyncExitStack, NATS and HTTP helpers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from omnihub.common import heap, retention, subjects
from omnihub.common.backpressure import backpressure
from omnihub.common.bus import Bus
from omnihub.common.config import ServiceSettings
from omnihub.common.health import Readiness
from omnihub.common.logging import configure_logging, get_logger

SHUTDOWN_GRACE_SECONDS = 4.0
CONTENT_KINDS = ("messages", "attachments", "events")  # the kinds of data that travel through the streams



def stream_specs(settings: ServiceSettings) -> tuple[subjects.StreamSpec, ...]:
    """omnihub's streams, CONTACTS_IN with the configured limits (past them the edges answer 503), each stream's
    age bounded by the shortest retention of customer content: every one of them carries identities and texts."""
    bound = stream_age_bound(settings)
    out = []
    for spec in subjects.STREAMS:
        if spec.name == subjects.STREAM_CONTACTS_IN:
            spec = dataclasses.replace(spec, max_msgs=settings.stream_inbound_max_msgs,
                                       max_bytes=settings.stream_inbound_max_bytes)
        if bound is not None and spec.max_age_seconds > bound:
            spec = dataclasses.replace(spec, max_age_seconds=bound)
        out.append(spec)
    return tuple(out)


def stream_age_bound(settings: ServiceSettings) -> float | None:
    """Seconds: the shortest configured retention of messages, attachments and events (None: none configured)."""
    days = [n for kind, n in retention.policy(settings).items() if kind in CONTENT_KINDS]
    return min(days) * retention.DAY if days else None

class ServiceContext:
    """What a running service holds: its stack, readiness checks and the quit event."""

    def __init__(self, name: str, settings: ServiceSettings, stack: contextlib.AsyncExitStack) -> None:
        self.name = name
        self.settings = settings
        self.stack = stack
        self.readiness = Readiness()
        self.quit = asyncio.Event()
        self.exit_code = 0
        self.log = get_logger(f"omnihub.{name}")

    async def connect_bus(self, *, ensure_streams: bool = True) -> Bus:
        """Connect to NATS, ensure the streams, add the "nats" readiness and liveness checks, drain on exit.

        A connection closed for good fails liveness (/healthz 503) and stops the service with status 1,
        so that Kubernetes or the local process manager starts it again.
        """
        bus = await Bus.connect(
            self.settings.nats_url, name=self.name, replicas=self.settings.stream_replicas,
            on_lost=self.lost,
        )
        self.stack.push_async_callback(bus.close)
        if ensure_streams:
            await bus.ensure_streams(stream_specs(self.settings))
        self.readiness.add("nats", lambda: bus.connected)
        self.readiness.add_liveness("nats", lambda: not bus.lost)
        return bus

    def lost(self) -> None:
        """A dependency is gone for good: stop with a failure status so the process is restarted."""
        self.exit_code = 1
        self.quit.set()

    async def start_http(self, app: web.Application, host: str, port: int) -> web.AppRunner:
        """Serve an aiohttp application until the service stops; a publish the stream refused answers 503."""
        app.middlewares.insert(0, backpressure)  # outermost: a refused publish anywhere is a 503
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self.stack.push_async_callback(runner.cleanup)
        self.log.info("http.listening", host=host, port=port)
        return runner

    async def wait(self) -> None:
        """Block until SIGINT or SIGTERM, keeping long-lived objects out of the garbage collector's
        full collections meanwhile (`omnihub.common.heap`)."""
        heap.freeze_startup()
        freezer = asyncio.get_running_loop().create_task(heap.freeze_long_lived())
        try:
            await self.quit.wait()
        finally:
            freezer.cancel()


@contextlib.asynccontextmanager
async def service_context(name: str, settings: ServiceSettings) -> AsyncIterator[ServiceContext]:
    """Configure logging and signals; close everything registered on the stack on the way out."""
    configure_logging(name, settings.log_level, settings.log_format)
    async with contextlib.AsyncExitStack() as stack:
        ctx = ServiceContext(name, settings, stack)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, ctx.quit.set)
        ctx.log.info("service.starting")
        try:
            yield ctx
        finally:
            ctx.log.info("service.stopping")
            # If a dependency is already gone (NATS or MongoDB stopped first), closing it can
            # block; never let that hold the process past the orchestrator's grace period.
            watchdog = threading.Timer(SHUTDOWN_GRACE_SECONDS, os._exit, args=(ctx.exit_code,))
            watchdog.daemon = True
            watchdog.start()
    if ctx.exit_code:
        raise SystemExit(ctx.exit_code)


def run(main: Any) -> None:
    """Run an async main function; exit quietly on Ctrl-C."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
