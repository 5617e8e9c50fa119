"""A service whose NATS connection is closed for good fails /healthz and stops with status 1 (never half-alive)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import web

from omnihub.common.config import ServiceSettings
from omnihub.common.health import install_health
from omnihub.common.service import ServiceContext
from omnihub.testkit.ports import free_port


async def health(session: aiohttp.ClientSession, url: str) -> tuple[int, int]:
    async with session.get(f"{url}/healthz") as live, session.get(f"{url}/readyz") as ready:
        return live.status, ready.status


async def test_a_connection_closed_by_a_protocol_error_fails_liveness_and_stops_the_service(nats_url: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, log_format="console")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # ServiceContext without service_context(): that one arms a process-exit watchdog on the way out.
    async with contextlib.AsyncExitStack() as stack:
        svc = ServiceContext("livetest", settings, stack)
        bus = await svc.connect_bus(ensure_streams=False)
        app = web.Application()
        install_health(app, svc.readiness, "livetest")
        await svc.start_http(app, "127.0.0.1", port)
        async with aiohttp.ClientSession() as session:
            assert await health(session, url) == (200, 200)
            # What a 5,000-character provider field did as a KV key: a control line over nats-server's
            # 4 KB limit. The server answers -ERR 'maximum control line exceeded' and closes; nats-py
            # treats that as final and never reconnects.
            await bus.nc.publish("x." + "a" * 5_000, b"")
            await asyncio.wait_for(svc.quit.wait(), timeout=10)
            assert bus.lost
            assert await health(session, url) == (503, 503)
        assert svc.exit_code == 1  # service_context() turns it into the process's exit status


async def test_a_clean_stop_is_not_a_lost_connection(nats_url: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, log_format="console")
    async with contextlib.AsyncExitStack() as stack:
        svc = ServiceContext("livetest", settings, stack)
        bus = await svc.connect_bus(ensure_streams=False)
        assert not svc.readiness.dead()
        svc.quit.set()
    assert bus.nc.is_closed and not bus.lost and svc.exit_code == 0
