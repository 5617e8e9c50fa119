"""Search through the real hub: SMS -> sms service -> router -> the inbox's index; the HTTP API per user, and Chromium."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, async_playwright, expect

from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub
from omnihub.testkit.servers import NatsServer
from omnihub.testkit.waiting import eventually
from tests.e2e.hub import PASSWORDS, ROUTING, new_hub

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("search")]
OURS = "+15550001111"
ALICE_CUSTOMER = "+8613800138000"
BOB_CUSTOMER = "+8613900139000"
REFUND = "您好，我想申请退款因为商品坏了"  # 退款 ("refund") in the middle of a sentence
INVOICE = "请帮我开发票给公司，谢谢"  # 发票 ("invoice"): only bob's customer says it
CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "services" / "inbox" / "web" / "node_modules" / "axe-core" / "axe.min.js"


class Hub:
    def __init__(self, services: ServiceHub, twilio: FakeTwilio) -> None:
        self.services, self.twilio = services, twilio
        self.base = services.url("inbox")

    async def sms(self, sender: str, body: str) -> None:
        resp = await self.twilio.post_webhook(f"{self.services.url('sms')}/twilio/sms",
                                              self.twilio.inbound_sms(OURS, sender, body))
        assert resp.status == 200


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, mongo_url: str) -> AsyncIterator[Hub]:
    """The hub for this module, on its own nats-server: other tests on this worker wipe the shared one's streams."""
    nats = NatsServer()
    nats.start()
    twilio = FakeTwilio()
    await twilio.start()
    services = new_hub(tmp_path_factory.mktemp("search"), nats.url, mongo_url, twilio)
    routing = json.loads(json.dumps(ROUTING))
    routing["agents"] = [{**a, "auto_accept": True} for a in routing["agents"]]  # offers are taken at once
    (services.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing))
    try:
        services.start("router", "sms", "inbox")
        yield Hub(services, twilio)
    finally:
        services.stop()
        await twilio.stop()
        nats.cleanup()


async def session(hub: Hub, user: str) -> tuple[aiohttp.ClientSession, dict[str, str]]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    resp = await http.post(hub.base + "/api/login", json={"username": user, "password": PASSWORDS[user]})
    assert resp.status == 200, await resp.text()
    return http, {"X-CSRF-Token": (await resp.json())["csrf"]}


async def set_state(http: aiohttp.ClientSession, hub: Hub, csrf: dict[str, str], state: str) -> None:
    resp = await http.post(hub.base + "/api/state", json={"state": state, "reason": "break"}, headers=csrf)
    assert resp.status == 200, await resp.text()


async def search(http: aiohttp.ClientSession, hub: Hub, q: str) -> list[dict[str, Any]]:
    resp = await http.get(hub.base + "/api/search", params={"q": q})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["hits"]  # type: ignore[no-any-return]


async def conversations(http: aiohttp.ClientSession, hub: Hub) -> list[dict[str, Any]]:
    resp = await http.get(hub.base + "/api/conversations")
    return await resp.json()  # type: ignore[no-any-return]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def worked(hub: Hub) -> AsyncIterator[dict[str, str]]:
    """Alice takes one customer's SMS, bob another's; returns their conversation ids."""
    alice, a_csrf = await session(hub, "alice")
    bob, b_csrf = await session(hub, "bob")
    try:
        await set_state(bob, hub, b_csrf, "AWAY")
        await set_state(alice, hub, a_csrf, "AVAILABLE")
        await hub.sms(ALICE_CUSTOMER, REFUND)
        mine = await eventually(lambda: conversations(alice, hub), timeout=30)
        await set_state(alice, hub, a_csrf, "AWAY")
        await set_state(bob, hub, b_csrf, "AVAILABLE")
        await hub.sms(BOB_CUSTOMER, INVOICE)
        his = await eventually(lambda: conversations(bob, hub), timeout=30)
        await hub.sms(ALICE_CUSTOMER, "Je voudrais un remboursement pour le Café, merci")
        yield {"alice": mine[0]["id"], "bob": his[0]["id"]}
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.browser
async def test_a_chinese_word_inside_a_sentence_is_found_by_its_agent_only(hub: Hub, worked: dict[str, str]) -> None:
    """Through the HTTP API per user, then in Chromium (one hub for both: starting one is the slow part)."""
    alice, _ = await session(hub, "alice")
    bob, _ = await session(hub, "bob")
    sam, _ = await session(hub, "sam")
    try:
        hits = await eventually(lambda: search(alice, hub, "退款"), timeout=30, message="alice finds 退款")
        assert [(h["kind"], h["conversation_id"]) for h in hits] == [("message", worked["alice"])]
        hit = hits[0]
        assert hit["snippet"] == REFUND and hit["channel"] == "sms" and hit["identity"] == ALICE_CUSTOMER
        assert [hit["snippet"][s["start"]:s["end"]] for s in hit["highlights"]] == ["退款"]
        # bob's customer wrote 发票: bob and the supervisor find it, alice does not (nor does bob find 退款)
        his = await eventually(lambda: search(bob, hub, "发票"), timeout=30, message="bob finds 发票")
        assert [h["conversation_id"] for h in his] == [worked["bob"]]
        assert await search(alice, hub, "发票") == []
        assert await search(bob, hub, "退款") == []
        assert [h["conversation_id"] for h in await search(sam, hub, "发票")] == [worked["bob"]]
        # Latin folded, the customer by their number without the country code, by the conversation id
        cafe = await eventually(lambda: search(alice, hub, "CAFE"), timeout=30)
        assert [h["kind"] for h in cafe] == ["message"] and "Café" in cafe[0]["snippet"]
        by_number = await search(alice, hub, "138 0013 8000")
        assert [(h["kind"], h["conversation_id"]) for h in by_number] == [("conversation", worked["alice"])]
        assert await search(bob, hub, "13800138000") == []
        assert [h["kind"] for h in await search(sam, hub, worked["bob"])] == ["conversation"]
        # bad input is a clear 400, never a 500
        for params in ({"q": "x" * 201}, {"q": "退款", "before": "nan"}, {"q": "退款", "limit": "0"}):
            resp = await alice.get(hub.base + "/api/search", params=params)
            assert resp.status == 400, params
    finally:
        for http in (alice, bob, sam):
            await http.close()
    await the_desktop_finds_a_chinese_word_and_opens_the_conversation(hub)


async def the_desktop_finds_a_chinese_word_and_opens_the_conversation(hub: Hub) -> None:
    async with async_playwright() as p:
        browser: Browser = await p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = await browser.new_context(viewport={"width": 1400, "height": 860}, locale="zh-CN", bypass_csp=True)
        page = await context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(hub.base + "/")
        await page.fill("#username", "alice")
        await page.fill("#password", PASSWORDS["alice"])
        await page.click("#login-button")
        await expect(page.locator("#who")).to_be_visible(timeout=20_000)
        await page.locator("body").press("/")  # the keyboard shortcut focuses the box
        await expect(page.locator("#search-input")).to_be_focused()
        await page.keyboard.type("退款")
        hit = page.locator("#search-results button.hit")
        await expect(hit).to_have_count(1, timeout=15_000)
        await expect(hit.locator("mark")).to_have_text("退款")
        await expect(hit).to_contain_text("短信")  # the channel, in Chinese
        await page.add_script_tag(path=str(AXE))
        found = await page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
                                    ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id))")
        assert found == []
        await page.keyboard.press("ArrowDown")
        await page.keyboard.press("Enter")
        await expect(page.locator(".msg.incoming .body").filter(has_text=REFUND)).to_be_visible(timeout=10_000)
        await page.keyboard.press("Control+k")
        await expect(page.locator("#search-input")).to_be_focused()
        await page.locator("#search-input").fill("发票")  # bob's customer: not alice's to find
        await expect(page.locator("#search-results .search-status")).to_contain_text("没有找到", timeout=15_000)
        assert problems == []
        await browser.close()
