"""Search over the conversations and customers a user may see: a term index filled from events, and GET /api/search."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Consumer, Delivery
from omnihub.common.jsonbody import describe
from omnihub.common.openapi import Operation
from omnihub.inbox.store import InboxStore
from omnihub.inbox.terms import (
    Query,
    contains_words,
    fold,
    highlight,
    identity_terms,
    index_terms,
    parse_query,
    warm_up,
)

DURABLE = "inbox-search"
DUPLICATE_KEY = 11000
DAY = 86_400.0
# Newest first, window by window (1 day, then 8x wider each time): a common word fills a page from the
# first window and never reads its older hits; SecantusDB reads every document an index lookup yields.
WINDOWS = 5
GROWTH = 8


class SearchQuery(BaseModel):
    """GET /api/search: the text, where the previous page ended, and how many hits."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    q: str = Field(min_length=1, max_length=200)
    before: float | None = Field(default=None, gt=0, lt=1e11)
    limit: int = Field(default=20, ge=1, le=50)


class Span(BaseModel):
    """Matched characters in a snippet: [start, end)."""

    start: int
    end: int


class SearchHit(BaseModel):
    """A message or a conversation (its customer's name, address, ids) that matched."""

    kind: Literal["message", "conversation"]
    conversation_id: str
    customer_id: str
    message_id: str = ""
    channel: str
    time: float
    customer_name: str
    identity: str
    direction: str = ""
    snippet: str
    highlights: list[Span]


class SearchResults(BaseModel):
    """One page of hits, newest first; pass `next_before` as `before` for the next page (null: no more)."""

    hits: list[SearchHit]
    next_before: float | None
    took_ms: float


OPERATIONS = [Operation("GET", "/api/search", "Search the conversations and customers I may see", query=SearchQuery,
                        response=SearchResults, tags=("search",))]


def search_docs(evt: event_pb2.Event) -> list[dict[str, Any]]:
    """The index documents of an event: one per message, one per new conversation (customer name, address, ids)."""
    kind = evt.WhichOneof("kind")
    t = evt.time.ToNanoseconds() / 1e9
    if kind == "message_created":
        m = evt.message_created.message
        terms = [*index_terms(m.text, m.subject, *(a.file_name for a in m.attachments)), fold(m.id)]
        return [{"_id": f"m:{m.id}", "k": "m", "c": evt.conversation_id, "u": evt.customer_id, "t": t,
                 "terms": terms}] if terms else []
    if kind == "conversation_created":
        conv = evt.conversation_created.conversation
        source = conv.identity.source_id
        terms = list(dict.fromkeys(index_terms(conv.customer_display_name, conv.subject) + identity_terms(source)
                                   + [fold(conv.id), fold(conv.customer_id)]))  # ids whole: "cnv" is in every one
        return [{"_id": f"c:{conv.id}", "k": "c", "c": conv.id, "u": conv.customer_id, "t": t, "terms": terms,
                 "name": conv.customer_display_name, "sid": source,
                 "ch": subjects.channel_token(conv.channel) if conv.channel else ""}]
    return []


class SearchIndex:
    """The `search` collection: {k, c (conversation), u (customer), t (time), terms} with one (terms, t) index."""

    def __init__(self, store: InboxStore) -> None:
        self.store = store

    @property
    def docs(self) -> AsyncCollection[dict[str, Any]]:
        """The index documents (read on use: the store may connect after this is made)."""
        return self.store.db["search"]

    @property
    def messages(self) -> AsyncCollection[dict[str, Any]]:
        """The inbox's stored messages."""
        return self.store.messages

    @property
    def held(self) -> AsyncCollection[dict[str, Any]]:
        """Who holds or held which conversation."""
        return self.store.held

    async def setup(self) -> None:
        """The one index every search reads (multikey on terms, then time for the windows)."""
        await self.docs.create_index([("terms", ASCENDING), ("t", ASCENDING)])
        # jieba's dictionary loads in the background: readiness does not wait for it (the first search may)
        self._warming = asyncio.get_running_loop().run_in_executor(None, warm_up)

    async def on_events(self, batch: list[Delivery[event_pb2.Event]]) -> None:
        """Index a batch of events with one unordered insert (redeliveries are duplicates, skipped)."""
        docs = [d for delivery in batch for d in search_docs(delivery.message)]
        for delivery in batch:
            evt = delivery.message
            if evt.WhichOneof("kind") == "customer_merged":
                merged = evt.customer_merged
                await self.docs.update_many({"u": merged.merged_customer_id}, {"$set": {"u": merged.customer_id}})
        if not docs:
            return
        try:
            await self.docs.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def find(self, query: Query, allowed: Callable[[set[str]], Awaitable[set[str]]] | None,
                   before: float, limit: int) -> tuple[list[dict[str, Any]], bool]:
        """Index documents matching `query` older than `before`, newest first, at most `limit`; and whether more exist.

        `allowed` narrows hits to the conversations it returns out of those asked (None: everything).
        """
        term, prefix = query.driver()
        projection = {"k": 1, "c": 1, "u": 1, "t": 1, "terms": 1, "name": 1, "sid": 1, "ch": 1}
        found: list[dict[str, Any]] = []
        upper = before
        for step in range(WINDOWS + 1):
            if prefix:  # a range on the terms cannot narrow by time too: one read of every time
                clause: dict[str, Any] = {"terms": {"$gte": term, "$lt": term + "\uffff"}}
                lower = -math.inf
            else:
                lower = upper - DAY * GROWTH ** step if step < WINDOWS else -math.inf
                clause = {"terms": term, "t": {"$lt": upper} if lower == -math.inf else {"$gte": lower, "$lt": upper}}
            docs = [d for d in await self.docs.find(clause, projection).to_list(None)
                    if d["t"] < before and query.matches(d["terms"])]
            if allowed is not None and docs:
                ok = await allowed({d["c"] for d in docs})
                docs = [d for d in docs if d["c"] in ok]
            found += docs
            if len(found) > limit or lower == -math.inf:
                break
            upper = lower
        found.sort(key=lambda d: d["t"], reverse=True)
        return found[:limit], len(found) > limit

    async def held_of(self, agent: str, conversations: set[str]) -> set[str]:
        """Which of `conversations` the agent holds or held (point lookups of the `held` records)."""
        ids = [f"{cid}|{agent}" for cid in conversations]
        docs = await self.held.find({"_id": {"$in": ids}}, projection={"conversation_id": 1}).to_list(None)
        return {d["conversation_id"] for d in docs}

    async def hits(self, query: Query, docs: Sequence[dict[str, Any]]) -> list[SearchHit]:
        """Page documents as hits: message text and conversation details read by id, snippets highlighted."""
        mids = [d["_id"][2:] for d in docs if d["k"] == "m"]
        convs = {d["c"] for d in docs}
        messages = {m["_id"]: m for m in await self.messages.find({"_id": {"$in": mids}}).to_list(None)} if mids else {}
        heads = {d["c"]: d for d in await self.docs.find({"_id": {"$in": [f"c:{c}" for c in convs]}}).to_list(None)}
        out: list[SearchHit] = []
        for d in docs:
            head = heads.get(d["c"], {})
            base = {"conversation_id": d["c"], "customer_id": d["u"], "time": d["t"], "customer_name": head.get("name", ""),
                    "identity": head.get("sid", ""), "channel": head.get("ch", "")}
            if d["k"] == "c":
                text = " · ".join(x for x in (head.get("name", ""), head.get("sid", ""), d["c"], d["u"]) if x)
                snippet, spans = highlight(text, query)
                out.append(SearchHit(kind="conversation", snippet=snippet, highlights=_spans(spans), **base))
                continue
            m = messages.get(d["_id"][2:])
            if m is None:
                continue  # indexed before the timeline stored it: the next search shows it
            names = " ".join(a.get("file_name", "") for a in m.get("attachments", []))
            text = m.get("text") or m.get("subject") or names
            if not contains_words(query, text, m.get("subject", ""), names):
                continue  # the bigrams were there, but not next to each other
            snippet, spans = highlight(text, query)
            base["channel"] = m.get("channel") or base["channel"]
            out.append(SearchHit(kind="message", message_id=m["_id"], direction=m.get("direction", ""),
                                 snippet=snippet, highlights=_spans(spans), **base))
        return out


def _spans(spans: list[tuple[int, int]]) -> list[Span]:
    return [Span(start=s, end=e) for s, e in spans]


async def consume_for_search(bus: Bus, index: SearchIndex) -> Consumer[event_pb2.Event]:
    """The index's own durable consumer: indexing never slows the agents' live pushes."""
    return await bus.consume(stream=subjects.STREAM_EVENTS, durable=DURABLE, message_type=event_pb2.Event,
                             subjects=[subjects.event("message", "created"), subjects.event("conversation", "created"),
                                       subjects.event("customer", "merged")],
                             batch_handler=index.on_events, batch=500, max_ack_pending=2_000, ack_wait=60.0,
                             prefetch=True, fast_fetch=True)


RouterCall = Callable[[Awaitable[Any]], Awaitable[Any]]


def register(router: web.UrlDispatcher, index: SearchIndex, router_stub: Any, rpc: RouterCall) -> None:
    """GET /api/search: agents see their own conversations (held now or before), supervisors and admins all."""

    async def search(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            params = SearchQuery.model_validate(dict(request.query))
        except ValidationError as exc:
            raise web.HTTPBadRequest(text=describe(exc)) from None
        query = parse_query(params.q)
        if query.empty:
            return _json(SearchResults(hits=[], next_before=None, took_ms=0.0))
        session = request["session"]
        allowed = None
        if session.role == "agent":
            mine = await rpc(router_stub.ListConversations(routing_pb2.ListConversationsRequest(agent_id=session.user)))
            current = {c.id for c in mine.conversations}  # accepted a moment ago: the held record may lag

            async def allowed_for_agent(cids: set[str]) -> set[str]:
                return (cids & current) | await index.held_of(session.user, cids - current)

            allowed = allowed_for_agent
        before = params.before or time.time() + 60
        docs, more = await index.find(query, allowed, before, params.limit)
        hits = await index.hits(query, docs)
        next_before = docs[-1]["t"] if more and docs else None
        return _json(SearchResults(hits=hits, next_before=next_before,
                                   took_ms=round((time.perf_counter() - started) * 1000, 1)))

    router.add_get("/api/search", search)


def _json(model: BaseModel) -> web.Response:
    return web.json_response(text=model.model_dump_json())
