"""The widget in real headless Chromium: pre-chat form, round trip, XSS, reconnect, limits, CSAT."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, FilePayload, Page, async_playwright, expect

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.waiting import eventually, read_events, read_messages

from .conftest import REPO, RunningChat, running_chat

pytestmark = pytest.mark.browser

WEB = contact_pb2.CHANNEL_WEBCHAT
XSS = "<img src=x onerror=alert(1)>"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# A 1x1 PNG: the widget accepts images by their declared type.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002"
                    "00010005fe02fea30000000049454e44ae426082")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium missing: `make test` installs it (apt-get install -y chromium fonts-noto-cjk)")
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser, chat: RunningChat) -> AsyncIterator[Page]:
    context = await browser.new_context()
    pg = await context.new_page()
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("dialog", lambda d: pg.dialogs.append(d.message))  # type: ignore[attr-defined,call-overload]
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await pg.goto(f"{chat.base}/widget")
    yield pg
    await context.close()


async def start_chat(page: Page, topic: str = "billing") -> str:
    await page.click("#omni-bubble")
    await page.fill("#omni-name", "Mei Lin")
    await page.fill("#omni-email", "mei@example.com")
    await page.select_option("#omni-topic", topic)
    await page.click("#omni-start")
    await page.wait_for_function("() => window.__omnihubChat.state().token")
    state: dict[str, Any] = await page.evaluate("() => window.__omnihubChat.state()")
    return str(state["token"]).rpartition(".")[0]


async def say(page: Page, text: str) -> None:
    await page.fill("#omni-text", text)
    await page.click("#omni-send")


def reply(out_id: str, visitor: str, text: str, **extra: Any) -> messaging_pb2.OutboundMessage:
    return messaging_pb2.OutboundMessage(
        id=out_id,
        channel=WEB,
        conversation_id="cnv_b",
        identity=contact_pb2.Identity(channel=WEB, source_id=visitor),
        thread_key=visitor,
        text=text,
        agent_id="alice",
        agent_display_name="Alice",
        **extra,
    )


async def inbound(bus: Bus, count: int) -> list[messaging_pb2.InboundMessage]:
    """The widget's inbound messages, once at least `count` are stored."""
    raw = await read_messages(bus, subjects.inbound(WEB), count=count)
    return [messaging_pb2.InboundMessage.FromString(m.data) for m in raw]


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"chat-{name}.png"))


async def test_prechat_send_and_receive_reply(page: Page, bus: Bus) -> None:
    visitor = await start_chat(page)
    await say(page, "My invoice is wrong")
    await expect(page.locator(".omni-visitor .omni-text")).to_have_text(["My invoice is wrong"])
    await expect(page.locator("#omni-status")).to_contain_text("Waiting")  # no router: degrades
    msgs = await inbound(bus, 1)
    assert len(msgs) == 1
    assert msgs[0].text.text == "My invoice is wrong"
    assert msgs[0].routing_hints.topic == "billing"
    assert msgs[0].display_name == "Mei Lin"
    await bus.publish(subjects.outbound(WEB), reply("out_a", visitor, "Let me check."), msg_id="out_a")
    await expect(page.locator(".omni-agent .omni-text")).to_have_text(["Let me check."])
    await expect(page.locator(".omni-agent .omni-meta")).to_have_text(["Alice"])
    await shot(page, "roundtrip")
    # the page's CSP is strict: no inline script, no third-party origin
    resp = await page.request.get(page.url)
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


async def test_xss_is_shown_as_text_both_ways(page: Page, bus: Bus) -> None:
    visitor = await start_chat(page)
    await say(page, XSS)
    await bus.publish(subjects.outbound(WEB), reply("out_x", visitor, XSS), msg_id="out_x")
    await expect(page.locator(".omni-visitor .omni-text")).to_have_text([XSS])
    await expect(page.locator(".omni-agent .omni-text")).to_have_text([XSS])
    assert await page.locator("#omni-log img").count() == 0
    await page.wait_for_timeout(300)  # a window in which no script may run (an absence has no event to wait on)
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert (await inbound(bus, 1))[0].text.text == XSS
    await shot(page, "xss")


async def test_reconnect_loses_and_duplicates_nothing(page: Page, bus: Bus, chat: RunningChat) -> None:
    visitor = await start_chat(page)
    await say(page, "before")
    await expect(page.locator(".omni-visitor")).to_have_count(1)
    await bus.publish(subjects.outbound(WEB), reply("out_1", visitor, "reply 1"), msg_id="out_1")
    await expect(page.locator(".omni-agent")).to_have_count(1)
    # 1) the server kills the socket mid-conversation; the widget reconnects by itself
    hub = chat.service.hub
    assert hub is not None
    for ws in list(hub.sockets.get(visitor, ())):
        await ws.close()
    await bus.publish(subjects.outbound(WEB), reply("out_2", visitor, "reply 2"), msg_id="out_2")
    await expect(page.locator(".omni-agent")).to_have_count(2)
    # 2) the visitor is offline while the agent writes and while they type
    await page.evaluate("() => window.__omnihubChat.goOffline()")
    for n in (3, 4):
        await bus.publish(subjects.outbound(WEB), reply(f"out_{n}", visitor, f"reply {n}"), msg_id=f"out_{n}")
    await eventually(lambda: hub.sessions[visitor].seq == 5, timeout=15)
    await say(page, "typed while offline")
    await page.evaluate("() => window.__omnihubChat.goOnline()")
    await expect(page.locator(".omni-visitor")).to_have_count(2)
    await expect(page.locator(".omni-agent .omni-text")).to_have_text(
        ["reply 1", "reply 2", "reply 3", "reply 4"]
    )
    await page.wait_for_timeout(500)  # a window for a duplicate to show up in; then exactly six
    await expect(page.locator(".omni-msg[data-seq]")).to_have_count(6)
    texts = [m.text.text for m in await inbound(bus, 2)]
    assert texts == ["before", "typed while offline"]
    await shot(page, "reconnect")
    # 3) a reload with the same token shows the whole history once
    await page.reload()
    await page.click("#omni-bubble")
    await expect(page.locator(".omni-msg[data-seq]")).to_have_count(6)


async def test_a_file_picked_before_the_welcome_waits_for_the_token(page: Page, bus: Bus) -> None:
    """A visitor who attaches a file at once, before the server's welcome frame gave them a token, still sends it
    (the upload needs the token: it used to be refused as "invalid visitor token")."""
    await page.evaluate("() => window.__omnihubChat.goOffline()")  # no socket yet, so no welcome and no token
    await page.click("#omni-bubble")
    await page.fill("#omni-name", "Mei Lin")
    await page.click("#omni-start")
    screen: FilePayload = {"name": "screen.png", "mimeType": "image/png", "buffer": PNG}
    await page.set_input_files("#omni-file", files=[screen])
    assert not await page.evaluate("() => window.__omnihubChat.state().token")
    await page.evaluate("() => window.__omnihubChat.goOnline()")
    await expect(page.locator(".omni-visitor .omni-attachment")).to_have_text("screen.png", timeout=15_000)
    await expect(page.locator(".omni-error")).to_have_count(0)
    msg = (await inbound(bus, 1))[0]
    assert [a.file_name for a in msg.text.attachments] == ["screen.png"]


async def test_oversize_and_rate_errors_are_shown(page: Page, bus: Bus) -> None:
    await start_chat(page)
    await say(page, "y" * 300)
    await expect(page.locator('[data-error="too_large"]')).to_have_count(1)
    for n in range(6):
        await say(page, f"msg {n}")
    await expect(page.locator('[data-error="rate_limited"]')).to_have_count(1)
    await shot(page, "limits")
    assert len(await inbound(bus, 5)) == 5


async def test_csat_prompt_after_close(page: Page, bus: Bus) -> None:
    visitor = await start_chat(page)
    await say(page, "thanks, solved")
    survey = reply(
        "out_s",
        visitor,
        "",
        survey_id="svy_9",
        survey_question="csat",
        kind=messaging_pb2.OUTBOUND_KIND_SURVEY,
    )
    await bus.publish(subjects.outbound(WEB), survey, msg_id="out_s")
    await expect(page.locator(".omni-survey button")).to_have_count(5)
    await shot(page, "csat")
    await page.click('.omni-survey button[data-score="5"]')
    await expect(page.locator(".omni-survey")).to_have_text("Thank you for your feedback!")
    evt = (await read_events(bus, "survey_answered", count=1))[0]
    assert (evt.survey_answered.survey_id, evt.survey_answered.score) == ("svy_9", 5)
    assert evt.conversation_id == "cnv_b" and evt.identity.source_id == visitor


async def test_agent_typing_and_read_receipt_reach_the_widget(page: Page, bus: Bus) -> None:
    import json

    visitor = await start_chat(page)
    await say(page, "hello?")
    await expect(page.locator(".omni-visitor .omni-receipt")).to_have_text(["Sent"])
    typing = json.dumps({"typing": True, "agent": "Alice"}).encode()
    await bus.nc.publish(subjects.chat_typing_agent(visitor), typing)
    await expect(page.locator("#omni-status")).to_have_text("Alice is typing\u2026")
    message_id = (await inbound(bus, 1))[0].id
    receipt = json.dumps({"message_ids": [message_id]}).encode()
    await bus.nc.publish(subjects.chat_read_agent(visitor), receipt)
    await expect(page.locator(".omni-visitor .omni-receipt")).to_have_text(["Read"])
    # and the visitor's typing reaches NATS for the inbox
    sub = await bus.nc.subscribe(subjects.chat_typing_visitor(visitor))
    await page.fill("#omni-text", "typing")
    await page.type("#omni-text", "!")
    got = json.loads((await sub.next_msg(timeout=5)).data)
    assert got == {"visitor_id": visitor, "typing": True}
    await sub.unsubscribe()


WIDGET_FILE = (
    "topics:\n"
    "  - {id: returns, labels: {en: Returns, zh-CN: 退货}}\n"
    "  - {id: sales, labels: {en: Sales, zh-CN: 销售咨询}}\n"
)
EN_TEXT = ["Chat with us", "End chat", "Start chat", "Waiting for the next available agent", "Sent", "Returns"]


async def test_widget_speaks_the_pages_or_browsers_language_with_the_configured_topics(
    browser: Browser, bus: Bus, telegram_api: Any, tmp_path: Path
) -> None:
    """zh-CN from the browser when the page has no lang; en when the page says lang="en"; topics from the file."""
    (tmp_path / "widget.yaml").write_text(WIDGET_FILE)
    async with running_chat(bus, telegram_api, tmp_path, chat_widget_file=tmp_path / "widget.yaml") as chat:
        context = await browser.new_context(locale="zh-CN")
        config = await context.request.get(f"{chat.base}/widget/config")
        assert [t["id"] for t in (await config.json())["topics"]] == ["returns", "sales"]
        # a host page without lang (the demo page's lang="en" is dropped before the deferred widget runs)
        await context.add_init_script("""document.addEventListener('readystatechange', () => {
            if (document.readyState === 'interactive') document.documentElement.removeAttribute('lang'); });""")
        page = await context.new_page()
        await page.goto(f"{chat.base}/widget")
        assert await page.evaluate("() => window.__omnihubChat.language()") == "zh-CN"
        await expect(page.locator("#omni-bubble")).to_have_text("在线咨询")
        await page.click("#omni-bubble")
        await expect(page.locator("#omni-topic option")).to_have_text(["退货", "销售咨询"])
        await expect(page.locator("#omni-name")).to_have_attribute("placeholder", "您的姓名")
        await page.fill("#omni-name", "梅林")
        await page.select_option("#omni-topic", "returns")
        await page.click("#omni-start")
        await page.wait_for_function("() => window.__omnihubChat.state().token")
        await page.fill("#omni-text", "我要退货")
        await page.click("#omni-send")
        await expect(page.locator(".omni-visitor .omni-receipt")).to_have_text(["已发送"])
        await expect(page.locator("#omni-status")).to_contain_text("请稍候")
        attach = page.get_by_role("button", name="添加文件")  # the "+": named for screen readers and on hover
        await expect(attach).to_have_attribute("title", "添加文件")
        shown = await page.locator("#omni-panel").inner_text()
        assert not [s for s in EN_TEXT if s in shown], shown
        assert (await inbound(bus, 1))[0].routing_hints.topic == "returns"
        await shot(page, "zh-CN")
        # the page's lang="en" wins over a Chinese browser; the topics are the file's, in English
        await context.close()
        context = await browser.new_context(locale="zh-CN")
        en_page = await context.new_page()
        await en_page.goto(f"{chat.base}/widget")
        await en_page.click("#omni-bubble")
        await expect(en_page.locator("#omni-bubble")).to_have_text("Chat")
        await expect(en_page.locator("#omni-topic option")).to_have_text(["Returns", "Sales"])
        # a topic the file does not name is not passed to routing
        await en_page.evaluate("""() => { const o = document.createElement('option');
            o.value = 'vip-bypass'; o.textContent = 'x'; document.querySelector('#omni-topic').appendChild(o); }""")
        await en_page.select_option("#omni-topic", "vip-bypass")
        await en_page.click("#omni-start")
        await en_page.wait_for_function("() => window.__omnihubChat.state().token")
        await en_page.fill("#omni-text", "hello")
        await en_page.click("#omni-send")
        msgs = await inbound(bus, 2)
        assert msgs[1].text.text == "hello" and msgs[1].routing_hints.topic == ""
        await context.close()
