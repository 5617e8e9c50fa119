"""The audit trail over a real inbox and SecantusDB: logins and KB edits recorded with before/after, admins browse,
filter, page and export it as CSV, and nothing can change or delete a record."""

from __future__ import annotations

import csv
import inspect
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from omnihub.inbox import audit
from omnihub.inbox.api import Inbox
from omnihub.inbox.app import build_app
from omnihub.inbox.audit import AuditTrail

from .conftest import login, running_inbox, users

USERS = users(("alice", "agent"), ("sam", "supervisor"), ("ada", "admin"))


@pytest.fixture
async def base(mongo_url: str, mongo_db: str) -> AsyncIterator[str]:
    """An inbox on a free port with its audit trail (the router is never asked)."""

    async def with_audit(inbox: Inbox) -> None:
        await inbox.audit.setup()

    async with running_inbox(mongo_url, mongo_db, USERS, prepare=with_audit) as running:
        yield running.base




async def page(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]


async def test_logins_and_kb_edits_are_recorded_and_admins_filter_them(base: str) -> None:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as sam, aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True)) as ada:
        wrong = await sam.post(f"{base}/api/login", json={"username": "sam", "password": "guess"})
        assert wrong.status == 401
        csrf = await login(sam, base, "sam")
        made = await sam.post(f"{base}/api/supervisor/kb", headers=csrf,
                              json={"title": "Refunds", "body": "Five days.", "kind": "article"})
        doc_id = (await made.json())["_id"]
        edited = await sam.put(f"{base}/api/supervisor/kb/{doc_id}", headers=csrf,
                               json={"title": "Refunds", "body": "Three days.", "kind": "article"})
        assert edited.status == 200
        assert (await sam.delete(f"{base}/api/supervisor/kb/{doc_id}", headers=csrf)).status == 200
        async with sam.get(f"{base}/api/admin/audit") as refused:
            assert refused.status == 403  # supervisors may not read the trail
        await login(ada, base, "ada")

        kb = (await page(ada, f"{base}/api/admin/audit?action=kb."))["records"]
        assert [r["action"] for r in kb] == ["kb.delete", "kb.update", "kb.create"]  # newest first
        assert all(r["actor"] == "sam" and r["role"] == "supervisor" and r["target"] == doc_id for r in kb)
        assert kb[2]["before"] is None and kb[2]["after"]["body"] == "Five days."
        assert kb[1]["before"]["body"] == "Five days." and kb[1]["after"]["body"] == "Three days."
        assert kb[0]["before"]["body"] == "Three days." and kb[0]["after"] is None

        failed = (await page(ada, f"{base}/api/admin/audit?action=auth.login_failed"))["records"]
        assert [(r["actor"], r["outcome"], r["after"]["reason"]) for r in failed] == [
            ("sam", "refused", "wrong username or password")]
        assert failed[0]["address"] == "127.0.0.1"
        logins = (await page(ada, f"{base}/api/admin/audit?action=auth.login"))["records"]
        assert [(r["actor"], r["role"]) for r in logins] == [("ada", "admin"), ("sam", "supervisor")]
        mine = (await page(ada, f"{base}/api/admin/audit?actor=ada"))["records"]
        assert [r["action"] for r in mine] == ["auth.login"]

        first = await page(ada, f"{base}/api/admin/audit?limit=2")  # paging: newest two, then the rest
        rest = await page(ada, f"{base}/api/admin/audit?limit=50&cursor={first['next']}")
        assert first["next"] and not rest["next"]
        ids = [r["id"] for r in first["records"]] + [r["id"] for r in rest["records"]]
        assert len(ids) == 6 == len(set(ids)) and ids == sorted(ids, reverse=True)
        async with ada.get(f"{base}/api/admin/audit?limit=0&since=-1") as bad:
            assert bad.status == 400 and "limit" in await bad.text()


async def test_the_export_is_csv_guards_formulas_and_is_itself_recorded(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await http.post(f"{base}/api/login", json={"username": "=HYPERLINK(\"x\")", "password": "p"})
        await login(http, base, "ada")
        async with http.get(f"{base}/api/admin/audit/export?action=auth.") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/csv")
            assert "attachment" in resp.headers["Content-Disposition"]
            rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        assert [r["action"] for r in rows] == ["auth.login", "auth.login_failed"]
        assert rows[1]["actor"] == "'=HYPERLINK(\"x\")"  # a spreadsheet shows it, never runs it
        assert rows[0]["time"].endswith("+00:00") and rows[0]["actor"] == "ada"
        exports = (await page(http, f"{base}/api/admin/audit?action=export.audit"))["records"]
        assert len(exports) == 1 and exports[0]["after"] == {"filters": {"action": "auth."}, "rows": 2}


async def test_no_route_and_no_store_method_changes_a_record(base: str) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await login(http, base, "ada")
        record_id = (await page(http, f"{base}/api/admin/audit"))["records"][0]["id"]
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            for path in ("/api/admin/audit", f"/api/admin/audit/{record_id}", "/api/admin/audit/export"):
                async with http.request(method, base + path, headers=csrf, json={"actor": "x"}) as resp:
                    assert resp.status in (404, 405), f"{method} {path}: {resp.status}"
        after = (await page(http, f"{base}/api/admin/audit"))["records"]
        assert [r["id"] for r in after] == [record_id] and after[0]["actor"] == "ada"
    app = build_app(Inbox({}, None, None, None, None, ""))  # type: ignore[arg-type]
    methods = {route.method for resource in app.router.resources() if resource.canonical.startswith("/api/admin/audit")
               for route in resource}
    assert methods == {"GET", "HEAD"}
    public = {name for name, _ in inspect.getmembers(AuditTrail, inspect.isfunction) if not name.startswith("_")}
    assert public == {"setup", "add", "find"}  # insert and read only
    source = inspect.getsource(audit)
    assert not any(word in source for word in ("update_one", "update_many", "replace_one", "delete_one",
                                               "delete_many", "find_one_and", "drop("))


def test_every_audited_action_is_named_in_the_models() -> None:
    from omnihub.inbox.audit_models import ACTIONS
    root = Path(audit.__file__).parent
    used = set()
    for path in root.glob("*.py"):
        text = path.read_text()
        for chunk in text.split('audit.record(request, "')[1:]:
            used.add(chunk.split('"', 1)[0])
        for chunk in text.split('record(request, "')[1:]:
            used.add(chunk.split('"', 1)[0])
    used.discard("qa.evaluation.")  # f-string: acknowledge, dispute or resolve
    assert used - set(ACTIONS) == set()
