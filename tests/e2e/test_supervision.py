"""The supervisor's workspace over HTTP against a real hub: live conversations, why still waiting, reassign, forced
states, monitor/whisper/barge, teams, and that agents cannot use any of it (not even for their own conversations)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, expect

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from omnihub.testkit.waiting import barrier, eventually, read_events, read_messages
from tests.e2e.browser import (
    axe,
    chromium,
    english_leftovers,
    login,
    shot,
    visible_ui_text,
)
from tests.e2e.hub import PASSWORDS, sms_hub

# One hub and one Chromium for the module, on the module's loop (its tests run one after another on one worker).
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]
OUR_NUMBER = "+15550001111"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, mongo_url: str) -> AsyncIterator[tuple[Hub, FakeTwilio]]:
    """One hub for both tests (alice and bob its only agents: the API test counts those with the skill). Each test
    starts from an empty live board with both agents logged out: the live page's test, first, closes its conversation
    and logs alice out at its end. It has its own nats-server, as the function-scoped `nats_url` wipes the session
    server's streams between tests."""
    async with sms_hub(tmp_path_factory.mktemp("supervision"), mongo_url) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def hub_bus(hub: tuple[Hub, FakeTwilio]) -> AsyncIterator[Bus]:
    """A bus on the module hub's nats-server (the `bus` fixture's is the session server)."""
    b = await Bus.connect(hub[0].nats_url, name="test")
    await b.ensure_streams()
    yield b
    await b.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
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
    assert await axe(page) == []
    await shot(page, "supervisor-live")

    # Monitor: the customer writes again; the open transcript shows it live.
    await sms_in(h, fake, "+8613800000201", "Hello?")
    await expect(page.locator("#live-timeline .msg.incoming")).to_have_count(2, timeout=15_000)

    # Opening it started monitoring (stored as an intervention); barge from the page reaches the customer by SMS
    # and shows as the supervisor's; nobody has it yet, so whispering waits.
    await expect(page.locator("#whisper")).to_be_disabled()
    await page.fill("#intervene-text", "您好，包裹今天已从仓库发出")  # no English: the zh-CN check below reads the page
    await page.click("#barge")
    await expect(page.locator("#live-timeline .intervention.barge")).to_have_text(
        "Written by supervisor sam", timeout=15_000)
    await eventually(lambda: _texted(fake, "+8613800000201", "包裹今天已从仓库发出"), timeout=20)
    cid = (await rows.first.get_attribute("data-conv")) or ""
    sam = await User(base).login("sam")
    try:
        status, stored = await sam.get(f"/api/supervisor/conversations/{cid}/interventions")
        assert status == 200 and [(i["action"], i["supervisor_id"]) for i in stored["interventions"]] == [
            ("monitor_start", "sam"), ("barge", "sam")]
    finally:
        await sam.http.close()

    # Alice goes available in her desktop and accepts: the row shows her without a reload. Sam whispers from the
    # page: alice's desktop says a supervisor is present and shows the whisper as his, never the customer's phone.
    agent = await login(browser, base, "alice")
    await agent.select_option("#state", "AVAILABLE")  # the waiting conversation is offered at once (BUSY)
    await expect(agent.locator(".offer")).to_have_count(1, timeout=15_000)
    await agent.locator(".offer .accept").click()
    await expect(rows.first).to_contain_text("Alice Chen", timeout=15_000)
    await page.fill("#intervene-text", "先核对订单号")
    await expect(page.locator("#whisper")).to_be_enabled(timeout=10_000)
    await page.click("#whisper")
    await expect(agent.locator("#supervisor-present [data-supervisor='sam']")).to_have_attribute(
        "data-action", "whisper", timeout=15_000)
    await expect(agent.locator("#supervisor-present")).to_contain_text("whispered to you")
    await expect(agent.locator(".intervention.whisper")).to_have_text("Whisper from supervisor sam", timeout=15_000)
    await expect(agent.get_by_text("先核对订单号")).to_be_visible()
    assert not _texted(fake, "+8613800000201", "先核对订单号")
    await agent.context.close()
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
    assert english_leftovers(await visible_ui_text(page)) == []
    assert await axe(page) == []
    await shot(page, "supervisor-live-zh")
    await close_and_log_out(base, cid)  # the next test on this hub starts from an empty board, alice logged out


async def close_and_log_out(base: str, cid: str) -> None:
    """sam hands the conversation back to alice, who accepts it, wraps it up and logs out."""
    sam, alice = await User(base).login("sam"), await User(base).login("alice")
    try:
        ws = await alice.http.ws_connect(base.replace("http", "ws") + "/ws/agent")
        status, moved = await sam.post(f"/api/supervisor/conversations/{cid}/reassign", {"to_agent": "alice"})
        assert status == 200, moved
        assert (await alice.post("/api/state", {"state": "AVAILABLE"}))[0] == 200
        offer = await next_of(ws, "offer", lambda o: o["conversation"]["id"] == cid)
        status, conv = await alice.post(f"/api/offers/{offer['reservation_id']}/accept", {})
        assert status == 200, conv
        status, done = await alice.post(f"/api/conversations/{cid}/wrapup", {"disposition": "order_status"})
        assert status == 200, done
        await ws.close()
        await eventually(lambda: _nothing_open(sam), timeout=15)  # once its wrap-up time is over
        status, out = await alice.post("/api/logout", {})
        assert status == 200, out
        status, board = await sam.get("/api/supervisor/live")
        assert status == 200 and board["conversations"] == [], board
        assert {a["id"]: a["state"] for a in board["agents"]} == {"alice": "OFFLINE", "bob": "OFFLINE"}
    finally:
        await sam.http.close()
        await alice.http.close()


async def _nothing_open(sam: User) -> bool:
    return await live(sam) == []


async def test_live_conversations_why_waiting_reassign_force_state_and_interventions(
        hub: tuple[Hub, FakeTwilio], hub_bus: Bus) -> None:
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
    await monitor_whisper_and_barge(h, fake, hub_bus)  # on this hub: one hub start less for the suite


async def _has(sam: User, preview: str) -> bool:
    return any(r["preview"] == preview for r in await live(sam))


async def _states(sam: User, states: set[str]) -> bool:
    rows = await live(sam)
    return len(rows) == 2 and {r["state"] for r in rows} <= states


async def _queue_of(sam: User, cid: str, queue: str) -> bool:
    return any(r["id"] == cid and r["queue"] == queue for r in await live(sam))


# chatsup: monitor, whisper and barge on a text conversation; the agent sees who is present; teams.
async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, match: Callable[[Any], bool] = bool) -> Any:
    """The next socket message of this type whose data matches (others are skipped)."""
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), timeout=20)
        if msg["type"] == kind and match(msg["data"]):
            return msg["data"]


async def monitor_whisper_and_barge(h: Hub, fake: FakeTwilio, bus: Bus) -> None:
    """Monitor, whisper and barge reach whom they should; another team's supervisor sees nothing of it."""
    base = h.url("inbox")
    customer = "+8613800000301"
    sam, sue, alice = await User(base).login("sam"), await User(base).login("sue"), await User(base).login("alice")
    try:
        ws = await alice.http.ws_connect(base.replace("http", "ws") + "/ws/agent")
        assert (await alice.post("/api/state", {"state": "AVAILABLE"}))[0] == 200
        await sms_in(h, fake, customer, "My order never came")
        offer = await next_of(ws, "offer", lambda o: o["conversation"]["identity"]["source_id"] == customer)
        status, conv = await alice.post(f"/api/offers/{offer['reservation_id']}/accept", {})
        assert status == 200, conv
        cid = conv["id"]
        path = f"/api/supervisor/conversations/{cid}"

        # Monitor: alice's desk is told at once that sam is present, and can ask who is.
        assert (await sam.post(f"{path}/monitor", {"active": True}))[0] == 200
        notice = await next_of(ws, "supervisor")
        assert (notice["action"], notice["supervisor_name"], notice["conversation_id"]) == ("monitor_start", "Sam Wong", cid)
        status, present = await alice.get(f"/api/conversations/{cid}/supervisors")
        assert status == 200 and present["supervisors"] == [
            {"supervisor_id": "sam", "supervisor_name": "Sam Wong", "action": "monitor_start"}]

        # Whisper: alice sees it as from sam, a private note; it never goes to the customer's channel.
        status, whisper = await sam.post(f"{path}/whisper", {"text": "Offer the express refund"})
        assert status == 200, whisper
        seen = await next_of(ws, "message", lambda m: m["_id"] == whisper["id"])
        assert (seen["intervention"], seen["agent_id"], seen["private"], seen["direction"]) == (
            "whisper", "sam", True, "activity")

        # Barge: the customer gets sam's text over SMS; the transcript marks it as the supervisor's.
        status, barge = await sam.post(f"{path}/barge", {"text": "Sam here, the supervisor: refund is on its way"})
        assert status == 200, barge
        await eventually(lambda: _texted(fake, customer, "Sam here, the supervisor"), timeout=20)
        seen = await next_of(ws, "message", lambda m: m["_id"] == barge["id"])
        assert (seen["intervention"], seen["agent_id"], seen["direction"]) == ("barge", "sam", "outgoing")
        await barrier(bus, subjects.outbound_durable(contact_pb2.CHANNEL_SMS), stream=subjects.STREAM_CONTACTS_OUT)
        assert not any("express refund" in m["body"] for m in fake.messages.values())  # never sent to the customer
        sent = await read_messages(bus, subjects.outbound(contact_pb2.CHANNEL_SMS), stream=subjects.STREAM_CONTACTS_OUT)
        texts = [messaging_pb2.OutboundMessage.FromString(m.data).text for m in sent]
        assert any(t.startswith("Sam here") for t in texts) and not any("express refund" in t for t in texts)
        status, history = await alice.get(f"/api/conversations/{cid}/messages")
        assert [(m["text"], m["intervention"]) for m in history["messages"] if m["intervention"]] == [
            ("Offer the express refund", "whisper"), ("Sam here, the supervisor: refund is on its way", "barge")]

        # Monitor stop: alice is told, nobody is present. Every intervention is an event, and stored.
        assert (await sam.post(f"{path}/monitor", {"active": False}))[0] == 200
        await next_of(ws, "supervisor", lambda n: n["action"] == "monitor_stop")
        assert (await alice.get(f"/api/conversations/{cid}/supervisors"))[1]["supervisors"] == []
        events = await read_events(bus, "supervisor_intervened", until=lambda es: sum(
            e.conversation_id == cid for e in es) >= 4)
        mine = [e.supervisor_intervened for e in events if e.conversation_id == cid]
        assert [(messaging_pb2.Intervention.Name(i.action), i.supervisor_id, i.agent_id) for i in mine] == [
            (f"INTERVENTION_{a}", "sam", "alice") for a in ("MONITOR_START", "WHISPER", "BARGE", "MONITOR_STOP")]
        assert mine[1].message_id == whisper["id"] and mine[2].message_id == barge["id"]
        status, stored = await sam.get(f"{path}/interventions")
        assert status == 200 and [i["action"] for i in stored["interventions"]] == [
            "monitor_start", "whisper", "barge", "monitor_stop"]

        # Agents may not intervene; bad bodies are 400s; another team's supervisor sees nothing of it.
        for verb, body in (("monitor", {"active": True}), ("whisper", {"text": "x"}), ("barge", {"text": "x"})):
            assert (await alice.post(f"{path}/{verb}", body))[0] == 403
            assert (await sue.post(f"{path}/{verb}", body))[0] == 403
        assert (await sam.post(f"{path}/whisper", {"text": ""}))[0] == 400
        assert (await sam.post(f"{path}/monitor", {}))[0] == 400
        assert (await sue.get(path))[0] == 403 and (await sue.get(f"{path}/interventions"))[0] == 403
        assert all(r["id"] != cid for r in await live(sue)) and any(r["id"] == cid for r in await live(sam))
        # kim supervises alice's team: she sees the conversation and alice, and may whisper; sue sees neither.
        kim = await User(base).login("kim")
        try:
            assert any(r["id"] == cid for r in await live(kim))
            assert {a["id"] for a in (await kim.get("/api/supervisor/live"))[1]["agents"]} == {"alice", "bob"}
            assert (await sue.get("/api/supervisor/live"))[1]["agents"] == []
            assert (await kim.get(path))[0] == 200 and (await kim.post(f"{path}/whisper", {"text": "ok"}))[0] == 200
            assert (await sue.post("/api/supervisor/agents/alice/state", {"state": "AWAY"}))[0] == 403
        finally:
            await kim.http.close()
        await ws.close()
    finally:
        for user in (sam, sue, alice):
            await user.http.close()


def _texted(fake: FakeTwilio, to: str, text: str) -> bool:
    return any(m["to"] == to and text in m["body"] for m in fake.messages.values())
