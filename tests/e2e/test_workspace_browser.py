"""The supervisor workspace's knowledge base and QA pages in real headless Chromium, on one hub for the module."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from omnihub.testkit.hub import ServiceHub as Hub
from tests.e2e.hub import new_hub
from tests.e2e.test_desktop_browser import CHROMIUM, _axe, _english_leftovers, _visible_ui_text, login, shot

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, nats_session_url: str, mongo_url: str) -> Iterator[Hub]:
    """Router, quality and inbox with the demo knowledge base, shared by this module's tests."""
    h = new_hub(tmp_path_factory.mktemp("workspace"), nats_session_url, mongo_url)
    shutil.copy(ROOT / "config" / "demo" / "kb.yaml", h.config_dir / "kb.yaml")
    try:
        h.start("router", "quality", "inbox")
        yield h
    finally:
        h.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        await b.close()


async def test_knowledge_base_page_for_supervisors_and_agents(hub: Hub, browser: Browser) -> None:
    sup = await login(browser, hub.url("inbox"), "sam")
    await sup.click("#tab-kb")
    entries = sup.locator("#kb-list .kb-entry")
    await expect(entries).to_have_count(12, timeout=10_000)  # the demo's articles and canned responses
    # a Chinese article found by a word in the middle of a sentence, most relevant first
    await sup.fill("#kb-q", "运单号")
    await expect(entries).to_have_count(1)
    await expect(entries.first.locator("h3")).to_have_text("配送时间")
    await sup.fill("#kb-q", "")
    await sup.select_option("#kb-kind", "canned")
    await expect(entries).to_have_count(6)
    # a new canned response; its shortcut must be unused in its language (the server says so)
    await sup.click("#kb-new")
    await sup.select_option("#kb-form-kind", "canned")
    await sup.select_option("#kb-form-language", "zh-CN")
    await sup.fill("#kb-form-category", "物流")
    await sup.fill("#kb-shortcut", "greet")
    await sup.fill("#kb-title", "发货通知")
    await sup.fill("#kb-body", "您的包裹已经发出，运单号会通过短信发送给您。")
    await sup.click("#kb-save")
    await expect(sup.locator(".kb .error")).to_contain_text("/greet")
    await sup.fill("#kb-shortcut", "shipped")
    await sup.click("#kb-save")
    await expect(sup.locator("#toast")).to_have_text("Saved")
    await expect(entries).to_have_count(7)
    await sup.fill("#kb-q", "运单号")
    await expect(entries).to_have_count(1)  # still only canned responses
    await sup.select_option("#kb-kind", "")
    await expect(entries).to_have_count(2)
    # edit, then delete with a confirmation: gone from the search
    item = sup.locator(".kb-entry", has_text="发货通知")
    await item.locator(".kb-edit").click()
    await sup.fill("#kb-title", "发货提醒")
    await sup.click("#kb-save")
    await expect(sup.locator(".kb-entry", has_text="发货提醒")).to_have_count(1)
    await sup.locator(".kb-entry", has_text="发货提醒").locator(".kb-delete").click()
    await sup.locator(".kb-entry", has_text="发货提醒").locator(".kb-confirm").click()
    await expect(sup.locator("#toast")).to_have_text("Deleted")
    await expect(entries).to_have_count(1)
    await shot(sup, "kb-supervisor")

    agent = await login(browser, hub.url("inbox"), "alice")
    await agent.click("#tab-kb")
    await expect(agent.locator("#kb-list .kb-entry")).to_have_count(12)
    assert await agent.locator("#kb-new, .kb-edit, .kb-delete").count() == 0  # agents read
    status = await agent.evaluate("fetch('/api/supervisor/kb/kb_demo_refund_en', {method: 'DELETE'}).then(r => r.status)")
    assert status in (403,)  # refused before the CSRF check matters: /api/supervisor/ is not for agents
    await agent.fill("#kb-q", "refund")
    await expect(agent.locator("#kb-list .kb-entry").first.locator("h3")).to_have_text("Refunds")


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
async def test_knowledge_base_page_is_accessible_and_translated(hub: Hub, browser: Browser, lang: str) -> None:
    sup = await login(browser, hub.url("inbox"), "sam", lang=lang, bypass_csp=True)
    await sup.click("#tab-kb")
    await expect(sup.locator("#kb-list .kb-entry").first).to_be_visible(timeout=10_000)
    await sup.click("#kb-new")
    await sup.select_option("#kb-form-kind", "canned")
    await sup.locator(".kb-delete").first.click()  # the confirmation too
    assert await _axe(sup) == []
    if lang == "zh-CN":
        await sup.select_option("#kb-language", "zh-CN")  # the English demo entries are content, not UI
        await expect(sup.locator("#kb-list .kb-entry")).to_have_count(6)
        assert _english_leftovers(await _visible_ui_text(sup)) == []
        await shot(sup, "kb-zh")
