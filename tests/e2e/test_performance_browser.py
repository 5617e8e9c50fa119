"""My performance in real Chromium: "no data yet" before any data, then today/week/month beside the team and targets."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from omnihub.common import identity
from omnihub.common.bus import Bus
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.waiting import eventually
from tests.e2e.browser import chromium, login, perf_afresh, shot
from tests.e2e.hub import new_hub
from tests.kpis.events import event

pytestmark = pytest.mark.browser
KPIS = ("handled", "service_level_b", "aht", "fcr", "csat", "occupancy", "adherence", "conformance")


def far_from_midnight() -> str:
    """UTC or Shanghai, whichever is not within an hour of its midnight now (so "today" holds what just happened)."""
    hour = dt.datetime.now(zoneinfo.ZoneInfo("UTC")).hour
    return "UTC" if 1 <= hour <= 22 else "Asia/Shanghai"


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[Hub]:
    h = new_hub(tmp_path, nats_url, mongo_url)
    h.extra["quality"]["OMNIHUB_CENTER_TIMEZONE"] = far_from_midnight()
    h.extra["inbox"]["OMNIHUB_INBOX_AHT_TARGET_SECONDS"] = "240"
    try:
        h.start("router", "quality", "inbox")
        yield h
    finally:
        h.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


def handled(conv: str, agent: str, at: float, wait: float, talk: float, wrap: float) -> list[dict[str, Any]]:
    return [{"kind": "queued", "conv": conv, "at": at, "queue": "support"},
            {"kind": "assigned", "conv": conv, "at": at + wait, "agent": agent, "wait": wait},
            {"kind": "wrapped_up", "conv": conv, "at": at + wait + talk + wrap, "agent": agent, "talk": talk, "wrap": wrap}]


async def _schedule_the_last_hour(hub: Hub, agent: str) -> None:
    """A schedule of this ISO week (the center's zone) with one shift for `agent` over the two whole half-hours
    before now, through quality's API."""
    tz = zoneinfo.ZoneInfo(hub.extra["quality"]["OMNIHUB_CENTER_TIMEZONE"])
    now = dt.datetime.now(tz)
    year, week, weekday = now.date().isocalendar()
    monday = dt.datetime.combine(now.date() - dt.timedelta(days=weekday - 1), dt.time(), tz)
    slot = int((now - monday).total_seconds() // 1800)
    need = [0] * 336
    need[slot - 2:slot] = [1, 1]
    start = (now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(minutes=30 * (now.minute >= 30)
                                                                             - 60)).strftime("%H:%M")
    body = {"week": f"{year}-W{week:02d}", "requirement": {"support": need}, "seconds": 10, "agents": [{"id": agent}],
            "templates": [{"name": "hour", "starts": [start], "minutes": 60}]}
    headers = hub.credentials.headers(identity.QUALITY_AUDIENCE, identity.Actor("sam", "supervisor"))
    async with aiohttp.ClientSession() as http, http.post(f"{hub.url('quality')}/api/wfm/schedules", json=body,
                                                          headers=headers) as resp:
        assert resp.status == 201, await resp.text()
        assert [s["agent"] for s in (await resp.json())["shifts"]] == [agent]


async def tab(page: Page) -> None:
    """Open My performance afresh (it loads on opening)."""
    await perf_afresh(page)
    await expect(page.locator("#perf-tiles")).to_be_visible(timeout=10_000)


async def test_my_performance_says_no_data_yet_then_shows_the_figures_beside_team_and_target(
        hub: Hub, browser: Browser) -> None:
    page = await login(browser, hub.url("inbox"), "bob")
    await tab(page)
    for kpi in KPIS:  # before any data: never 0% or 100%
        tile = page.locator(f'[data-kpi="{kpi}"]')
        await expect(tile.locator(".value")).to_have_text("no data yet")
        await expect(tile.locator(".mine")).to_have_text(["no data yet"] * 3)
        await expect(tile.locator(".team")).to_have_text(["team no data yet"] * 3)
    await expect(page.locator('[data-kpi="service_level_b"] .target')).to_have_text("Target 80%")  # support's, routing.yaml
    await expect(page.locator('[data-kpi="aht"] .target')).to_have_text("Target 4 min")  # OMNIHUB_INBOX_AHT_TARGET_SECONDS
    await expect(page.locator('[data-kpi="adherence"] .target')).to_have_text("Target 90%")  # INBOX_ADHERENCE_TARGET
    await expect(page.locator('[data-empty="trend"]')).to_be_visible()
    await shot(page, "performance-empty")

    # bob handles one conversation (answered in 5 s, 100 s talk + 20 s wrap), alice three: through the real ingest path
    now = dt.datetime.now(dt.UTC).timestamp()
    specs = handled("p1", "bob", now - 200, 5, 100, 20)
    for i in range(3):
        specs += handled(f"p{i + 2}", "alice", now - 190 + i, 30, 200, 40)
    bus = await Bus.connect(hub.nats_url, name="e2e-performance")
    try:
        for i, spec in enumerate(specs):
            await bus.publish_event(event(spec, i))
    finally:
        await bus.close()
    headers = hub.credentials.headers(identity.QUALITY_AUDIENCE, identity.Actor("sam", "supervisor"))

    async def ingested() -> bool:
        async with aiohttp.ClientSession(headers=headers) as http, http.get(
                f"{hub.url('quality')}/api/kpis", params={"period": "today"}) as resp:
            return bool((await resp.json())["total"]["handled"] == 4)
    await eventually(ingested, timeout=30)

    await tab(page)
    tiles = {kpi: page.locator(f'[data-kpi="{kpi}"]') for kpi in KPIS}
    await expect(tiles["handled"].locator(".value")).to_have_text("1")
    await expect(tiles["handled"].locator(".mine")).to_have_text(["1", "1", "1"])  # today, this week, this month
    await expect(tiles["handled"].locator(".team")).to_have_text(["team 2"] * 3)  # (1 + 3) / 2 agents
    await expect(tiles["aht"].locator(".value")).to_have_text("2 min")
    await expect(tiles["aht"].locator(".team")).to_have_text(["team 3 min 30 sec"] * 3)  # (120 + 3 × 240) / 4
    await expect(tiles["service_level_b"].locator(".value")).to_have_text("100%")  # within support's 20 s
    await expect(tiles["service_level_b"].locator(".team")).to_have_text(["team 25%"] * 3)  # 1 of 4 within 20 s
    await expect(tiles["csat"].locator(".value")).to_have_text("no data yet")  # no survey answered
    await expect(tiles["adherence"].locator(".value")).to_have_text("no data yet")  # handled, but never scheduled
    await expect(page.locator("#perf-trend")).to_be_visible()
    await shot(page, "performance-figures")

    # wfm (#23): bob was scheduled for the hour before now and was not logged on: adherence and conformance 0 %
    await _schedule_the_last_hour(hub, "bob")
    await tab(page)
    for kpi in ("adherence", "conformance"):
        await expect(tiles[kpi].locator(".value")).to_have_text("0%")
        await expect(tiles[kpi].locator(".mine")).to_have_text(["0%"] * 3)
        await expect(tiles[kpi].locator(".team")).to_have_text(["team 0%"] * 3)  # bob is the only one scheduled

    # QA evaluations: the agent acknowledges one (disputes are checked in test_desktop_agent)
    qa = hub.credentials.headers(identity.QUALITY_AUDIENCE, identity.Actor("qa1", "supervisor"))
    async with aiohttp.ClientSession(headers=qa) as http:
        created = await http.post(f"{hub.url('quality')}/api/evaluations", json={
            "conversation_id": "p1", "agent_id": "bob", "comments": "Well done",
            "answers": {"greeting": 5, "tone": 5, "no_rudeness": 1, "correct": 5, "policy": 1, "verified": 5,
                        "recorded": 5, "efficient": 5}})
        assert created.status == 201, await created.text()
    await tab(page)
    await expect(page.locator(".qa-item")).to_have_count(1, timeout=10_000)
    await page.locator(".qa-item .ack").click()
    await expect(page.locator(".qa-item.acknowledged")).to_have_count(1, timeout=10_000)
