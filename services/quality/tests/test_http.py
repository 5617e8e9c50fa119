"""Quality's HTTP bodies parsed into models (400 naming the field, never 500), and its OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from omnihub.common.identity import QUALITY_AUDIENCE, Actor, Credentials
from omnihub.common.openapi import undocumented
from omnihub.quality.app import build_app
from omnihub.quality.models import openapi
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.testkit.ports import free_port

CREDENTIALS = Credentials.generate()


def supervisor() -> dict[str, str]:
    """Signed when used: an assertion signed at import expires (120 s) before a late test runs."""
    return CREDENTIALS.headers(QUALITY_AUDIENCE, Actor("sam", "supervisor"))

NESTED = b'{"answers":' + b"[" * 2000 + b"]" * 2000 + b"}"


@pytest.fixture
async def base(mongo_url: str, mongo_db: str) -> AsyncIterator[str]:
    store = QualityStore(mongo_url, mongo_db)
    await store.setup()
    runner = web.AppRunner(build_app(KpiQuery(store, {}), CREDENTIALS))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()
    await store.close()


async def test_hostile_bodies_and_parameters_get_400(base: str) -> None:
    json_type = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=supervisor()) as http:
        for path in ("/api/evaluations", "/api/evaluations/x/acknowledge", "/api/qa/sample", "/api/qa/calibration"):
            resp = await http.post(base + path, data=NESTED, headers=json_type)
            assert resp.status == 400, path
        lone = await http.post(f"{base}/api/evaluations", headers=json_type, data=(
            b'{"conversation_id":"\\udc00","agent_id":"a","evaluator_id":"e","answers":{}}'))
        assert lone.status == 400 and "surrogate" in await lone.text()
        wrong = await http.post(f"{base}/api/evaluations", json={"conversation_id": "c", "agent_id": "a",
                                                                 "evaluator_id": "e", "answers": {"tone": "loud"}})
        assert wrong.status == 400 and "answers.tone" in await wrong.text()
        ids = await http.post(f"{base}/api/qa/calibration", json={"conversation_ids": "k1"})
        assert ids.status == 400 and "conversation_ids" in await ids.text()
        fraction = await http.post(f"{base}/api/qa/sample", json={"fraction": 7})
        assert fraction.status == 400 and "fraction" in await fraction.text()
        for when in ("nan", "inf", "1e400", "-5"):
            resp = await http.get(f"{base}/api/kpis", params={"from": when})
            assert resp.status == 400, when
        sample = await http.post(f"{base}/api/qa/sample", json={"from": 0, "fraction": 0.5, "seed": 7})
        assert sample.status == 200 and await sample.json() == []


async def test_openapi_is_served_and_covers_every_route(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        doc = await (await http.get(f"{base}/api/openapi.json")).json()
    assert doc == openapi()
    assert doc["paths"]["/api/evaluations"]["post"]["responses"]["201"]
    assert undocumented(build_app(KpiQuery(None, {}), CREDENTIALS), doc) == []  # type: ignore[arg-type]
