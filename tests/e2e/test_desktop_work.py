"""The agent desktop's work tools in real Chromium on one hub: wrap-up from the router (countdown, time in state,
dispositions from configuration), the conversation list (filters, snooze, labels), the composer (`/` canned
responses, email Cc and quoted thread to an SMTP sink), the customer panel, activity lines, typing and read receipts
between the web-chat widget and the agent, the supervisor's wallboard."""

from __future__ import annotations

import asyncio
import re
import shutil
import smtplib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from argon2 import PasswordHasher
from playwright.async_api import Browser, Page, expect

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import identity, subjects
from omnihub.common.bus import Bus, new_id, now_timestamp
from omnihub.common.identity import Actor
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.ports import free_port
from omnihub.testkit.pytest_plugin import _wipe_jetstream
from omnihub.testkit.waiting import eventually
from tests.e2e.browser import (
    api_get,
    api_send,
    axe,
    chromium,
    english_leftovers,
    go_available,
    login,
    login_as,
    sms_in,
    visible_ui_text,
)
from tests.e2e.hub import PASSWORDS, everyone_away, new_hub

# one worker runs the module's tests one after another on its one hub (make test uses --dist loadgroup)
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("desktop_work")]
DEMO_KB = Path(__file__).resolve().parents[2] / "config" / "demo" / "kb.yaml"
# agents of this module's own, one per test below (each test ends with its agent Away, so the next one gets the work)
CARA, DAN, EVE = ("cara", "cara-pass-1"), ("dan", "dan-pass-1"), ("eve", "eve-pass-1")
NAMES = {"cara": "Cara Wu", "dan": "Dan Xu", "eve": "Eve Ma"}
WRAP_UP_SECONDS = 120
DESKTOP = {"dispositions": [
    {"code": "callback_booked", "labels": {"en": "Callback booked", "zh-CN": "已预约回电"}},
    {"code": "refund", "labels": {"en": "Refund", "zh-CN": "退款"}},
]}
WALLBOARD = {"refresh_seconds": 1, "alerts": {"queues": {"sales": {"longest_wait_seconds": 3}}}}  # sales has no agents


class Sink:
    """The SMTP relay the hub's email service sends through: keeps every envelope."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def relay() -> AsyncIterator[tuple[Sink, int]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, nats_session_url: str,
              mongo_url: str, relay: tuple[Sink, int]) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    """One hub for the module: support wraps up for two minutes; the desktop file names two dispositions;
    the demo knowledge base; email out through the relay sink; web chat; three more agents (cara, dan, eve)."""
    await _wipe_jetstream(nats_session_url)
    fake = FakeTwilio()
    await fake.start()
    h = new_hub(tmp_path_factory.mktemp("work"), nats_session_url, mongo_url, fake)
    routing = yaml.safe_load((h.config_dir / "routing.yaml").read_text())
    for queue in routing["queues"]:
        queue["wrap_up_seconds"] = WRAP_UP_SECONDS
    users = yaml.safe_load((h.config_dir / "users.yaml").read_text())
    for user, password in (CARA, DAN, EVE):
        routing["agents"].append({"id": user, "display_name": NAMES[user], "skills": {"support": 9},
                                  "queues": ["support", "general"]})
        users["users"].append({"id": user, "display_name": NAMES[user], "role": "agent",
                               "password_hash": PasswordHasher().hash(password)})
    (h.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing))
    (h.config_dir / "users.yaml").write_text(yaml.safe_dump(users))
    (h.config_dir / "desktop.yaml").write_text(yaml.safe_dump(DESKTOP, allow_unicode=True))
    shutil.copy(DEMO_KB, h.config_dir / "kb.yaml")
    h.extra["email"] = {"OMNIHUB_EMAIL_RELAY_HOST": "127.0.0.1", "OMNIHUB_EMAIL_RELAY_PORT": str(relay[1]),
                        "OMNIHUB_EMAIL_DB": f"work_email_{free_port()}"}
    (h.config_dir / "wallboard.yaml").write_text(yaml.safe_dump(WALLBOARD))
    h.extra["chat"] = {"OMNIHUB_VAR_DIR": str(h.config_dir.parent / "chat-var"), "OMNIHUB_TELEGRAM_ENABLED": "false",
                       "OMNIHUB_WECHAT_ENABLED": "false"}
    try:
        h.start("router", "sms", "quality", "inbox", "email", "chat")
        yield h, fake
    finally:
        h.stop()
        await fake.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b



async def router_agent(h: Hub, agent_id: str) -> routing_pb2.Agent:
    """The router's own view of the agent (the inbox shows colleagues less)."""
    async with identity.channel(f"127.0.0.1:{h.ports['router_grpc']}", h.credentials, identity.ROUTER_AUDIENCE,
                                Actor("sam", "supervisor")) as channel:
        agents = await routing_pb2_grpc.RouterStub(channel).ListAgents(routing_pb2.ListAgentsRequest())
    return next(a for a in agents.agents if a.id == agent_id)


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def everyone_away_afterwards(hub: tuple[Hub, FakeTwilio]) -> AsyncIterator[None]:
    """After each test, passed or failed, every agent still taking work is set Away."""
    yield
    await everyone_away(hub[0])


async def test_customer_panel_in_chinese_fields_merge_previous_conversations_and_activity_lines(
        hub: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = hub
    bob = await login(browser, h.url("inbox"), "bob")
    assert (await api_send(bob, "POST", "/api/state", {"state": "AWAY", "reason": "break"}))[0] == 200  # the texts are dan's
    await bob.context.close()
    page = await login_as(browser, h.url("inbox"), *DAN, lang="zh-CN")
    await expect(page.locator("#tab-inbox")).to_have_text("收件箱")
    await go_available(page)
    first, second = "+8613800138041", "+8613800138042"
    for sender, text in ((first, "我上周也问过退款"), (second, "请问我的退款到账了吗")):
        await sms_in(h, fake, text, sender=sender)
        await page.locator(".offer .accept").first.click(timeout=20_000)
        await expect(page.locator(".offer")).to_have_count(0, timeout=15_000)
    await page.locator("#conv-list button.conv").filter(has_text="请问我的退款到账了吗").click()
    await expect(page.locator(".msg.incoming .body").last).to_have_text("请问我的退款到账了吗", timeout=10_000)
    # the day separator is the day in Chinese, by Intl
    await expect(page.locator("#timeline .day").first).to_have_text(re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日星期[一二三四五六日]$"))

    # contact fields and notes are kept (a fresh page shows them; the API has them)
    await expect(page.locator("#past-conversations li")).to_have_count(1, timeout=10_000)  # the panel has loaded
    await page.fill("#cust-name", "李雷")
    await page.fill("#cust-email", "li.lei@example.cn")
    await page.fill("#cust-phones", f"{second}, +86 10 8888 0000")
    await page.select_option("#cust-language", "zh-CN")
    await page.fill("#cust-notes", "老客户，优先处理")
    await page.click("#cust-save")
    await expect(page.locator("#customer-fields")).to_contain_text("已保存。")
    await page.reload()
    await page.locator("#conv-list button.conv").filter(has_text="请问我的退款到账了吗").click()
    await expect(page.locator("#cust-notes")).to_have_value("老客户，优先处理", timeout=10_000)
    await expect(page.locator("#cust-phones")).to_have_value(f"{second}, +86 10 8888 0000", timeout=15_000)
    [conv] = [c for c in await api_get(page, "/api/conversations") if c["identity"]["source_id"] == second]
    profile = await api_get(page, f"/api/customers/{conv['customer_id']}/profile")
    assert (profile["name"], profile["email"], profile["language"], profile["updated_by"]) == (
        "李雷", "li.lei@example.cn", "zh-CN", "dan")
    status, _ = await api_send(page, "PUT", f"/api/customers/{conv['customer_id']}/profile", {"email": "not-an-address"})
    assert status == 400

    # merge the other number's record: asked first (cancel leaves both apart), then one customer with both histories
    await page.select_option("#merge-channel", "sms")
    await page.fill("#merge-identity", first)
    await page.click("#merge")
    await expect(page.locator("#merge-question")).to_contain_text(first)
    await page.locator(".merge").get_by_role("button", name="取消").click()
    await expect(page.locator("#merge-question")).to_be_hidden()
    await expect(page.locator("#customer .identity")).to_have_count(1)
    await expect(page.locator("#past-conversations li")).to_have_count(1)
    await page.fill("#merge-identity", "")
    # confirmed: the other customer found by their number in the merge dialog's search (this customer is not offered)
    await page.fill("#merge-search", first)
    await page.click("#merge-find")
    found = page.locator("#merge-found button")
    await expect(found).to_have_count(1, timeout=10_000)
    await expect(found).to_contain_text(f"{first}（短信）")
    await found.click()
    await expect(page.locator("#merge-question")).to_contain_text(first)
    await page.click("#merge-confirm")
    await expect(page.locator("#customer .identity")).to_have_count(2, timeout=10_000)
    await expect(page.locator("#past-conversations li")).to_have_count(2, timeout=10_000)
    await expect(page.locator(".msg.history .body").filter(has_text="我上周也问过退款")).to_be_visible(timeout=10_000)
    await expect(page.locator("#past-conversations .outcome")).to_have_text(["仍在进行", "仍在进行"])

    # wrap up this one: the other conversation's view shows the ending as a line in words, and its outcome
    await page.select_option("#disposition", "refund")
    await page.click("#wrapup")
    await page.locator("#conv-list button.conv").filter(has_text="我上周也问过退款").click()
    line = page.locator('#timeline .activity-line[data-activity="ended"]')
    await expect(line).to_contain_text("dan 结束了会话：退款，已解决", timeout=15_000)
    await expect(page.locator(f'#past-conversations li[data-conversation="{conv["id"]}"] .outcome')).to_have_text(
        "退款 · 已解决")
    await away(page)



async def test_typing_and_read_receipts_both_ways_between_the_widget_and_the_agent(
        hub: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, _ = hub
    bob = await login(browser, h.url("inbox"), "bob")
    assert (await api_send(bob, "POST", "/api/state", {"state": "AWAY", "reason": "break"}))[0] == 200  # the chat is eve's
    await bob.context.close()
    agent = await login_as(browser, h.url("inbox"), *EVE)
    await go_available(agent)
    widget = await (await browser.new_context()).new_page()
    await widget.goto(f"{h.url('chat')}/widget")
    await widget.click("#omni-bubble")
    await widget.fill("#omni-name", "Mei Lin")
    await widget.fill("#omni-email", "mei@example.com")
    await widget.click("#omni-start")
    await widget.wait_for_function("() => window.__omnihubChat.state().token")
    await widget.fill("#omni-text", "Hello, is anyone there?")
    await widget.click("#omni-send")
    await agent.locator(".offer .accept").click(timeout=20_000)
    await expect(agent.locator(".msg.incoming .body").last).to_have_text("Hello, is anyone there?", timeout=10_000)
    # the agent opened it: the widget marks the visitor's message read
    await expect(widget.locator('.omni-msg[data-receipt="read"]').first).to_be_visible(timeout=15_000)
    # the pre-chat form's email is the customer's until an agent keeps another
    await expect(agent.locator("#cust-email")).to_have_value("mei@example.com")
    await expect(agent.locator("#cust-email-hint")).to_contain_text("mei@example.com")

    # the visitor types: the agent sees it, and it goes when the message comes
    await widget.locator("#omni-text").press_sequentially("I have a question")
    await expect(agent.locator("#typing")).to_have_text("Mei Lin is typing…", timeout=10_000)
    await widget.click("#omni-send")
    await expect(agent.locator(".msg.incoming .body").last).to_have_text("I have a question", timeout=10_000)
    await expect(agent.locator("#typing")).to_have_text("")
    # the agent types: the visitor sees it
    await agent.locator("#reply").press_sequentially("Sure, ")
    await expect(widget.locator("#omni-status")).to_have_text("Eve Ma is typing…", timeout=10_000)
    await agent.locator("#reply").press_sequentially("how can I help?")
    await agent.click("#send")
    # the visitor's page shows the reply and reads it: the agent sees "read" on it
    await expect(widget.locator(".omni-msg").filter(has_text="how can I help?")).to_be_visible(timeout=15_000)
    await expect(agent.locator('.msg.outgoing .status[data-status="read"]')).to_have_text("read", timeout=15_000)
    await widget.context.close()
    await away(agent)


async def test_wrap_up_counts_down_to_the_routers_deadline_with_a_configured_disposition(
        hub: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = hub
    page = await login(browser, h.url("inbox"), "alice")
    await go_available(page)
    await sms_in(h, fake, "Please call me back tomorrow", sender="+8613800138011")
    await page.locator(".offer .accept").click()
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "BUSY", timeout=10_000)
    [conv] = [c for c in await api_get(page, "/api/conversations") if c["assigned_agent"] == "alice"]

    options = page.locator("#disposition option:not([disabled])")
    await expect(options).to_have_text(["Callback booked", "Refund"])  # the desktop file's, in its order
    await page.select_option("#disposition", "callback_booked")
    await page.click("#wrapup")
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "WRAP_UP", timeout=10_000)
    router = await router_agent(h, "alice")
    deadline = router.wrap_up_end_time.ToNanoseconds() / 1e9
    countdown = page.locator("#wrapup-countdown")
    await expect(countdown).to_have_text(re.compile(r"\d+:\d\d left"))
    shown = await countdown.text_content() or ""
    minutes, seconds = re.findall(r"(\d+):(\d\d)", shown)[0]
    left = await page.evaluate(f"{deadline} - Date.now() / 1000")
    assert abs(int(minutes) * 60 + int(seconds) - left) <= 2, (shown, left)  # the router's deadline, not a guess
    assert left > WRAP_UP_SECONDS - 30

    # the time in state is the router's: a reload (a new socket) keeps it
    since = float(await page.locator("#agent-state .meta").first.get_attribute("data-since") or 0)
    assert abs(since - router.state_time.ToNanoseconds() / 1e9) < 0.01
    await page.reload()
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "WRAP_UP", timeout=20_000)
    await expect(page.locator("#agent-state .meta").first).to_have_attribute("data-since", str(since))
    await expect(page.locator("#wrapup-countdown")).to_be_visible()

    stored = await api_get(page, f"/api/conversations/{conv['id']}/messages")
    assert stored["conversation"]["disposition"] == "callback_booked"
    await page.select_option("#state", "OFFLINE")  # the next tests' offers go to bob
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "OFFLINE", timeout=10_000)
    await page.context.close()



async def organised(page: Page, query: str = "") -> dict[str, Any]:
    return (await api_get(page, "/api/organise" + query))["conversations"]  # type: ignore[no-any-return]


async def test_snooze_comes_back_by_time_or_by_the_customer_and_labels_filter_the_list(
        hub: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = hub
    page = await login(browser, h.url("inbox"), "bob")
    await go_available(page)
    senders = {"early": "+8613800138021", "later": "+8613800138022"}
    for name, sender in senders.items():
        await sms_in(h, fake, f"Question from {name}", sender=sender)
        await page.locator(".offer .accept").first.click()
        await expect(page.locator(".offer")).to_have_count(0, timeout=15_000)
    rows = page.locator("#conv-list button.conv")
    await expect(rows).to_have_count(2, timeout=10_000)
    ids = {c["preview"].split()[-1]: c["id"] for c in await api_get(page, "/api/conversations")}
    early, later = ids["early"], ids["later"]

    # labels: added, filtered on (API and list), removed
    assert (await api_send(page, "POST", f"/api/conversations/{early}/labels", {"add": [" vip ", "refund"]}))[1] == {
        "labels": ["vip", "refund"]}
    assert set(await organised(page, "?label=vip")) == {early}
    await page.goto(page.url)  # a fresh page reads the labels; the filter offers them
    await page.select_option("#filter-label", "vip")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Question from early")
    await expect(rows.first.locator(".label-chip")).to_have_text(["vip", "refund"])
    await page.select_option("#filter-label", "")
    await rows.filter(has_text="Question from early").click()
    await page.get_by_role("button", name="Remove label vip").click()
    await expect(page.locator(".organise .label-chip")).to_have_count(1)
    assert await organised(page, "?label=vip") == {}
    assert (await api_send(page, "POST", f"/api/conversations/{early}/labels", {"add": ["x" * 41]}))[0] == 400

    # snooze from the page: the conversation leaves the list and shows under Snoozed
    await page.click("#snooze")
    await expect(rows).to_have_count(1, timeout=10_000)
    await page.select_option("#filter-status", "snoozed")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Question from early")
    assert (await organised(page))[early]["status"] == "snoozed"
    # ... and it comes back when the customer writes, in the page (live) and in the API
    await sms_in(h, fake, "Any news?", sender=senders["early"])
    await expect(rows).to_have_count(0, timeout=15_000)
    await page.select_option("#filter-status", "open")
    await expect(rows.filter(has_text="Any news?")).to_have_count(1)
    assert (await organised(page))[early]["status"] == "open"

    # our reply is the last word: pending; a snooze ends when its time passes, and it is pending again
    assert (await api_send(page, "POST", f"/api/conversations/{later}/reply", {"text": "Looking into it"}))[0] == 200
    await eventually(async_has(page, "?status=pending", later), timeout=15)
    assert (await api_send(page, "POST", f"/api/conversations/{later}/snooze", {"until": time.time() - 5}))[0] == 400
    until = time.time() + 3
    assert (await api_send(page, "POST", f"/api/conversations/{later}/snooze", {"until": until}))[0] == 200
    assert (await organised(page, "?status=snoozed")).keys() == {later}
    await eventually(async_has(page, "?status=pending", later), timeout=15)
    assert time.time() >= until
    await page.context.close()



def async_has(page: Page, query: str, cid: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return cid in await organised(page, query)
    return check



def mail_in(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg, from_addr="li@example.cn", to_addrs=["support@example.com"])


async def test_composer_inserts_canned_by_slash_and_an_email_reply_goes_with_cc_and_the_quote(
        hub: tuple[Hub, FakeTwilio], browser: Browser, relay: tuple[Sink, int]) -> None:
    h, _ = hub
    sink = relay[0]
    bob = await login(browser, h.url("inbox"), "bob")
    assert (await api_send(bob, "POST", "/api/state", {"state": "AWAY", "reason": "break"}))[0] == 200  # the email is cara's
    await bob.context.close()
    page = await login_as(browser, h.url("inbox"), *CARA)
    await go_available(page)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "Li Lei <li@example.cn>", "support@example.com", "Order 77 is late"
    mail["Message-ID"] = "<order77@example.cn>"
    mail["Cc"] = "Wang Fang <wang@example.cn>, support@example.com"  # a reply-all copies Wang, never ourselves
    mail.set_content("My order 77 has not arrived.\nWhere is the parcel tracking?")
    await asyncio.to_thread(mail_in, h.ports["email_smtp"], mail)
    await page.locator(".offer .accept").click(timeout=20_000)

    # the email fields: subject, Cc, the customer's mail quoted (shown as it will go)
    await expect(page.locator("#cc")).to_be_visible(timeout=10_000)
    await expect(page.locator("#quoted")).to_contain_text("My order 77 has not arrived.")
    await expect(page.locator("#kb-suggest .kb-insert").first).to_be_visible()  # answers for the customer's words

    # `/t`: the canned responses whose shortcut starts so; ↓ chooses the second, Enter inserts it in place
    reply = page.locator("#reply")
    await reply.press_sequentially("Dear Li, /t")
    options = page.locator("#canned-list [role=option]")
    await expect(options).to_have_count(2)
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await reply.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(reply).to_have_attribute("aria-activedescendant", "canned-option-1")
    await reply.press("Enter")
    await expect(page.locator("#canned-list")).to_be_hidden()
    await expect(reply).to_have_value("Dear Li, You can follow your parcel with the tracking number in your confirmation "
                                      "email. It updates every few hours.")

    # reply all: Cc starts with the mail's other recipients; a bad address is named; Ctrl+Enter sends
    await expect(page.locator("#cc")).to_have_value("wang@example.cn")
    await expect(page.locator("#cc-hint")).to_contain_text("Reply all")
    await page.fill("#cc", "wang@example.cn, boss@example")
    await expect(page.locator("#cc-hint")).to_contain_text("Not an email address: boss@example")
    await page.fill("#cc", "wang@example.cn, boss@example.cn")
    # the quote's attribution line in the agent's language, with an Intl date
    await expect(page.locator("#quoted")).to_contain_text(re.compile(r"On .*\d.*, Li Lei <li@example\.cn> wrote:"))
    header = (await page.locator("#quoted").inner_text()).split("wrote:")[0] + "wrote:"
    await reply.press("Control+Enter")
    await eventually(lambda: len(sink.received) == 1, timeout=20)
    (env,) = sink.received
    assert env.rcpt_tos == ["li@example.cn", "wang@example.cn", "boss@example.cn"]
    sent = message_from_bytes(env.original_content or b"", policy=policy.default)
    assert sent["Cc"] == "wang@example.cn, boss@example.cn" and sent["Subject"] == "Re: Order 77 is late"
    assert sent["In-Reply-To"] == "<order77@example.cn>" and "<order77@example.cn>" in sent["References"]
    text_part = sent.get_body(("plain",))
    assert text_part is not None
    plain = text_part.get_content().replace("\r\n", "\n")
    assert plain.startswith("Dear Li, You can follow your parcel")
    assert f"{header.strip()}\n> My order 77 has not arrived.\n> Where is the parcel tracking?" in plain
    # the timeline shows the reply alone (the quote is only in the mail)
    await expect(page.locator(".msg.outgoing .body")).to_have_text(re.compile(r"^Dear Li, You can follow.*hours\.$"))
    await away(page)


async def away(page: Page) -> None:
    """The test's agent takes a break (its open work stays) and its page closes: the next test's agent gets the work."""
    assert (await api_send(page, "POST", "/api/state", {"state": "AWAY", "reason": "break"}))[0] == 200
    await page.context.close()


async def to_sales(h: Hub, sender: str) -> None:
    """A customer's SMS that the router puts in sales, where no agent works: it waits."""
    msg = messaging_pb2.InboundMessage(
        id=new_id("msg"), channel=contact_pb2.CHANNEL_SMS, thread_key=sender,
        identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_SMS, source_id=sender), receive_time=now_timestamp(),
        provider_message_id=new_id("SM"), routing_hints=messaging_pb2.RoutingHints(queue="sales"),
        text=messaging_pb2.TextPayload(text="Do you sell gift cards?"))
    bus = await Bus.connect(h.nats_url, name="e2e-wallboard")
    try:
        await bus.publish(subjects.inbound(msg.channel), msg, msg_id=f"sms:{msg.provider_message_id}")
    finally:
        await bus.close()


async def test_wallboard_dash_for_nothing_answered_waits_as_mm_ss_alerts_tv_mode_and_chinese(
        hub: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, _ = hub
    page = await login(browser, h.url("inbox"), "sam", bypass_csp=True)  # axe is injected: this context bypasses CSP
    assert (await api_send(page, "POST", "/api/supervisor/agents/alice/state", {"state": "AWAY", "reason": "break"}))[0] == 200
    await page.click("#tab-wall")
    sales = page.locator('article[data-queue="sales"]')
    await expect(sales.locator('[data-figure="sl"] dd')).to_have_text("—", timeout=15_000)  # nothing answered: not 100%
    await expect(sales.locator('[data-figure="asa"] dd')).to_have_text("—")

    # a customer waits in sales: the longest wait shows as mm:ss and grows; past the 3 s limit the queue is flagged
    await to_sales(h, "+8613800138031")
    await expect(sales.locator('[data-figure="waiting"] dd')).to_have_text("1", timeout=15_000)
    longest = sales.locator('[data-figure="longest"] dd')
    await expect(longest).to_have_text(re.compile(r"^\d\d:\d\d$"))
    await expect(sales).to_have_attribute("data-alerts", "longest_wait", timeout=15_000)
    await expect(sales.locator('.flag[data-alert="longest_wait"]')).to_contain_text("Alert: longest wait")
    listed = page.locator('#wall-alert-list li[data-queue="sales"][data-alert="longest_wait"]')
    await expect(listed).to_contain_text("over the limit of 00:03")
    await expect(sales.locator('[data-figure="sl"] dd')).to_have_text("—")
    board = await api_get(page, "/api/supervisor/wallboard")
    row = next(q for q in board["queues"] if q["queue"] == "sales")
    assert (row["service_level"], row["asa_seconds"], row["answered"], row["waiting"]) == (None, None, 0, 1)
    assert row["longest_wait_seconds"] > 3 and row["longest_wait_limit_seconds"] == 3
    assert any(a["queue"] == "sales" and a["kind"] == "longest_wait" and a["limit"] == 3 for a in board["alerts"])
    assert board["time_zone"] == "UTC" and board["intervals"] and board["interval_minutes"] == 15
    # a supervisor with a team (kim: north = alice and bob) sees their queues and agents only, not sales' alert
    kim = await browser.new_context()
    login_kim = await kim.request.post(h.url("inbox") + "/api/login",
                                       data={"username": "kim", "password": PASSWORDS["kim"]})
    assert login_kim.ok, await login_kim.text()
    team_board = await (await kim.request.get(h.url("inbox") + "/api/supervisor/wallboard")).json()
    assert sorted(q["queue"] for q in team_board["queues"]) == ["general", "support"]
    assert sorted(a["id"] for a in team_board["agents"]) == ["alice", "bob"]
    assert all(a["queue"] != "sales" for a in team_board["alerts"]) and team_board["intervals"]
    await kim.close()

    # charts by interval; agents with state, reason and a ticking time in state
    await expect(page.locator("#wall-sl-chart")).to_be_visible()
    await expect(page.locator("#wall-volume-chart")).to_be_visible()
    alice = page.locator('#wall-agents tr[data-agent="alice"]')
    await expect(alice.locator("td.state")).to_have_text("Away (Break)")
    since = alice.locator("td.since")
    await expect(since).to_have_text(re.compile(r"^\d\d:\d\d$"))
    await expect(since).not_to_have_text(await since.text_content() or "", timeout=5_000)
    assert await axe(page) == []

    # TV mode: full screen, no desktop chrome, still live, in Chinese too
    await page.click("#wall-tv")
    await expect(page.locator('.wall[data-tv="on"]')).to_be_visible()
    assert page.url.endswith("#wallboard-tv")
    assert await page.locator("header.topbar").count() == 0
    assert await page.evaluate("document.fullscreenElement !== null")
    await to_sales(h, "+8613800138032")
    await expect(sales.locator('[data-figure="waiting"] dd')).to_have_text("2", timeout=15_000)
    await page.select_option("#lang", "zh-CN")
    await expect(sales.locator('[data-figure="sl"] dt')).to_have_text("今日服务水平")
    await expect(sales.locator('[data-figure="sl"] dd')).to_have_text("—")
    await expect(sales.locator('.flag[data-alert="longest_wait"]')).to_contain_text("告警：最长等待")
    await expect(alice.locator("td.state")).to_have_text(re.compile("^离开"))
    assert english_leftovers(await visible_ui_text(page)) == []
    assert await axe(page) == []
    await page.reload()  # a TV opened at the address stays a TV
    await expect(page.locator('.wall[data-tv="on"]')).to_be_visible(timeout=20_000)
    await expect(sales.locator('[data-figure="waiting"] dd')).to_have_text("2", timeout=15_000)
    await page.click("#wall-tv-exit")
    await expect(page.locator("header.topbar")).to_be_visible()
    await page.context.close()
