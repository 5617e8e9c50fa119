"""Property-based API fuzz: schemathesis against the inbox's and quality's OpenAPI documents asserts no 5xx."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Ok

from omnihub.common.identity import QUALITY_AUDIENCE, Actor
from tests.e2e.hub import PASSWORDS, Hub, new_hub

# Per operation and generation mode. Four keep `make test` short (about 300 requests: every operation gets valid and
# invalid bodies, paths and parameters); FUZZ_EXAMPLES=50 makes a deeper run before a release.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
SKIP = {("POST", "/api/logout")}  # would end the fuzzing session; checked once at the end instead


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[Hub]:
    h = new_hub(tmp_path, nats_url, mongo_url)
    try:
        h.start("router", "quality", "inbox")
        yield h
    finally:
        h.stop()


def fuzz(base: str, http: requests.Session, headers: Callable[[], dict[str, str]], tally: dict[str, int]) -> list[str]:
    """Every documented operation, positive and negative cases; the 5xx answers found."""
    doc = http.get(f"{base}/api/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid
        op = result.ok()
        if (op.method.upper(), op.path) in SKIP:
            continue
        cases = st.one_of(op.as_strategy(schemathesis.GenerationMode.POSITIVE),
                          op.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @settings(max_examples=2 * EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def run(case: Any) -> None:
            response = case.call(base_url=base, session=http, headers=headers(), timeout=10)
            tally["requests"] += 1
            tally[f"{case.method.upper()} {case.path}"] = 1
            if response.status_code >= 500:
                tally["5xx"] += 1
                server_errors.append(f"{case.method} {case.formatted_path} {case.body!r:.200} -> "
                                     f"{response.status_code} {response.text[:200]}")

        run()
    return server_errors


def login_inbox(base: str) -> tuple[requests.Session, dict[str, str]]:
    http = requests.Session()
    resp = http.post(f"{base}/api/login", json={"username": "sam", "password": PASSWORDS["sam"]}, timeout=10)
    assert resp.status_code == 200, resp.text
    return http, {"X-CSRF-Token": resp.json()["csrf"]}


@pytest.mark.slow
async def test_no_5xx_from_inbox_or_quality_apis(hub: Hub) -> None:
    tally = {"requests": 0, "5xx": 0}
    start = time.monotonic()
    http, csrf = login_inbox(hub.url("inbox"))
    run: Callable[..., list[str]] = fuzz
    errors = await asyncio.to_thread(run, hub.url("inbox"), http, lambda: csrf, tally)

    def quality_headers() -> dict[str, str]:  # signed per request: an assertion lives 120 s
        return hub.credentials.headers(QUALITY_AUDIENCE, Actor("sam", "supervisor"))

    errors += await asyncio.to_thread(run, hub.url("quality"), requests.Session(), quality_headers, tally)
    assert http.post(f"{hub.url('inbox')}/api/logout", headers=csrf, timeout=10).status_code == 200
    print(f"API fuzz: {tally['requests']} requests, {tally['5xx']} answered 5xx, {time.monotonic() - start:.1f} s")
    reached = len(tally) - 2  # one key per operation that answered at least once, beside the two counters
    assert reached >= 30 and tally["requests"] >= reached * EXAMPLES, tally
    assert errors == [], "\n".join(errors[:20])
