"""The supervisor's workspace over HTTP against a real hub: live conversations, why still waiting, reassign, forced
states, and that agents cannot use any of it (not even for their own conversations)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.waiting import eventually
from tests.e2e.hub import PASSWORDS, new_hub
from tests.e2e.test_desktop_browser import _axe, _english_leftovers, _visible_ui_text, chromium, login, shot

pytestmark = pytest.mark.slow
OUR_NUMBER = "+15550001111"


@pytest.fixture
async def hub(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    fake = FakeTwilio()
    await fake.start()
    h = new_hub(tmp_path, nats_url, mongo_url, fake)
    try:
        h.start("router", "sms", "quality", "inbox")
        yield h, fake
    finally:
        h.stop()
        await fake.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


class User:
    """A logged-in inbox session."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, name: str) -> User:
        async with self.http.post(f"{self.base}/api/login", json={"username": name, "password": PASSWORDS[name]}) as r:
            assert r.status == 200, await r.text()
            self.csrf = (await r.json())["csrf"]
        return self

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path) as r:
            return r.status, await r.json() if r.content_type == "application/json" else await r.text()

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        async with self.http.post(self.base + path, json=body, headers={"X-CSRF-Token": self.csrf}) as r:
            return r.status, await r.json() if r.content_type == "application/json" else await r.text()


async def sms_in(hub: Hub, fake: FakeTwilio, sender: str, body: str) -> None:
    resp = await fake.post_webhook(f"{hub.url('sms')}/twilio/sms", fake.inbound_sms(OUR_NUMBER, sender, body))
    assert resp.status == 200


async def live(sam: User, query: str = "") -> list[dict[str, Any]]:
    status, board = await sam.get(f"/api/supervisor/live{query}")
    assert status == 200, board
    return board["conversations"]  # type: ignore[no-any-return]


async def test_live_conversations_why_waiting_reassign_and_force_state(hub: tuple[Hub, FakeTwilio]) -> None:
    h, fake = hub
    base = h.url("inbox")
    sam, alice = await User(base).login("sam"), await User(base).login("alice")
    try:
        for sender, text in (("+8613800000101", "first"), ("+8613800000102", "second")):
            await sms_in(h, fake, sender, text)
            await eventually(functools.partial(_has, sam, text), timeout=15)  # in order: the first waits longest
        rows = await live(sam)
        assert [(r["state"], r["queue"], r["channel"], r["agent"]) for r in rows] == [("queued", "support", "sms", "")] * 2
        assert [r["preview"] for r in rows] == ["first", "second"], rows  # the longest wait first
        first, second = rows[0]["id"], rows[1]["id"]
        assert await live(sam, "?channel=webchat") == []
        assert await live(sam, "?min_wait=3600") == []
        assert len(await live(sam, "?queue=support&state=queued&channel=sms")) == 2
        assert (await sam.get("/api/supervisor/live?min_wait=-1"))[0] == 400
        assert (await sam.get("/api/supervisor/live?state=lost"))[0] == 400

        # Why still waiting: alice and bob have the skill but neither is logged in.
        status, why = await sam.get(f"/api/supervisor/conversations/{first}/waiting")
        assert status == 200, why
        assert (why["reason"], why["position"], why["agents_with_skill"]) == ("none_logged_in", 1, 2)
        assert {a["agent_id"]: a["detail"] for a in why["agents"]} == {"alice": "offline", "bob": "offline"}

        # Read-only view: the conversation and its history.
        status, opened = await sam.get(f"/api/supervisor/conversations/{first}")
        assert status == 200 and [m["text"] for m in opened["messages"]] == ["first"]

        # Alice goes available: both are offered to her (SMS capacity is several), and the list shows it.
        assert (await alice.post("/api/state", {"state": "AVAILABLE"}))[0] == 200
        await eventually(lambda: _states(sam, {"offered"}), timeout=15)
        assert {r["agent_name"] for r in await live(sam)} == {"Alice Chen"}
        assert len(await live(sam, "?agent=alice")) == 2 and await live(sam, "?agent=bob") == []
        status, why = await sam.get(f"/api/supervisor/conversations/{first}/waiting")
        assert why["reason"] == "not_waiting"
        status, decisions = await sam.get(f"/api/supervisor/conversations/{first}/why")
        assert status == 200 and decisions[0]["chosen_agent"] == "alice"

        # Agents may not use the supervisor's routes, not even for a conversation offered to them.
        for path in ("/api/supervisor/live", f"/api/supervisor/conversations/{first}",
                     f"/api/supervisor/conversations/{first}/waiting"):
            assert (await alice.get(path))[0] == 403, path
        assert (await alice.post(f"/api/supervisor/conversations/{first}/reassign", {"to_queue": "sales"}))[0] == 403

        # Reassign to another queue, and force alice's state from the page's routes.
        status, moved = await sam.post(f"/api/supervisor/conversations/{second}/reassign", {"to_queue": "sales"})
        assert status == 200, moved
        await eventually(lambda: _queue_of(sam, second, "sales"), timeout=15)
        status, _ = await sam.post("/api/supervisor/agents/alice/state", {"state": "AWAY", "reason": "supervisor"})
        assert status == 200
        status, board = await sam.get("/api/supervisor/live")
        assert {a["id"]: (a["state"], a["reason"]) for a in board["agents"]}["alice"] == ("AWAY", "supervisor")
    finally:
        await sam.http.close()
        await alice.http.close()


async def _has(sam: User, preview: str) -> bool:
    return any(r["preview"] == preview for r in await live(sam))


async def _states(sam: User, states: set[str]) -> bool:
    rows = await live(sam)
    return len(rows) == 2 and {r["state"] for r in rows} <= states


async def _queue_of(sam: User, cid: str, queue: str) -> bool:
    return any(r["id"] == cid and r["queue"] == queue for r in await live(sam))


@pytest.mark.browser
async def test_the_live_page_in_the_browser(hub: tuple[Hub, FakeTwilio], browser: Browser) -> None:
    h, fake = hub
    base = h.url("inbox")
    page = await login(browser, base, "sam", bypass_csp=True)  # axe is injected: this context alone bypasses CSP
    await page.click("#tab-live")
    await expect(page.locator("#live-count")).to_have_text("No open conversation", timeout=10_000)

    # A customer texts: the row appears without a reload, and its wait keeps counting.
    await sms_in(h, fake, "+8613800000201", "Where is my parcel?")
    rows = page.locator("#live-table tbody tr")
    await expect(rows).to_have_count(1, timeout=15_000)
    await expect(rows.first).to_contain_text("Waiting")
    wait = rows.first.locator(".wait")
    start = int(await wait.get_attribute("data-seconds") or 0)
    await expect(wait).not_to_have_attribute("data-seconds", str(start), timeout=5_000)

    # Open it read-only: the transcript, then why it is still waiting, one click away.
    await rows.first.locator("button.open").click()
    await expect(page.locator("#live-timeline .msg.incoming .body")).to_have_text("Where is my parcel?", timeout=10_000)
    assert await page.locator("#reply, #send").count() == 0  # read-only: no composer
    await page.click("#why-waiting")
    why = page.locator("#live-why-waiting")
    await expect(why).to_have_attribute("data-reason", "none_logged_in", timeout=10_000)
    await expect(why).to_contain_text("No agent with the required skills is logged in.")
    await expect(why).to_contain_text("alice: Offline, not logged in")
    assert await _axe(page) == []
    await shot(page, "supervisor-live")

    # Monitor: the customer writes again; the open transcript shows it live.
    await sms_in(h, fake, "+8613800000201", "Hello?")
    await expect(page.locator("#live-timeline .msg.incoming")).to_have_count(2, timeout=15_000)

    # Alice goes available: the row shows her without a reload; why this agent lists the candidates.
    alice = await User(base).login("alice")
    try:
        assert (await alice.post("/api/state", {"state": "AVAILABLE"}))[0] == 200
    finally:
        await alice.http.close()
    await expect(rows.first).to_contain_text("Alice Chen", timeout=15_000)
    await page.click("#why-agent")
    await expect(page.locator("#live-why-agent tr.chosen")).to_contain_text("alice", timeout=10_000)

    # Reassign it to a queue from the page; force alice's state from the page.
    await page.select_option("#live-reassign", "queue:sales")
    await page.click("#live-reassign-go")
    await expect(rows.first.locator("td").nth(2)).to_have_text("sales", timeout=15_000)
    await page.select_option("#live-agent", "alice")
    await page.select_option("#live-agent", "")

    # The same page in Chinese: no English left, and axe is still content.
    await page.select_option("#lang", "zh-CN")
    await expect(page.locator("#live-title")).to_have_text("实时会话")
    await page.click("#why-waiting")
    await expect(page.locator("#live-why-waiting")).to_be_visible()
    assert _english_leftovers(await _visible_ui_text(page)) == []
    assert await _axe(page) == []
    await shot(page, "supervisor-live-zh")
