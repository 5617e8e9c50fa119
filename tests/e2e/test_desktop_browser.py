"""The Vue agent desktop in real headless Chromium: strict CSP, login, both languages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from tests.e2e.hub import PASSWORDS, Hub, new_hub

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
APP = "/app/"


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[Hub]:
    h = new_hub(tmp_path, nats_url, mongo_url)
    try:
        for service in ("router", "inbox"):
            h.start(service)
        yield h
    finally:
        h.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium fonts-noto-cjk)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        await b.close()


async def open_app(browser: Browser, base: str, problems: list[str]) -> Page:
    """A fresh page on the desktop that records console errors (a CSP violation is one)."""
    page = await (await browser.new_context(viewport={"width": 1400, "height": 860}, locale="en-US")).new_page()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))
    await page.goto(base + APP)
    return page


async def test_login_under_a_strict_csp_in_both_languages(hub: Hub, browser: Browser) -> None:
    problems: list[str] = []
    page = await open_app(browser, hub.url("inbox"), problems)
    resp = await page.request.get(hub.url("inbox") + APP)
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp

    await page.get_by_label("Username").fill("alice")
    await page.get_by_label("Password").fill("wrong")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.locator("#login-error")).to_have_text("Wrong username or password")

    await page.locator("#lang").select_option("zh-CN")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await page.get_by_label("用户名").fill("alice")
    await page.get_by_label("密码").fill(PASSWORDS["alice"])
    await page.get_by_role("button", name="登录").click()
    await expect(page.locator("#who")).to_have_text("Alice Chen · 座席")

    await page.reload()  # the session cookie restores the desktop, in the chosen language
    await expect(page.locator("#logout")).to_have_text("退出")
    await page.locator("#logout").click()
    await expect(page.locator("#login-button")).to_be_visible()
    assert [p for p in problems if "401" not in p] == []
