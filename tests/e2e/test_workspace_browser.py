"""The supervisor workspace's knowledge base and QA pages in real headless Chromium, on one hub for the module."""

from __future__ import annotations

import asyncio
import io
import shutil
import threading
import time
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from pymongo import MongoClient

from omnihub.common import identity
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub as Hub
from tests.e2e.browser import axe, chromium, english_leftovers, login, shot, visible_ui_text
from tests.e2e.hub import PASSWORDS, new_hub

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilio]:
    """The Twilio double on its own event loop in a thread, for the whole module (recordings for QA)."""
    fake, loop = FakeTwilio(), asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, nats_session_url: str, mongo_url: str,
        twilio: FakeTwilio) -> Iterator[Hub]:
    """Router, quality and inbox with the demo knowledge base, shared by this module's tests; the inbox fetches
    call recordings from the Twilio double with the account's credentials."""
    h = new_hub(tmp_path_factory.mktemp("workspace"), nats_session_url, mongo_url)
    shutil.copy(ROOT / "config" / "demo" / "kb.yaml", h.config_dir / "kb.yaml")
    h.extra["inbox"] |= {"OMNIHUB_TWILIO_ACCOUNT_SID": twilio.account_sid, "OMNIHUB_TWILIO_AUTH_TOKEN": twilio.auth_token,
                         "OMNIHUB_TWILIO_API_BASE_URL": twilio.base_url}
    try:
        h.start("router", "quality", "inbox")
        yield h
    finally:
        h.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


async def test_knowledge_base_page_for_supervisors_and_agents(hub: Hub, browser: Browser) -> None:
    sup = await login(browser, hub.url("inbox"), "sam")
    await sup.click("#tab-kb")
    entries = sup.locator("#kb-list .kb-entry")
    await expect(entries).to_have_count(12, timeout=10_000)  # the demo's articles and canned responses
    # a Chinese article found by a word in the middle of a sentence, most relevant first
    await sup.fill("#kb-q", "运单号")
    await expect(entries).to_have_count(1)
    await expect(entries.first.locator("h3")).to_have_text("配送时间")
    await sup.fill("#kb-q", "")
    await sup.select_option("#kb-kind", "canned")
    await expect(entries).to_have_count(6)
    # a new canned response; its shortcut must be unused in its language (the server says so)
    await sup.click("#kb-new")
    await sup.select_option("#kb-form-kind", "canned")
    await sup.select_option("#kb-form-language", "zh-CN")
    await sup.fill("#kb-form-category", "物流")
    await sup.fill("#kb-shortcut", "greet")
    await sup.fill("#kb-title", "发货通知")
    await sup.fill("#kb-body", "您的包裹已经发出，运单号会通过短信发送给您。")
    await sup.click("#kb-save")
    await expect(sup.locator(".kb .error")).to_contain_text("/greet")
    await sup.fill("#kb-shortcut", "shipped")
    await sup.click("#kb-save")
    await expect(sup.locator("#toast")).to_have_text("Saved")
    await expect(entries).to_have_count(7)
    await sup.fill("#kb-q", "运单号")
    await expect(entries).to_have_count(1)  # still only canned responses
    await sup.select_option("#kb-kind", "")
    await expect(entries).to_have_count(2)
    # edit, then delete with a confirmation: gone from the search
    item = sup.locator(".kb-entry", has_text="发货通知")
    await item.locator(".kb-edit").click()
    await sup.fill("#kb-title", "发货提醒")
    await sup.click("#kb-save")
    await expect(sup.locator(".kb-entry", has_text="发货提醒")).to_have_count(1)
    await sup.locator(".kb-entry", has_text="发货提醒").locator(".kb-delete").click()
    await sup.locator(".kb-entry", has_text="发货提醒").locator(".kb-confirm").click()
    await expect(sup.locator("#toast")).to_have_text("Deleted")
    await expect(entries).to_have_count(1)
    await shot(sup, "kb-supervisor")

    agent = await login(browser, hub.url("inbox"), "alice")
    await agent.click("#tab-kb")
    await expect(agent.locator("#kb-list .kb-entry")).to_have_count(12)
    assert await agent.locator("#kb-new, .kb-edit, .kb-delete").count() == 0  # agents read
    status = await agent.evaluate("fetch('/api/supervisor/kb/kb_demo_refund_en', {method: 'DELETE'}).then(r => r.status)")
    assert status in (403,)  # refused before the CSRF check matters: /api/supervisor/ is not for agents
    await agent.fill("#kb-q", "refund")
    await expect(agent.locator("#kb-list .kb-entry").first.locator("h3")).to_have_text("Refunds")


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
async def test_knowledge_base_page_is_accessible_and_translated(hub: Hub, browser: Browser, lang: str) -> None:
    sup = await login(browser, hub.url("inbox"), "sam", lang=lang, bypass_csp=True)
    await sup.click("#tab-kb")
    await expect(sup.locator("#kb-list .kb-entry").first).to_be_visible(timeout=10_000)
    await sup.click("#kb-new")
    await sup.select_option("#kb-form-kind", "canned")
    await sup.locator(".kb-delete").first.click()  # the confirmation too
    assert await axe(sup) == []
    if lang == "zh-CN":
        await sup.select_option("#kb-language", "zh-CN")  # the English demo entries are content, not UI
        await expect(sup.locator("#kb-list .kb-entry")).to_have_count(6)
        assert english_leftovers(await visible_ui_text(sup)) == []
        await shot(sup, "kb-zh")


def seed_conversation(hub: Hub, mongo_url: str, cid: str, agent: str, customer: str, text: str,
                      recording: str = "") -> None:
    """A handled conversation as quality stores it, and its messages as the inbox stores them (the ingest paths
    have their own tests; this page reads what they write)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_url)
    try:
        client[hub.extra["quality"]["OMNIHUB_QUALITY_DB"]]["conversations"].insert_one({
            "_id": cid, "agent": agent, "channel": "voice" if recording else "sms", "queue": "support",
            "customer_id": customer, "created": time.time() - 600, "handled": True, "recording_uri": recording})
        client[hub.extra["inbox"]["OMNIHUB_INBOX_DB"]]["messages"].insert_many([
            {"_id": f"{cid}_in", "conversation_id": cid, "customer_id": customer, "time": time.time() - 590,
             "text": text, "direction": "incoming"},
            {"_id": f"{cid}_out", "conversation_id": cid, "customer_id": customer, "time": time.time() - 580,
             "text": "Let me check that for you.", "direction": "outgoing", "agent_id": agent}])
    finally:
        client.close()


async def test_qa_workspace_evaluation_in_the_browser_carries_the_logged_in_evaluator(
        hub: Hub, browser: Browser, mongo_url: str) -> None:
    seed_conversation(hub, mongo_url, "cnv_qa_alice", "alice", "cus_qa_1", "Where is my parcel?")
    seed_conversation(hub, mongo_url, "cnv_qa_bob", "bob", "cus_qa_2", "I want a refund")
    sup = await login(browser, hub.url("inbox"), "sam")
    await sup.click("#tab-qa")
    await sup.select_option("#qa-policy", "weekly")
    await sup.fill("#qa-seed", "7")
    await sup.click("#qa-draw")
    item = sup.locator('#qa-queue li[data-conversation="cnv_qa_alice"]')
    await expect(item).to_be_visible(timeout=10_000)
    await expect(item.locator(".qa-seed")).to_have_text("Weekly sample, seed 7")
    await item.locator(".qa-open").click()
    await expect(sup.locator("#qa-transcript li")).to_have_count(2)
    await expect(sup.locator("#qa-transcript")).to_contain_text("Where is my parcel?")
    for select in await sup.locator("#qa-scorecard select").all():
        options = await select.locator("option:not([disabled])").all_inner_texts()
        await select.select_option(label=options[-1])  # full marks
    await sup.select_option("#qa-q-tone", label="3 of 5")
    await sup.fill("#qa-comments", "Friendly, a little curt at the end")
    await sup.click("#qa-submit")
    await expect(sup.locator("#qa-result")).to_contain_text("by sam")
    await expect(item).to_have_count(0)  # scored: no longer in sam's queue
    async with aiohttp.ClientSession() as http:  # what quality stored, read as an admin
        resp = await http.get(f"{hub.url('quality')}/api/evaluations", params={"agent": "alice"},
                              headers=hub.credentials.headers(identity.QUALITY_AUDIENCE, identity.Actor("ada", "admin")))
        stored = await resp.json()
    assert [(e["evaluator_id"], e["agent_id"], e["conversation_id"]) for e in stored] == [
        ("sam", "alice", "cnv_qa_alice")]
    assert 0 < stored[0]["score"] < 100
    # a calibration session over both conversations: no alpha yet, and the page says so
    await sup.fill("#qa-cal-name", "Monday calibration")
    await sup.fill("#qa-cal-ids", "cnv_qa_alice, cnv_qa_bob")
    await sup.click("#qa-cal-open")
    row = sup.locator("#qa-calibrations tbody tr", has_text="Monday calibration")
    await expect(row.locator(".qa-reading")).to_have_text("not enough scores yet")
    await expect(row.locator(".qa-alpha")).to_have_text("—")
    # alice disputes; sam sees the dispute and resolves it
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as alice:
        resp = await alice.post(f"{hub.url('inbox')}/api/login", json={"username": "alice",
                                                                     "password": PASSWORDS["alice"]})
        csrf = {"X-CSRF-Token": (await resp.json())["csrf"]}
        disputed = await alice.post(f"{hub.url('inbox')}/api/evaluations/{stored[0]['_id']}/dispute", headers=csrf,
                                    json={"note": "I answered every question"})
        assert disputed.status == 200, await disputed.text()
    await sup.click("#tab-inbox")
    await sup.click("#tab-qa")
    dispute = sup.locator(f'#qa-disputes li[data-eval="{stored[0]["_id"]}"]')
    await expect(dispute).to_contain_text("I answered every question")
    await dispute.get_by_label("Resolution").fill("Re-scored after listening again")
    await dispute.get_by_label("New score (optional)").fill("92")
    await dispute.locator(".qa-resolve").click()
    await expect(sup.locator("#toast")).to_have_text("Dispute resolved")
    await expect(dispute).to_have_count(0)
    await shot(sup, "qa-workspace")


@pytest.mark.parametrize("lang", ["en-US", "zh-CN"])
async def test_qa_workspace_is_accessible_and_translated(hub: Hub, browser: Browser, lang: str, mongo_url: str) -> None:
    cid = f"cnv_qa_axe_{lang}"
    seed_conversation(hub, mongo_url, cid, "alice", f"cus_{lang}", "你好，我的包裹在哪里？")
    sup = await login(browser, hub.url("inbox"), "sam", lang=lang, bypass_csp=True)
    await sup.click("#tab-qa")
    await sup.click("#qa-draw")
    await sup.locator(f'#qa-queue li[data-conversation="{cid}"] .qa-open').click()
    await expect(sup.locator("#qa-scorecard")).to_be_visible(timeout=10_000)
    assert await axe(sup) == []
    if lang == "zh-CN":
        assert english_leftovers(await visible_ui_text(sup)) == []
        await shot(sup, "qa-workspace-zh")


def wav(seconds: float) -> bytes:
    """A silent-ish mono 8 kHz PCM WAV of this length."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))
    return out.getvalue()


# chatsup (#22): the evaluator plays the call recording in the browser, fetched through the inbox's proxy.
async def test_the_call_recording_plays_in_the_browser_through_the_proxy(
        hub: Hub, browser: Browser, mongo_url: str, twilio: FakeTwilio) -> None:
    uri = twilio.add_recording(wav(1.5))
    seed_conversation(hub, mongo_url, "cnv_qa_call", "bob", "cus_qa_call", "About my bill", recording=uri)
    sup = await login(browser, hub.url("inbox"), "sam")
    await sup.click("#tab-qa")
    await sup.select_option("#qa-policy", "weekly")
    await sup.click("#qa-draw")
    await sup.locator('#qa-queue li[data-conversation="cnv_qa_call"] .qa-open').click()
    audio = sup.locator("#qa-audio")
    src = await audio.get_attribute("src")
    assert src and src.startswith("/api/supervisor/qa/conversations/cnv_qa_call/recording") and twilio.account_sid not in src
    duration = await audio.evaluate("""el => new Promise((resolve, reject) => {
        el.addEventListener("loadedmetadata", () => resolve(el.duration));
        el.addEventListener("error", () => reject(new Error("audio error " + (el.error && el.error.code))));
        el.preload = "auto"; el.load();
    })""")
    assert 1.4 < duration < 1.6, duration  # the double's 1.5 s WAV, decoded by Chromium
    ended = await audio.evaluate("""el => new Promise((resolve, reject) => {
        el.muted = true;  // autoplay rules let a muted element play without a gesture
        el.addEventListener("ended", () => resolve(true));
        el.play().catch(reject);
    })""")
    assert ended is True
    assert [r for r in twilio.requests if r[1].startswith("Recordings/")], "the inbox fetched it from Twilio"
