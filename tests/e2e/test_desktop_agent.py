"""The Vue agent desktop in real headless Chromium: an agent's day on SMS end to end, every offer at once and the
keyboard-only flow on one shared hub, each with an agent and customers of its own; autopause on a hub of its own
(its short offers and one-miss rule would reach the other tests' agents)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, FilePayload, Page, expect

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import identity, subjects
from omnihub.common.bus import Bus, new_id, now_timestamp
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.waiting import barrier, eventually
from tests.e2e.browser import (
    CUSTOMER,
    OUR_NUMBER,
    chromium,
    go_available,
    login,
    open_app,
    perf_afresh,
    shot,
    sms_in,
    step_away,
)
from tests.e2e.hub import PASSWORDS, everyone_away, sms_hub

# One shared hub and one Chromium for the module, on the module's loop (its tests run one after another on one
# worker); the autopause test's own hub and browser on the same loop.
pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory, mongo_url: str) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    """One hub for the SMS end-to-end test (alice; first, since it reads the support queue's figures of the day),
    the five offers (carol) and the keyboard-only flow (dan): each texts from numbers of its own and steps its agent
    away at its end, so no later test is offered its work. It has its own nats-server, since the autopause test's
    function-scoped hub wipes the session server's streams."""
    async with sms_hub(tmp_path_factory.mktemp("shared"), mongo_url, spare_agents=2) as hub:
        yield hub


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def everyone_away_afterwards(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After each test on the shared hub, passed or failed, every agent still taking work is set Away: a failed
    test's agent would otherwise take the next test's offers."""
    yield
    if "shared" in request.fixturenames:
        await everyone_away(request.getfixturevalue("shared")[0])


async def test_agent_handles_an_sms_end_to_end(shared: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = shared
    base = h.url("inbox")
    problems: list[str] = []
    page = await login(browser, base, "alice", problems=problems)
    await go_available(page)

    # 1. A customer texts us: a signed Twilio webhook to the real sms service; the offer shows it as text.
    await sms_in(h, fake, "<script>alert(1)</script><img src=x onerror=alert(2)> Where is my order?")
    offer = page.locator(".offer")
    await expect(offer).to_have_count(1, timeout=15_000)
    await expect(offer.locator(".offer-preview")).to_contain_text("<script>alert(1)</script>")
    await expect(offer.locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    await expect(offer.locator(".offer-wait")).to_contain_text("Customer waiting")
    await expect(page).to_have_title("(1 offer) omnihub inbox")
    await shot(page, "desktop-offer")
    await offer.locator(".accept").click()
    await expect(page).to_have_title("omnihub inbox")

    # 2. The conversation opens; customer content is text, never markup.
    body = page.locator(".msg.incoming .body").first
    await expect(body).to_contain_text("<img src=x onerror=alert(2)>", timeout=10_000)
    assert await page.locator("#timeline img").count() == 0
    assert await page.locator("#timeline script").count() == 0
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "BUSY", timeout=10_000)

    # 2b. A file SMS cannot carry (WebP) is refused in the page, naming the channel's types, and never uploaded.
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.url.endswith("/attachments") or "/attachments?" in r.url
            else None)
    webp: FilePayload = {"name": "photo.webp", "mimeType": "image/webp", "buffer": b"RIFF\x00\x00\x00\x00WEBPVP8 "}
    await page.set_input_files("#attach-file", files=[webp])
    await expect(page.locator("#attach-error")).to_have_text(
        "SMS cannot carry photo.webp: it takes only PDF, MP3, OGG, GIF, JPEG, PNG, CSV, and MP4.")
    assert uploads == []

    # 3. The agent replies: the SMS counter counts, and Twilio's API receives the message.
    await page.fill("#reply", "您好！Your parcel ships today.")
    await expect(page.locator("#sms-counter")).to_contain_text("UCS-2")
    await page.click("#send")
    await eventually(lambda: any(m["body"] == "您好！Your parcel ships today." for m in fake.messages.values()), timeout=15)
    sent = next(m for m in fake.messages.values() if m["body"] == "您好！Your parcel ships today.")
    assert sent["to"] == CUSTOMER and sent["from"] == OUR_NUMBER
    await expect(page.locator(".msg.outgoing .body")).to_contain_text("Your parcel ships today", timeout=10_000)
    # an internal note is labelled as such and never leaves
    await page.check("#private")
    await page.fill("#reply", "VIP customer, be quick")
    await page.click("#send")
    note = page.locator(".msg.private")
    await expect(note.locator(".note-label")).to_have_text("Internal note, not sent to the customer", timeout=10_000)
    assert not any(m["body"] == "VIP customer, be quick" for m in fake.messages.values())
    await shot(page, "desktop-inbox")

    # 4. The socket drops (the inbox restarts); a message sent meanwhile is caught up on reconnect.
    h.procs["inbox"].kill()
    await expect(page.locator("#live")).not_to_have_class(re.compile(r"\bon\b"), timeout=10_000)
    await sms_in(h, fake, "Are you still there?")
    h.start("inbox")
    await expect(page.locator(".msg.incoming .body").filter(has_text="Are you still there?")).to_be_visible(timeout=20_000)
    assert await page.locator(".msg.incoming .body").filter(has_text="Are you still there?").count() == 1

    # 4b. The same person emailed before: the agent merges the two records (after confirming) into one history.
    email = messaging_pb2.InboundMessage(
        id=new_id("msg"), channel=contact_pb2.CHANNEL_EMAIL, thread_key="<root@mail.example.com>",
        identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_EMAIL, source_id="li@example.com"),
        receive_time=now_timestamp(), provider_message_id="<root@mail.example.com>",
        email=messaging_pb2.EmailPayload(subject="Order 1234", text="I also wrote by email"))
    bus = await Bus.connect(h.nats_url, name="e2e")
    await bus.publish(subjects.inbound(email.channel), email, msg_id="email:<root@mail.example.com>")
    await barrier(bus, subjects.DURABLE_ROUTER, stream=subjects.STREAM_CONTACTS_IN, timeout=15)  # the email is routed
    await barrier(bus, subjects.DURABLE_INBOX, stream=subjects.STREAM_EVENTS, timeout=15)  # and its history stored
    await bus.close()
    await page.select_option("#merge-channel", "email")
    await page.fill("#merge-identity", "li@example.com")
    await page.click("#merge")
    await expect(page.locator("#merge-question")).to_contain_text("li@example.com")
    await page.click("#merge-confirm")
    await expect(page.locator("#customer .identity")).to_have_count(2, timeout=10_000)
    await expect(page.locator(".msg.history .body").filter(has_text="I also wrote by email")).to_be_visible(timeout=10_000)

    # 5. Wrap up with a disposition from the list; the agent's own KPIs and the supervisor's wallboard show it.
    await page.select_option("#disposition", "order_status")
    await page.click("#wrapup")
    await expect(page.locator("#composer")).to_be_hidden()
    await expect(page.locator("#toast")).to_have_text("Wrapped up")
    await page.click("#tab-perf")
    handled = page.locator('[data-kpi="handled"] .value')

    async def counted() -> bool:
        shown = await handled.all_text_contents()
        if shown == ["1"]:
            return True
        await perf_afresh(page)
        raise AssertionError(f"handled today shows {shown}")
    # quality counts the wrap-up after its ingest batch, which under a loaded -n 4 run took over 20 s once
    await eventually(counted, timeout=60)
    await expect(page.locator('[data-kpi="csat"] .value')).to_have_text("no data yet")  # no survey answered
    await expect(page.locator("#perf-trend")).to_be_visible()

    # a QA specialist scores the conversation; the agent sees it and disputes it
    qa1 = h.credentials.headers(identity.QUALITY_AUDIENCE, identity.Actor("qa1", "supervisor"))
    async with aiohttp.ClientSession(headers=qa1) as http:
        convs = await (await http.get(f"{h.url('quality')}/api/kpis", params={"group_by": "agent"})).json()
        assert any(r["key"] == "alice" for r in convs["rows"])
        created = await http.post(f"{h.url('quality')}/api/evaluations", json={
            "conversation_id": "cnv_demo", "agent_id": "alice", "comments": "Missed the greeting",
            "answers": {"greeting": 2, "tone": 5, "no_rudeness": 1, "correct": 5, "policy": 1, "verified": 5,
                        "recorded": 5, "efficient": 5}})
        assert created.status == 201
    await page.click("#tab-inbox")
    await page.click("#tab-perf")
    item = page.locator(".qa-item")
    await expect(item).to_have_count(1, timeout=10_000)
    await item.get_by_label("Why do you disagree?").fill("I did greet the customer")
    # leaving and coming back re-renders the list: the half-written reason is kept
    await page.click("#tab-inbox")
    await page.click("#tab-perf")
    await expect(item.locator("input")).to_have_value("I did greet the customer")
    await item.locator("button.dispute").click()
    await expect(page.locator(".qa-item.disputed")).to_have_count(1, timeout=10_000)
    await shot(page, "desktop-performance")

    # a supervisor-only API refuses an agent, and the agent has no wallboard tab
    status = await page.evaluate("fetch('/api/supervisor/wallboard').then(r => r.status)")
    assert status == 403
    assert await page.locator("#tab-wall").count() == 0

    sup = await login(browser, base, "sam", problems=problems)
    await sup.click("#tab-wall")
    tile = sup.locator('[data-queue="support"]')
    await expect(tile).to_be_visible(timeout=10_000)
    await expect(tile.locator('[data-figure="answered"] dd')).to_have_text("1")  # quality's count today
    await expect(tile.locator('[data-figure="abandoned"] dd')).to_have_text("0")
    await expect(sup.locator("#wall-agents tbody tr")).to_have_count(4)  # alice, bob and the spares carol and dan
    # the charts by interval hold what the tiles count (quality keys intervals in local time, the board in UTC)
    board = await sup.evaluate("fetch('/api/supervisor/wallboard').then(r => r.json())")
    answered = sum(q["answered"] or 0 for q in board["queues"])
    assert answered >= 1 and sum(i["answered"] for i in board["intervals"]) == answered, board["intervals"]
    await shot(sup, "desktop-wallboard")
    await sup.click("#tab-kb")  # answers are written on the knowledge-base page
    await sup.click("#kb-new")
    await sup.fill("#kb-title", "Delivery times")
    await sup.fill("#kb-body", "Orders ship within 24 hours; delivery takes 2-3 working days.")
    await sup.click("#kb-save")
    await expect(sup.locator("#toast")).to_have_text("Saved")
    await sup.click("#tab-wall")
    answers = await page.evaluate("fetch('/api/kb?q=delivery').then(r => r.json())")  # the agent finds it
    assert [a["title"] for a in answers] == ["Delivery times"]
    await sup.select_option("#lang", "zh-CN")
    await expect(sup.locator("#tab-wall")).to_have_text("监控大屏")
    await expect(tile.locator('[data-figure="answered"] dt')).to_have_text("已接")
    await expect(tile.locator('[data-figure="answered"] dd')).to_have_text("1")
    await shot(sup, "desktop-wallboard-zh")
    expected = ("401", "403", "ERR_CONNECTION_REFUSED")  # the refused calls above, and the inbox's restart in step 4
    assert [p for p in problems if not any(e in p for e in expected)] == []

    # On the shared hub no later test may be offered this test's work: alice closes the email of step 4b too
    # (offered to her since, and offered to another agent if it timed out), and steps away.
    await page.click("#tab-inbox")
    await page.locator(".offer .accept").click()
    await expect(page.locator("#composer")).to_be_visible(timeout=10_000)
    await page.select_option("#disposition", "order_status")
    await page.click("#wrapup")
    await expect(page.locator("#composer")).to_be_hidden(timeout=10_000)
    await eventually(lambda: _nothing_open(sup), timeout=15)
    await step_away(page)


async def _nothing_open(sup: Page) -> bool:
    """No open conversation on the supervisor's live board."""
    board = await sup.evaluate("fetch('/api/supervisor/live').then(r => r.json())")
    return board["conversations"] == []


# The browser's sound and notification APIs, recorded (headless Chromium has no speaker and no notification
# centre); the page counts as hidden while window.__hidden is set, as it is when the agent works in another tab.
ALERTS_RECORDER = """
window.__alerts = {tones: 0, notices: [], asked: 0};
window.__hidden = false;
Object.defineProperty(document, 'visibilityState', {get: () => window.__hidden ? 'hidden' : 'visible'});
const Osc = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) { window.__alerts.tones += 1; return Osc.apply(this, args); };
class RecordedNotification {
  static permission = 'default';
  static async requestPermission() { window.__alerts.asked += 1; RecordedNotification.permission = 'granted'; return 'granted'; }
  constructor(title, options) { window.__alerts.notices.push({title, body: options.body}); }
  close() {}
}
window.Notification = RecordedNotification;
"""


async def test_five_offers_at_once_are_all_shown_and_each_accepted(shared: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = shared
    page = await open_app(browser, h.url("inbox"))
    await page.context.add_init_script(ALERTS_RECORDER)
    await page.reload()
    await page.fill("#username", "carol")
    await page.fill("#password", PASSWORDS["carol"])
    await page.click("#login-button")
    await go_available(page)
    await page.select_option("#state", "AWAY")
    await go_available(page)
    assert await page.evaluate("window.__alerts.asked") == 1  # notification permission is asked once
    await page.evaluate("window.__hidden = true")
    senders = [f"+861380013810{i}" for i in range(5)]
    await asyncio.gather(*(sms_in(h, fake, f"Question number {i}", sender) for i, sender in enumerate(senders)))
    offers = page.locator(".offer")
    await expect(offers).to_have_count(5, timeout=20_000)
    await expect(page).to_have_title("(5 offers) omnihub inbox")
    for i in range(5):
        card = offers.filter(has_text=f"Question number {i}")
        await expect(card).to_have_count(1)
        await expect(card.locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
        await expect(card.locator(".chip")).to_have_text("SMS")
        await expect(card).to_contain_text("Queue support")
    assert await page.evaluate("document.activeElement.classList.contains('accept')")  # focus went to an offer
    await shot(page, "desktop-five-offers")
    for i in range(5):
        await offers.filter(has_text=f"Question number {i}").locator(".accept").click()
        await expect(offers).to_have_count(4 - i, timeout=10_000)
    await expect(page.locator("#conv-list button.conv")).to_have_count(5, timeout=10_000)
    await expect(page.locator(".offer-ended")).to_have_count(0)
    # each new offer chimed (two tones) and, with the page in the background, raised a desktop notification
    alerts = await page.evaluate("window.__alerts")
    assert alerts["tones"] >= 2 and alerts["notices"], alerts
    assert {n["title"] for n in alerts["notices"]} == {"New SMS conversation"}
    assert {n["body"] for n in alerts["notices"]} <= set(senders)
    # (turning both off in the settings menu is tested in Vitest: tests/offers.test.ts)
    await step_away(page)


@pytest_asyncio.fixture(loop_scope="module")  # per test: its rules are for its hub alone
async def autopause_hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    """A hub of its own whose SMS offers last 3 s and whose agents go away after one missed offer."""
    def short_offers(h: Hub) -> None:
        routing = yaml.safe_load((h.config_dir / "routing.yaml").read_text())
        routing["defaults"]["reservation_timeout_seconds"]["sms"] = 3
        routing["defaults"]["missed_offers_before_away"] = 1
        (h.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing))

    async with sms_hub(tmp_path, mongo_url, nats_url, prepare=short_offers) as hub:
        yield hub


@pytest_asyncio.fixture(loop_scope="module")  # per test: the module's Chromium would tie this test to the shared hub's worker
async def own_browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_autopause_banner_and_one_click_back(autopause_hub: tuple[Hub, FakeTwilio], own_browser: Browser) -> None:
    h, fake = autopause_hub
    browser = own_browser
    page = await login(browser, h.url("inbox"), "alice")
    await go_available(page)
    await sms_in(h, fake, "Hello?")
    await expect(page.locator(".offer")).to_have_count(1, timeout=15_000)
    # nobody answers: the offer says it expired, and the router's autopause shows with its reason
    await expect(page.locator('.offer-ended[data-why="expired"]')).to_contain_text("expired", timeout=15_000)
    banner = page.locator("#autopause")
    await expect(banner).to_contain_text("you missed 1 offer", timeout=15_000)
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "AWAY")
    await shot(page, "desktop-autopause")
    await page.click("#autopause-available")
    await expect(banner).to_be_hidden(timeout=10_000)
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "AVAILABLE")
    await expect(page.locator("#state")).to_have_value("AVAILABLE")


async def _tab_to(page: Page, element_id: str, limit: int = 40) -> None:
    for _ in range(limit):
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} is not reachable with Tab")


async def test_keyboard_only_agent_flow(shared: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = shared
    page = await open_app(browser, h.url("inbox"))
    await expect(page.locator("#username")).to_be_focused()
    await page.keyboard.type("dan")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORDS["dan"])
    await page.keyboard.press("Enter")
    await expect(page.locator("#who")).to_be_visible(timeout=20_000)  # argon2 and session writes, on a busy CI box
    await _tab_to(page, "state")
    await page.keyboard.press("Home")  # the first choice: Available
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", "AVAILABLE", timeout=10_000)

    await sms_in(h, fake, "Can you help me by keyboard?", sender="+8613800138200")
    accept = page.locator(".offer .accept")
    await expect(accept).to_be_focused(timeout=15_000)  # focus moves to the new offer
    await page.keyboard.press("Enter")
    await expect(page.locator("#reply")).to_be_focused(timeout=10_000)
    await page.keyboard.type("Yes, I can.")
    await page.keyboard.press("Control+Enter")
    await eventually(lambda: any(m["body"] == "Yes, I can." for m in fake.messages.values()), timeout=15)

    # the list: ↑/↓ move between conversations, Enter opens
    await _tab_to(page, "filter-label")  # the last filter before the list
    await page.keyboard.press("Tab")
    await expect(page.locator("#conv-list button.conv").first).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#conv-list button.conv.active")).to_have_count(1)

    await _tab_to(page, "disposition")
    await page.keyboard.press("ArrowDown")
    await _tab_to(page, "wrapup")
    await page.keyboard.press("Enter")
    await expect(page.locator("#composer")).to_be_hidden(timeout=10_000)
    await expect(page.locator("#agent-state")).to_have_attribute("data-state", re.compile("WRAP_UP|AVAILABLE"), timeout=10_000)
    await step_away(page)
