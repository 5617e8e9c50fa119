"""Liveness, readiness and Prometheus metrics for every service (HTTP and gRPC)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import prometheus_client
from aiohttp import web

Check = Callable[[], bool | Awaitable[bool]]

READY_KEY: web.AppKey[Readiness] = web.AppKey("omnihub_readiness")


class Readiness:
    """Named readiness checks; the service is ready when every check passes.

    Liveness checks are separate: a failing one means the process cannot recover by itself (its NATS
    connection is closed for good, say) and must be restarted, so /healthz answers 503.
    """

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._alive: dict[str, Callable[[], bool]] = {}

    def add(self, name: str, check: Check) -> None:
        """Register or replace a check; sync or async callables returning bool."""
        self._checks[name] = check

    def add_liveness(self, name: str, check: Callable[[], bool]) -> None:
        """Register a cheap, synchronous liveness check (False = restart this process)."""
        self._alive[name] = check

    def dead(self) -> list[str]:
        """Names of liveness checks that fail now."""
        return [name for name, check in self._alive.items() if not check()]

    async def failing(self) -> list[str]:
        """Names of checks that fail now (an exception or a 2 s timeout counts as failing)."""
        failed = []
        for name, check in self._checks.items():
            try:
                result = check()
                if inspect.isawaitable(result):
                    result = await asyncio.wait_for(result, timeout=2.0)
                if not result:
                    failed.append(name)
            except Exception:
                failed.append(name)
        return failed


async def _healthz(request: web.Request) -> web.Response:
    dead = request.app[READY_KEY].dead()
    if dead:
        return web.json_response({"status": "dead", "failing": dead}, status=503)
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    failed = await request.app[READY_KEY].failing()
    if failed:
        return web.json_response({"status": "unavailable", "failing": failed}, status=503)
    return web.json_response({"status": "ready"})


async def _metrics(_: web.Request) -> web.Response:
    body = prometheus_client.generate_latest(prometheus_client.REGISTRY)
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


def install_health(app: web.Application, readiness: Readiness, service: str = "") -> None:
    """Add /healthz, /readyz and /metrics to an aiohttp application."""
    app[READY_KEY] = readiness
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)


def add_grpc_health(server: Any, readiness: Readiness, services: list[str]) -> Any:
    """Register the standard grpc.health.v1 service, SERVING while readiness passes.

    Returns the servicer; a background task keeps its status in step with `readiness`.
    """
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)

    async def sync_status() -> None:
        while True:
            ok = not await readiness.failing()
            status = (
                health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
            )
            for name in ["", *services]:
                await servicer.set(name, status)
            await asyncio.sleep(1.0)

    servicer.omnihub_task = asyncio.get_running_loop().create_task(sync_status())
    return servicer
