"""Knowledge base and canned responses: list, ranked search, categories (everyone); add, edit, delete (supervisors)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from pydantic import ValidationError

from omnihub.common.bus import new_id
from omnihub.common.jsonbody import read_body
from omnihub.inbox import audit, kbsearch
from omnihub.inbox.auth import SESSION
from omnihub.inbox.models import KbBody, KbQuery
from omnihub.inbox.store import InboxStore

MAX_ENTRIES = 5000  # the whole knowledge base is ranked in memory per search: bounded
PUBLIC_FIELDS = ("_id", "kind", "title", "body", "category", "language", "shortcut", "updated_by", "updated")


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """An entry as clients see it (its indexed words stay on the server)."""
    return {k: doc.get(k, "" if k != "updated" else 0) for k in PUBLIC_FIELDS}


def entry(body: KbBody, doc_id: str, user: str) -> dict[str, Any]:
    """The stored document of a validated body, with the words it is found by."""
    title, text, category = body.title.strip(), body.body.strip(), body.category.strip()
    shortcut = body.shortcut if body.kind == "canned" else ""
    return {"_id": doc_id, "kind": body.kind, "title": title, "body": text, "category": category,
            "language": body.language, "shortcut": shortcut, "updated_by": user, "updated": time.time(),
            "terms": kbsearch.document_terms(title, text, (category, shortcut))}


class KnowledgeBase:
    """The HTTP handlers."""

    def __init__(self, store: InboxStore) -> None:
        self.store = store

    async def search(self, request: web.Request) -> web.Response:
        """GET /api/kb?q=&kind=&category=&language=&shortcut=&limit=: ranked by BM25 relevance with q."""
        try:
            query = KbQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text="; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                    for e in exc.errors())) from None
        docs = await self.store.kb_documents(query.kind, query.category.strip(), query.language,
                                             query.shortcut.strip().lower())
        if not query.q.strip():
            return web.json_response([public(d) for d in docs[:query.limit]])
        ranked = await asyncio.to_thread(kbsearch.rank, query.q, [d.get("terms", []) for d in docs])
        return web.json_response([public(docs[i]) | {"score": round(score, 4)} for i, score in ranked[:query.limit]])

    async def categories(self, request: web.Request) -> web.Response:
        """GET /api/kb/categories."""
        return web.json_response(await self.store.kb_categories())

    async def one(self, request: web.Request) -> web.Response:
        """GET /api/kb/{id}."""
        doc = await self.store.kb_document(request.match_info["id"])
        if doc is None:
            raise web.HTTPNotFound(text="no such article")
        return web.json_response(public(doc))

    async def create(self, request: web.Request) -> web.Response:
        """POST /api/supervisor/kb {kind, title, body, category, language, shortcut[, id]}: add (an id replaces)."""
        body = await read_body(request, KbBody)
        doc_id = body.id or new_id("kb")
        if await self.store.kb_document(doc_id) is None and await self.store.kb_count() >= MAX_ENTRIES:
            raise web.HTTPConflict(text=f"the knowledge base holds its maximum of {MAX_ENTRIES} entries")
        return await self._save(request, body, doc_id, request[SESSION].user)

    async def update(self, request: web.Request) -> web.Response:
        """PUT /api/supervisor/kb/{id}: edit an existing entry."""
        doc_id = request.match_info["id"]
        body = await read_body(request, KbBody)
        if await self.store.kb_document(doc_id) is None:
            raise web.HTTPNotFound(text="no such article")
        return await self._save(request, body, doc_id, request[SESSION].user)

    async def delete(self, request: web.Request) -> web.Response:
        """DELETE /api/supervisor/kb/{id}: it is gone from lists and searches at once."""
        doc_id = request.match_info["id"]
        before = await self.store.kb_document(doc_id)
        if before is None or not await self.store.delete_kb(doc_id):
            raise web.HTTPNotFound(text="no such article")
        await audit.record(request, "kb.delete", doc_id, before=public(before))
        return web.json_response({"ok": True})

    async def _save(self, request: web.Request, body: KbBody, doc_id: str, user: str) -> web.Response:
        if not body.title.strip() or not body.body.strip():
            raise web.HTTPBadRequest(text="title and body are required")
        if body.kind == "canned" and not body.shortcut:
            raise web.HTTPBadRequest(text="a canned response needs a shortcut (letters, digits, - or _)")
        if body.kind == "canned":
            owner = await self.store.kb_shortcut_owner(body.shortcut, body.language)
            if owner not in (None, doc_id):
                raise web.HTTPConflict(text=f"the shortcut /{body.shortcut} is already used in {body.language}")
        doc = await asyncio.to_thread(entry, body, doc_id, user)
        old = await self.store.kb_document(doc_id)
        await self.store.save_kb(doc)
        await audit.record(request, "kb.update" if old else "kb.create", doc_id,
                           before=public(old) if old else None, after=public(doc))
        return web.json_response(public(doc))


def register(app: web.Application, store: InboxStore) -> None:
    """The knowledge base's routes (agents read; /api/supervisor/ is refused to them by the inbox's middleware)."""
    kb = KnowledgeBase(store)
    r = app.router
    r.add_get("/api/kb", kb.search)
    r.add_get("/api/kb/categories", kb.categories)
    r.add_get("/api/kb/{id}", kb.one)
    r.add_post("/api/supervisor/kb", kb.create)
    r.add_put("/api/supervisor/kb/{id}", kb.update)
    r.add_delete("/api/supervisor/kb/{id}", kb.delete)


async def seed(store: InboxStore, path: Path) -> int:
    """Add the demo articles and canned responses of `path` (kb.yaml) once per database; how many were added.

    Once only, so that entries a supervisor deleted do not come back at the next start."""
    if not path.exists() or not await store.claim_kb_seed():
        return 0
    items = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("entries", [])
    for item in items:
        body = KbBody.model_validate(item)
        doc = await asyncio.to_thread(entry, body, body.id or new_id("kb"), "demo")
        await store.save_kb(doc)
    return len(items)
