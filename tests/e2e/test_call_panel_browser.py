"""The call panel in real headless Chromium: a voice offer accepted in the desktop shows the panel, and Hold reaches
the Twilio double's conference as Hold=true."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.hub import twilio_env
from omnihub.testkit.waiting import eventually
from tests.e2e.browser import axe, chromium, english_leftovers, go_available, open_app, visible_ui_text
from tests.e2e.hub import PASSWORDS, new_hub

pytestmark = pytest.mark.browser
CALL = "CA" + "8" * 32


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    fake = FakeTwilio()
    await fake.start()
    h = new_hub(tmp_path, nats_url, mongo_url, fake)
    h.extra["voice"] = twilio_env(fake)
    # the softphone is configured: the desktop loads the Twilio Voice SDK, which cannot reach Twilio from here
    h.extra["inbox"] = h.extra.get("inbox", {}) | {
        "OMNIHUB_TWILIO_ACCOUNT_SID": fake.account_sid, "OMNIHUB_TWILIO_API_KEY": "SK" + "1" * 32,
        "OMNIHUB_TWILIO_API_SECRET": "s" * 32, "OMNIHUB_TWILIO_TWIML_APP_SID": "AP" + "2" * 32}
    try:
        h.start("router", "voice", "inbox")
        yield h, fake
    finally:
        h.stop()
        await fake.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_a_voice_offer_opens_the_call_panel_and_hold_reaches_twilio(hub: tuple[Hub, FakeTwilio],
                                                                          browser: Browser) -> None:
    h, fake = hub
    problems: list[str] = []
    page = await open_app(browser, h.url("inbox"), problems=problems, bypass_csp=True)  # bypass: axe is injected
    fetched: list[str] = []
    sockets: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    csp = (await page.request.get(h.url("inbox") + "/")).headers["content-security-policy"]
    assert "connect-src 'self' wss://*.twilio.com https://eventgw.twilio.com https://sdk.twilio.com;" in csp
    assert "unsafe-eval" not in csp and "unsafe-inline" not in csp
    await page.fill("#username", "alice")
    await page.fill("#password", PASSWORDS["alice"])
    await page.click("#login-button")
    await go_available(page)
    for path, extra in (("", {}), ("/gather", {"Digits": "2"})):
        resp = await fake.post_webhook(f"{h.url('voice')}/twilio/voice{path}",
                                       {"CallSid": CALL, "From": "+8613800138999", "To": "+15550001111", **extra})
        assert resp.status == 200
    await expect(page.locator(".offer")).to_have_count(1, timeout=15_000)
    assert not [u for u in fetched if "/assets/softphone-" in u]  # the SDK chunk loads only for a call
    await page.locator(".offer .accept").click()

    panel = page.locator("#call-panel")
    await expect(panel).to_be_visible(timeout=10_000)
    assert await page.locator("#reply").count() == 0  # the panel replaces the reply box
    await expect(page.locator("#call-state")).to_have_attribute("data-state", "connected", timeout=15_000)
    await expect(page.locator("#call-timer")).to_have_text(re.compile(r"^\d+:\d\d$"))
    # a token was issued, the bundled SDK chunk loaded and its Device tried Twilio's signalling socket; it cannot
    # register here, so the panel says calls ring the agent's phone (and the controls below still work)
    await expect(page.locator("#softphone-note")).to_be_visible(timeout=30_000)
    assert [u for u in fetched if "/assets/softphone-" in u] and "/api/voice/token" in " ".join(fetched)
    assert [u for u in sockets if re.match(r"wss://voice-js\.[a-z0-9-]+\.twilio\.com/", u)], sockets
    assert await axe(page) == []

    await page.locator("#call-hold").focus()
    await page.keyboard.press("Enter")  # keyboard reachable
    await expect(page.locator("#call-state")).to_have_attribute("data-state", "on_hold", timeout=10_000)
    held = await eventually(lambda: [f for _, p, f in fake.requests if p.endswith(f"/Participants/{CALL}.json")],
                            timeout=10)
    assert held[-1]["Hold"] == "true"
    await page.locator("#call-resume").click()
    await expect(page.locator("#call-state")).to_have_attribute("data-state", "connected", timeout=10_000)
    await page.locator("#dtmf-keypad [data-digit='5']").click()
    await expect(page.locator("#dtmf-sent")).to_contain_text("5")
    # each control is a line of the transcript (stored: a reload shows them); DTMF digits are never written there
    lines = page.locator(".msg.activity .call-activity")
    await expect(lines).to_have_text(["alice put the customer on hold", "alice took the customer off hold"],
                                     timeout=10_000)
    await page.reload()
    await page.locator("#conv-list button.conv").first.click()
    await expect(lines).to_have_text(["alice put the customer on hold", "alice took the customer off hold"],
                                     timeout=10_000)
    assert await page.locator('.call-activity[data-action="dtmf"]').count() == 0
    assert not [p for p in problems if "Content Security Policy" in p]
    # the same panel in zh-CN: no serious axe violation, no catalogue key and no en string left
    await page.select_option("#lang", "zh-CN")
    await expect(lines.first).to_have_text("alice 将客户置于保持")
    assert await axe(page) == []
    assert english_leftovers(await visible_ui_text(page)) == []
