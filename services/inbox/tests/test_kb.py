"""The knowledge base over a real inbox and SecantusDB: jieba + BM25 search, CRUD, categories, canned shortcuts, roles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from omnihub.inbox import kb, kbsearch
from omnihub.inbox.api import Inbox

from .conftest import login, running_inbox, users

USERS = users(("alice", "agent"), ("sam", "supervisor"))
DEMO = Path(__file__).resolve().parents[3] / "config" / "demo" / "kb.yaml"


@pytest.fixture
async def base(mongo_url: str, mongo_db: str) -> AsyncIterator[str]:
    """An inbox on a free port whose knowledge base holds the demo entries (the router is never asked)."""

    async def seeded(inbox: Inbox) -> None:
        assert await kb.seed(inbox.store, DEMO) == 12
        assert await kb.seed(inbox.store, DEMO) == 0  # once per database

    async with running_inbox(mongo_url, mongo_db, USERS, prepare=seeded) as running:
        yield running.base


async def titles(http: aiohttp.ClientSession, url: str) -> list[str]:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return [d["title"] for d in await resp.json()]


def test_chinese_words_come_from_jieba() -> None:
    words = kbsearch.terms("退款会在三个工作日内原路退回。Refunds, please!")
    assert "退款" in words and "工作日" in words and "refund" in words  # the English stem
    assert "。" not in words and "," not in words


async def test_a_chinese_article_is_found_by_a_word_inside_a_sentence(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await login(http, base, "alice")
        # 运单号 sits in the middle of the delivery article's second sentence, with no space around it
        assert await titles(http, f"{base}/api/kb?q=运单号") == ["配送时间"]
        found = await titles(http, f"{base}/api/kb?q=怎么开发票")
        assert found[0] == "如何开具发票"
        assert await titles(http, f"{base}/api/kb?q=退款&language=zh-CN&kind=article") == ["退款说明"]


async def test_ranking_puts_the_most_relevant_first_and_delete_removes_it(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, base, "sam")
        made = []
        for title, body in (("Store opening hours", "Stores open at nine. Warranty questions go to the warranty desk."),
                            ("Warranty claims", "A warranty claim needs the receipt. The warranty lasts two years."),
                            ("Gift cards", "Gift cards never expire and cannot be refunded.")):
            resp = await http.post(f"{base}/api/supervisor/kb", json={"title": title, "body": body,
                                                                       "category": "Stores"}, headers=csrf)
            assert resp.status == 200, await resp.text()
            made.append((await resp.json())["_id"])
        async with http.get(f"{base}/api/kb?q=warranty claim") as resp:
            ranked = await resp.json()
        assert [d["title"] for d in ranked] == ["Warranty claims", "Store opening hours"]
        assert ranked[0]["score"] > ranked[1]["score"] > 0 and "terms" not in ranked[0]
        cats = {c["category"]: c["count"] for c in await (await http.get(f"{base}/api/kb/categories")).json()}
        assert cats["Stores"] == 3 and cats["账单"] == 3
        # edit: the new words are searchable, the old ones no longer find it
        edited = await http.put(f"{base}/api/supervisor/kb/{made[2]}", headers=csrf, json={
            "title": "Vouchers", "body": "Vouchers are valid for a year.", "category": "Stores", "language": "en"})
        assert edited.status == 200 and (await edited.json())["updated_by"] == "sam"
        assert await titles(http, f"{base}/api/kb?q=gift") == []
        assert await titles(http, f"{base}/api/kb?q=vouchers") == ["Vouchers"]
        gone = await http.delete(f"{base}/api/supervisor/kb/{made[1]}", headers=csrf)
        assert gone.status == 200
        assert await titles(http, f"{base}/api/kb?q=warranty claim") == ["Store opening hours"]
        assert (await http.get(f"{base}/api/kb/{made[1]}")).status == 404
        assert (await http.delete(f"{base}/api/supervisor/kb/{made[1]}", headers=csrf)).status == 404
        assert (await http.put(f"{base}/api/supervisor/kb/kb_nope", headers=csrf,
                               json={"title": "t", "body": "b"})).status == 404


async def test_canned_responses_by_shortcut_and_their_rules(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, base, "sam")
        async with http.get(f"{base}/api/kb?kind=canned&shortcut=gr") as resp:
            greetings = await resp.json()
        assert sorted((d["language"], d["shortcut"]) for d in greetings) == [("en", "greet"), ("zh-CN", "greet")]
        no_shortcut = await http.post(f"{base}/api/supervisor/kb", headers=csrf,
                                      json={"kind": "canned", "title": "Hi", "body": "Hi!"})
        assert no_shortcut.status == 400 and "shortcut" in await no_shortcut.text()
        bad = await http.post(f"{base}/api/supervisor/kb", headers=csrf,
                              json={"kind": "canned", "title": "Hi", "body": "Hi!", "shortcut": "Hi there"})
        assert bad.status == 400 and "shortcut" in await bad.text()
        taken = await http.post(f"{base}/api/supervisor/kb", headers=csrf,
                                json={"kind": "canned", "title": "Hi", "body": "Hi!", "shortcut": "greet"})
        assert taken.status == 409 and "/greet" in await taken.text()
        other_language = await http.post(f"{base}/api/supervisor/kb", headers=csrf, json={
            "kind": "canned", "title": "Hi", "body": "Hi!", "shortcut": "track", "language": "zh-CN"})
        assert other_language.status == 200
        assert (await http.get(f"{base}/api/kb?language=fr")).status == 400
        assert (await http.get(f"{base}/api/kb?limit=0")).status == 400


async def test_agents_read_but_cannot_create_edit_or_delete(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, base, "alice")
        article = {"title": "Mine", "body": "An agent's own answer."}
        assert (await http.post(f"{base}/api/supervisor/kb", json=article, headers=csrf)).status == 403
        assert (await http.put(f"{base}/api/supervisor/kb/kb_demo_refund_en", json=article, headers=csrf)).status == 403
        assert (await http.delete(f"{base}/api/supervisor/kb/kb_demo_refund_en", headers=csrf)).status == 403
        assert await titles(http, f"{base}/api/kb?q=refunds&language=en") == ["Refunds"]  # untouched
        assert await titles(http, f"{base}/api/kb?q=mine") == []
