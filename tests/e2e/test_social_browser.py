"""WeChat and WhatsApp in the agent desktop (real Chromium): offers accepted in the browser, replies reach the doubles."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Browser, expect

from omnihub.common import subjects
from omnihub.common.bus import Bus, kv_key
from omnihub.testkit.fakes.twilio_api import TEMPLATE_SID
from omnihub.testkit.fakes.wechat_api import message_xml
from omnihub.testkit.waiting import eventually
from tests.e2e.browser import chromium
from tests.e2e.hub import PASSWORDS, Hub
from tests.e2e.test_social_channels import SocialHub, social_hub

pytestmark = [pytest.mark.browser, pytest.mark.slow]
WEB = Path(__file__).resolve().parents[2] / "services" / "inbox" / "web"
EN = json.loads((WEB / "src" / "i18n" / "en.json").read_text())["whatsapp"]
OPENID = "oWx_browser_customer"
WA_CUSTOMER = "whatsapp:+8613900139001"
WA_OURS = "whatsapp:+15550001111"
TEMPLATES = {"templates": [{"sid": TEMPLATE_SID, "name": "case_update", "language": "en",
                            "body": "Hello {{1}}, your case {{2}} has an update.",
                            "variables": ["customer name", "case number"]}]}


def _templates(h: Hub) -> None:
    (h.config_dir / "whatsapp_templates.yaml").write_text(yaml.safe_dump(TEMPLATES))


@pytest.fixture
async def social(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[SocialHub]:
    async with social_hub(tmp_path, nats_url, mongo_url, _templates) as hub:
        yield hub


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_wechat_and_whatsapp_customers_get_the_agents_replies(social: SocialHub, browser: Browser,
                                                                    bus: Bus) -> None:
    h, twilio, wechat = social.hub, social.twilio, social.wechat
    page = await (await browser.new_context(viewport={"width": 1400, "height": 860}, locale="en-US")).new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(h.url("inbox") + "/")
    await page.fill("#username", "alice")
    await page.fill("#password", PASSWORDS["alice"])
    await page.click("#login-button")
    await expect(page.locator("#who")).to_be_visible(timeout=20_000)
    await page.select_option("#state", "AVAILABLE")
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "AVAILABLE", timeout=10_000)

    # WeChat: the follower writes (signed and encrypted, safe mode); alice accepts and replies in the browser.
    status = await wechat.push(h.url("chat") + "/wechat/callback",
                               message_xml("text", OPENID, msg_id=901, Content="你好，我的快递丢了"), safe=True)
    assert status == (200, "success")
    offer = page.locator(".offer").filter(has_text="你好，我的快递丢了")
    await expect(offer).to_have_count(1, timeout=20_000)
    await offer.locator(".accept").click()
    await expect(page.locator(".msg.incoming .body").filter(has_text="你好，我的快递丢了")).to_be_visible(timeout=10_000)
    assert await page.locator(".wa-templates").count() == 0  # templates are WhatsApp's
    await page.fill("#reply", "您好，我们马上为您查询。")
    await page.click("#send")
    await eventually(lambda: wechat.texts_to(OPENID) == ["您好，我们马上为您查询。"], timeout=30,
                     message="the WeChat double received the reply through message/custom/send")

    # WhatsApp: the customer wrote 25 hours ago as far as the window is concerned (the sms service's own
    # record, which the composer reads too): only a template may go out.
    resp = await twilio.post_webhook(h.url("sms") + "/twilio/whatsapp",
                                     twilio.inbound_sms(WA_OURS, WA_CUSTOMER, "Any news on my case?"))
    assert resp.status == 200
    offer = page.locator(".offer").filter(has_text="Any news on my case?")
    await expect(offer).to_have_count(1, timeout=20_000)
    windows = await bus.kv(subjects.KV_WHATSAPP_WINDOWS)
    await windows.put(kv_key(WA_CUSTOMER), str(time.time() - 25 * 3600).encode())
    await offer.locator(".accept").click()
    await expect(page.locator(".msg.incoming .body").filter(has_text="Any news on my case?")).to_be_visible(timeout=10_000)
    await expect(page.locator("#wa-window")).to_have_text(EN["windowClosed"], timeout=10_000)
    await page.fill("#reply", "Free text is not allowed now")
    await expect(page.locator("#send")).to_be_disabled()
    await page.select_option("#wa-template", TEMPLATE_SID)
    await expect(page.locator("#wa-preview")).to_contain_text("your case {{2}} has an update")
    await expect(page.locator("#wa-send")).to_be_disabled()  # every variable is needed
    await page.get_by_label("Variable 1: customer name").fill("Li")
    await page.get_by_label("Variable 2: case number").fill("C-7")
    await page.click("#wa-send")

    def sent() -> list[dict[str, Any]]:
        return [m for m in twilio.messages.values() if m["to"] == WA_CUSTOMER]

    await eventually(lambda: len(sent()) == 1, timeout=30, message="the Twilio double received the template")
    assert sent()[0]["content_sid"] == TEMPLATE_SID
    assert json.loads(sent()[0]["content_variables"]) == {"1": "Li", "2": "C-7"}
    assert not problems, problems
