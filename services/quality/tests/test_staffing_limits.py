"""Staffing questions are bounded: bad parameters get a clear 400 / INVALID_ARGUMENT / exit 2, and slow maths runs
off the event loop under a time limit, so /healthz keeps answering (the finding: one GET hung quality for good)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from aiohttp import web

from omnihub import erlang
from omnihub.api.quality.v1 import quality_pb2, quality_pb2_grpc
from omnihub.common import identity
from omnihub.common.grpcserver import new_server
from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.quality.app import build_app
from omnihub.quality.offload import Offload
from omnihub.quality.queries import KpiQuery
from omnihub.quality.servicer import QualityServicer
from omnihub.testkit.ports import free_port

CREDENTIALS = Credentials.generate()
SAM = Actor("sam", "supervisor")
# 2,083 Erlangs with one-second patience and a one-hour target: Erlang A's search runs for minutes unbounded.
HUGE = {"arrivals": "100000", "interval": "1d", "aht": "1800", "target": "0.99/3600", "patience": "1"}


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = build_app(KpiQuery(None, {}), CREDENTIALS, offload=Offload(seconds=1.5, concurrent=1))  # type: ignore[arg-type]
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def test_the_maths_refuses_unbounded_questions() -> None:
    with pytest.raises(erlang.StaffingError, match=r"\(0, 1\)"):
        erlang.required_agents(100, 1800, 180, 1.5, 20)  # looped forever
    with pytest.raises(erlang.StaffingError, match=r"\(0, 1\)"):
        erlang.required_agents(100, 1800, 180, 1.0, 20)  # SL never reaches 1 either
    for kwargs in ({"arrivals": float("nan")}, {"aht": 0.0}, {"aht": float("inf")}, {"interval": 0.0},
                   {"target": 0.0}, {"threshold": -1.0}, {"shrinkage": 1.0}, {"patience": 0.001},
                   {"agents": 10**9}, {"arrivals": 10**6, "aht": 3600.0}):
        args = {"arrivals": 100.0, "interval": 1800.0, "aht": 180.0, "target": 0.8, "threshold": 20.0} | kwargs
        with pytest.raises(erlang.StaffingError):
            erlang.check_inputs(**args)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(erlang.StaffingError, match="too long"):
        erlang.required_agents(100_000, 86_400, 1800, 0.99, 3600, 1.0, 1.0, deadline=time.monotonic() + 0.5)
    assert time.monotonic() - started < 2.0


async def test_bad_staffing_parameters_get_a_clear_400(base: str) -> None:
    async with aiohttp.ClientSession(headers=CREDENTIALS.headers(QUALITY_AUDIENCE, SAM)) as http:
        for params, words in (({"arrivals": "100", "aht": "180", "target": "1.5/20"}, "(0, 1)"),
                              ({"arrivals": "nan", "aht": "180"}, "arrivals"),
                              ({"arrivals": "100", "aht": "0"}, "aht"),
                              ({"arrivals": "100"}, "aht is required"),
                              ({"arrivals": "100", "aht": "180", "interval": "7m"}, "interval"),
                              ({"arrivals": "100", "aht": "180", "agents": "2.5"}, "agents"),
                              ({"arrivals": "1000000", "aht": "3600"}, "5000 agents")):
            resp = await asyncio.wait_for(http.get(f"{base}/api/staffing", params=params), 10)
            assert resp.status == 400 and words in await resp.text(), (params, await resp.text())
        plan = await http.get(f"{base}/api/staffing/plan", params={"interval": "7m"})
        assert plan.status == 400
        ok = await http.get(f"{base}/api/staffing", params={"arrivals": "100", "aht": "180", "target": "0.8/20"})
        assert ok.status == 200 and (await ok.json())["agents"] == 14


async def test_a_huge_question_never_stalls_health_checks(base: str) -> None:
    async with aiohttp.ClientSession(headers=CREDENTIALS.headers(QUALITY_AUDIENCE, SAM)) as http:
        started = time.monotonic()
        huge = asyncio.create_task(http.get(f"{base}/api/staffing", params=HUGE))
        await asyncio.sleep(0.2)  # the maths is running in its worker now
        second = await http.get(f"{base}/api/staffing", params=HUGE)
        assert second.status == 503 and second.headers["Retry-After"]  # one slot: the next waits its turn
        slowest = 0.0
        while not huge.done():
            t = time.monotonic()
            resp = await http.get(f"{base}/healthz")
            assert resp.status == 200
            slowest = max(slowest, time.monotonic() - t)
            await asyncio.sleep(0.05)
        answer = huge.result()
        assert answer.status == 400 and "too long" in await answer.text()
        assert time.monotonic() - started < 5.0  # the time limit (1.5 s here) ended it
        assert slowest < 0.5, f"/healthz took {slowest:.2f} s while the maths ran"


async def test_grpc_staffing_refuses_what_http_refuses() -> None:
    ident = identity.GrpcIdentity(CREDENTIALS, QUALITY_AUDIENCE)
    server = new_server([ident.interceptor])
    quality_pb2_grpc.add_QualityServicer_to_server(QualityServicer(None, ident, Offload(seconds=1.0)), server)  # type: ignore[arg-type]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with identity.channel(f"127.0.0.1:{port}", CREDENTIALS, QUALITY_AUDIENCE, SAM) as ch:
            stub = quality_pb2_grpc.QualityStub(ch)
            bad = quality_pb2.StaffingRequest(arrivals=100, interval_seconds=1800, aht_seconds=180,
                                              target_fraction=1.5, target_seconds=20)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(stub.ComputeStaffing(bad), 10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "(0, 1)" in (err.value.details() or "")
            good = quality_pb2.StaffingRequest(arrivals=100, interval_seconds=1800, aht_seconds=180,
                                               target_fraction=0.8, target_seconds=20)
            assert (await stub.ComputeStaffing(good)).agents == 14
    finally:
        await server.stop(None)

