"""The historical reports page in real Chromium: a Shanghai center's vectors, local "today", "—", CSV/XLSX = page, zh-CN, axe."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openpyxl
import pytest
import yaml
from playwright.async_api import Browser, Page, expect

from omnihub.common import identity
from omnihub.common.bus import Bus
from omnihub.quality.export import COLUMNS
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.waiting import eventually
from tests.e2e.browser import axe, chromium, english_leftovers, login, shot, visible_ui_text
from tests.e2e.hub import new_hub
from tests.kpis.events import event, when

pytestmark = pytest.mark.browser
ZONE = "Asia/Shanghai"
VECTOR = yaml.safe_load((Path(__file__).resolve().parents[1] / "kpis" / "service_level.yaml").read_text())
# the page's columns that the export also holds (the export has more)
SHOWN = ("offered", "answered", "abandoned", "service_level_a", "service_level_b", "asa", "aht", "abandonment_rate",
         "occupancy", "csat", "nps", "fcr")


def around_midnight(now: float) -> list[dict[str, Any]]:
    """One support conversation 2 minutes before this Shanghai midnight (yesterday) and two after it (today)."""
    midnight = dt.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    m = midnight.timestamp()
    specs: list[dict[str, Any]] = []
    for conv, start, wait in (("y1", m - 120, 10), ("t1", m + 1, 5), ("t2", m + 2, 40)):
        specs += [{"kind": "queued", "conv": conv, "at": start, "queue": "support"},
                  {"kind": "assigned", "conv": conv, "at": start + wait, "agent": "alice", "wait": wait},
                  {"kind": "wrapped_up", "conv": conv, "at": start + wait + 60, "agent": "alice", "talk": 50, "wrap": 10}]
    return specs


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[Hub]:
    h = new_hub(tmp_path, nats_url, mongo_url)
    h.extra["quality"]["OMNIHUB_CENTER_TIMEZONE"] = ZONE
    try:
        h.start("router", "quality", "inbox")
        yield h
    finally:
        h.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def ingest(hub: Hub, specs: list[dict[str, Any]]) -> None:
    """Publish the events on the bus (the real ingest path) and wait until quality counts every contact."""
    bus = await Bus.connect(hub.nats_url, name="e2e-reports")
    try:
        for i, spec in enumerate(specs):
            await bus.publish_event(event(spec, i))
    finally:
        await bus.close()
    contacts = {s["conv"] for s in specs if s["kind"] == "queued"}
    headers = hub.credentials.headers(identity.QUALITY_AUDIENCE, identity.Actor("sam", "supervisor"))

    times = [when(s["at"]) for s in specs]
    windows = [(t - 3600, t + 3600) for t in (min(times), max(times))]  # the vector's day and this midnight

    async def counted() -> bool:
        seen = 0
        async with aiohttp.ClientSession(headers=headers) as http:
            for start, end in windows:
                async with http.get(f"{hub.url('quality')}/api/kpis", params={"from": start, "to": end}) as r:
                    total = (await r.json())["total"]
                    seen += total["offered"] + total["short_abandoned"]
        return seen >= len(contacts)
    await eventually(counted, timeout=30)


async def page_table(page: Page) -> dict[str, dict[str, str]]:
    """The report table as {row key: {column: raw figure behind the cell ("" for "—")}}."""
    rows: dict[str, dict[str, str]] = await page.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('#report-table tr[data-key]')].map(tr => [tr.dataset.key,
            Object.fromEntries([...tr.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.dataset.value]))]))""")
    return rows


def export_rows(lines: list[list[Any]]) -> dict[str, dict[str, str]]:
    """An export's table in the page's shape (its last line is the total)."""
    out: dict[str, dict[str, str]] = {}
    for n, line in enumerate(lines[1:], start=1):
        named = dict(zip(COLUMNS, line, strict=False))
        key = "total" if n == len(lines) - 1 else str(named["key"])
        out[key] = {c: "" if named[c] in (None, "") else _number(named[c]) for c in SHOWN}
    return out


def _number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def same(page: dict[str, dict[str, str]], export: dict[str, dict[str, str]]) -> None:
    """Every figure on the page equals the export's (as numbers; "—" is an empty cell)."""
    assert set(page) == set(export)
    for key, cells in page.items():
        for col in SHOWN:
            got, want = cells[col], export[key][col]
            assert (got == want == "") or (got != "" and want != "" and float(got) == float(want)), (key, col, got, want)


async def download(page: Page, button: str) -> Path:
    async with page.expect_download() as info:
        await page.click(button)
    d = await info.value
    assert d.suggested_filename.startswith("kpis_")
    return Path(await d.path())


async def test_reports_page_shows_the_vectors_in_shanghai_time_and_exports_the_same_figures(
        hub: Hub, browser: Browser) -> None:
    await ingest(hub, VECTOR["events"] + around_midnight(dt.datetime.now(dt.UTC).timestamp()))
    problems: list[str] = []
    page = await login(browser, hub.url("inbox"), "sam", problems=problems)
    await page.click("#tab-reports")

    # "today" is the Shanghai day: the two contacts after local midnight, not the one two minutes before it
    today = dt.datetime.now(zoneinfo.ZoneInfo(ZONE)).date()
    table = page.locator("#report-table")
    await expect(table.locator('tr[data-key="support"] td[data-col="offered"]')).to_have_text("2", timeout=20_000)
    window = page.locator("#report-window")
    await expect(window).to_contain_text(f"{today:%b} {today.day}, {today.year} · time zone {ZONE}")
    await expect(table.locator('tr[data-key="support"] td[data-col="asa"]')).to_have_text("23 sec")  # (5 + 40) / 2
    await expect(table.locator('tr[data-key="support"] td[data-col="service_level_a"]')).to_have_text("50%")
    await page.select_option("#report-preset", "yesterday")
    await expect(table.locator('tr[data-key="support"] td[data-col="offered"]')).to_have_text("1")

    # the vector's day, as custom days: one day (no extra day in the window), its figures, "—" where nothing was answered
    await page.select_option("#report-preset", "custom")
    await page.fill("#report-first", "2026-03-02")
    await page.fill("#report-last", "2026-03-02")
    await page.click("#report-apply")
    await expect(window).to_have_text(f"Mar 2, 2026 · time zone {ZONE}")
    support, sales = table.locator('tr[data-key="support"]'), table.locator('tr[data-key="sales"]')
    await expect(support.locator('td[data-col="offered"]')).to_have_text("4")
    spec = VECTOR["queries"][0]["rows"]
    figures = await page_table(page)
    for queue in ("support", "sales"):
        for name, value in spec[queue].items():
            if name in SHOWN:
                got = figures[queue][name]
                assert (got == "" if value is None else float(got) == pytest.approx(value, abs=1e-4)), (queue, name, got)
    await expect(support.locator('td[data-col="service_level_a"]')).to_have_text("33.3%")
    await expect(support.locator('td[data-col="aht"]')).to_have_text("3 min")
    for col in ("service_level_a", "service_level_b", "asa", "aht"):
        await expect(sales.locator(f'td[data-col="{col}"]')).to_have_text("—")
    await expect(sales.locator('td[data-col="abandonment_rate"]')).to_have_text("100%")
    await expect(page.locator("#report-chart")).to_be_visible()
    await shot(page, "reports-queue")

    # the downloads hold the figures of the page's table, row by row
    csv_lines = list(csv.reader(io.StringIO((await download(page, "#export-csv")).read_text(encoding="utf-8"))))
    same(figures, export_rows(csv_lines))
    book = openpyxl.load_workbook(io.BytesIO((await download(page, "#export-xlsx")).read_bytes()), read_only=True)
    sheet = book["KPIs"]
    same(figures, export_rows([list(r) for r in sheet.iter_rows(values_only=True)]))

    # zh-CN: no English UI string; the export's titles follow the language
    await page.select_option("#lang", "zh-CN")
    await expect(page.locator("#reports-title")).to_have_text("历史报表")
    await expect(window).to_contain_text("时区")
    assert english_leftovers(await visible_ui_text(page)) == []
    zh_csv = (await download(page, "#export-csv")).read_text(encoding="utf-8")
    assert zh_csv.startswith("分组,呼入量")
    await shot(page, "reports-queue-zh")
    assert [p for p in problems if "401" not in p] == []  # the page asks who is logged in before the login

    # axe (injected, so in a context that bypasses the CSP) in both languages, grouped by 15-minute interval
    checked = await login(browser, hub.url("inbox"), "sam", bypass_csp=True)
    await checked.click("#tab-reports")
    await expect(checked.locator("#report-table")).to_be_visible(timeout=20_000)
    await checked.select_option("#report-group", "interval")
    await expect(checked.locator("#report-table tbody tr").first).to_be_visible()
    assert await axe(checked) == []
    await checked.select_option("#lang", "zh-CN")
    await expect(checked.locator("#reports-title")).to_have_text("历史报表")
    assert await axe(checked) == []

    # bad input is a clear 400 (never a 500), an agent is refused and has no reports tab
    base = hub.url("inbox") + "/api/supervisor/reports"
    for query in ("group_by=bogus", "from=yesterday%3Cscript%3E", "format=pdf", "from=2020-01-01&to=2026-01-01",
                  "period=today&extra=1"):
        path = base + ("/export?" if "format" in query else "?") + query
        resp = await checked.request.get(path)
        assert resp.status == 400, (query, resp.status, await resp.text())
    agent = await login(browser, hub.url("inbox"), "alice")
    assert await agent.locator("#tab-reports").count() == 0
    for path in ("", "/export?format=csv"):
        assert (await agent.request.get(base + path)).status == 403
