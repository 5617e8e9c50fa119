"""What every browser test of the hub shares: Debian's Chromium through Playwright, opening and logging in to the
desktop, the agent's first steps, an inbound SMS, screenshots, axe-core and the zh-CN leftovers check, and the
desktop's JSON API called from a page's own session (cookie and CSRF token)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from tests.e2e.hub import PASSWORDS

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "services" / "inbox" / "web"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
APP = "/"
OUR_NUMBER = "+15550001111"
CUSTOMER = "+8613800138000"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else k
        out |= _flatten(v, key) if isinstance(v, dict) else {key: v}
    return out


# Playwright's expect waits 5 s by default. In CI a hub of three to seven services and Chromium share 2 cores with
# three other test workers, so a fact that takes a few seconds to appear there is no failure; a broken feature still
# fails, 15 s later. (Every worker imports this module when it collects the suite.)
expect.set_options(timeout=15_000)

EN = _flatten(json.loads((WEB / "src" / "i18n" / "en.json").read_text()))
ZH = _flatten(json.loads((WEB / "src" / "i18n" / "zh-CN.json").read_text()))


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's headless Chromium through Playwright, as every browser test of the hub runs it."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (apt-get install chromium fonts-noto-cjk)")
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        await b.close()


async def open_app(browser: Browser, base: str, problems: list[str] | None = None, lang: str = "en-US",
                   bypass_csp: bool = False) -> Page:
    """A fresh page on the desktop; console errors (a CSP violation is one) go to `problems`."""
    context = await browser.new_context(viewport={"width": 1400, "height": 860}, locale=lang, bypass_csp=bypass_csp)
    page = await context.new_page()

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error" and problems is not None:
            problems.append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(str(exc)) if problems is not None else None)
    page.on("dialog", lambda d: pytest.fail(f"a dialog opened: {d.message}"))  # any XSS would open one
    await page.goto(base + APP)
    return page


async def login_as(browser: Browser, base: str, user: str, password: str, **kwargs: Any) -> Page:
    """A page logged in through the form with this password."""
    problems: list[str] = kwargs.pop("problems", None) or []
    page = await open_app(browser, base, problems, **kwargs)
    await page.fill("#username", user)
    await page.fill("#password", password)
    for attempt in (1, 2):
        # A CI run once ended with the form filled, its button enabled and no error shown: the click had sent
        # nothing. A click that sends no login within 5 s is tried once more; a login that fails still fails.
        try:
            async with page.expect_request(lambda r: r.url.endswith("/api/login") and r.method == "POST",
                                           timeout=5_000):
                await page.click("#login-button")
            break
        except PlaywrightTimeout as exc:
            if not await page.locator("#login-button:enabled").count():
                break  # it did send, later than 5 s: the form is busy or gone
            if attempt == 2:
                raise AssertionError(f"two clicks on the login button sent no login; page problems: {problems}") from exc
    try:
        await expect(page.locator("#who")).to_be_visible(timeout=20_000)  # argon2 and a session write, on a busy CI box
    except AssertionError as exc:
        raise AssertionError(f"{exc}\npage problems: {problems}") from exc
    return page


async def login(browser: Browser, base: str, user: str, **kwargs: Any) -> Page:
    """A page logged in as one of the test hub's users (tests/e2e/hub.py)."""
    return await login_as(browser, base, user, PASSWORDS[user], **kwargs)


async def go_available(page: Page) -> None:
    await page.select_option("#state", "AVAILABLE")
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "AVAILABLE", timeout=10_000)


async def step_away(page: Page) -> None:
    """Away, once the router has it: on a shared hub the next test's offer must not reach this agent."""
    async with page.expect_response(lambda r: r.url.endswith("/api/state") and r.request.method == "POST") as info:
        await page.select_option("#state", "AWAY")
    assert (await info.value).ok


async def perf_afresh(page: Page) -> None:
    """Open My performance again and wait for the answer of that very visit: a visit's load supersedes the one
    before it, so clicking again before a slow answer (0.4-0.8 s under load) would keep any from showing."""
    async with page.expect_request(lambda r: r.url.endswith("/api/kpis/me")) as asked:
        await page.click("#tab-inbox")
        await page.click("#tab-perf")
    await (await asked.value).response()


async def sms_in(hub: Hub, fake: FakeTwilio, body: str, sender: str = CUSTOMER) -> None:
    """A customer's SMS as Twilio posts it: a signed webhook to the hub's sms service."""
    resp = await fake.post_webhook(f"{hub.url('sms')}/twilio/sms", fake.inbound_sms(OUR_NUMBER, sender, body))
    assert resp.status == 200


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def visible_ui_text(page: Page) -> str:
    """The page's text as a person meets it: the body, the title and every label, tooltip and placeholder."""
    return str(await page.evaluate("""() => {
        const parts = [document.body.innerText, document.title];
        for (const el of document.querySelectorAll('[aria-label],[title],[placeholder]'))
            parts.push(el.getAttribute('aria-label') || '', el.getAttribute('title') || '', el.getAttribute('placeholder') || '');
        return parts.join('\\n');
    }"""))


def english_leftovers(text: str) -> list[str]:
    """en catalogue strings (without placeholders, not the same in zh-CN) or raw keys found in the page."""
    found = [key for key in EN if re.search(rf"\b{re.escape(key)}\b", text)]
    for key, en in EN.items():
        if "{" in en or en == ZH[key] or not re.search(r"[A-Za-z]{2,}", en):
            continue
        if re.search(rf"(?<![A-Za-z]){re.escape(en)}(?![A-Za-z])", text):
            found.append(f"{key}: {en}")
    return found


async def axe(page: Page) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now (its context must bypass the CSP)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(content=AXE.read_text())
    result = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def base_of(page: Page) -> str:
    return "/".join(page.url.split("/", 3)[:3])


async def api_get(page: Page, path: str) -> Any:
    """GET on the desktop's API with the page's session; asserts a 2xx."""
    resp = await page.request.get(base_of(page) + path)
    assert resp.ok, await resp.text()
    return await resp.json()


async def api_send(page: Page, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST or PUT on the desktop's API with the page's session and CSRF token: (status, JSON or text)."""
    csrf = (await api_get(page, "/api/me"))["csrf"]
    resp = await page.request.fetch(base_of(page) + path, method=method, data=body, headers={"X-CSRF-Token": csrf})
    return resp.status, await resp.json() if resp.ok else await resp.text()
