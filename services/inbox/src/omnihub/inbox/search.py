"""Search over the conversations and customers a user may see: a term index filled from events, and GET /api/search."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from omnihub.api.event.v1 import event_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Consumer, Delivery
from omnihub.common.jsonbody import describe
from omnihub.common.openapi import Operation
from omnihub.inbox.auth import SESSION
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

DURABLE = "inbox-search-2"  # 2: also reads conversation.assigned (a new durable replays the stream into the scopes)
DUPLICATE_KEY = 11000
DAY = 86_400.0
# Newest first, window by window (1 day, then 8x wider each time): a common word fills a page from the
# first window and never reads its older hits; SecantusDB reads every document an index lookup yields.
WINDOWS = 5
GROWTH = 8
ALL = "*"  # the scope of supervisors and admins; an agent's scope is their user name
OLD_INDEX = "terms_1_t_1"  # before scopes: one index over everyone's documents
PROJECTION = {"k": 1, "c": 1, "u": 1, "t": 1, "terms": 1, "o": 1}


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
        return [{"_id": f"m:{m.id}", "v": ALL, "k": "m", "c": evt.conversation_id, "u": evt.customer_id, "t": t,
                 "terms": terms}] if terms else []
    if kind == "conversation_created":
        conv = evt.conversation_created.conversation
        source = conv.identity.source_id
        terms = list(dict.fromkeys(index_terms(conv.customer_display_name, conv.subject) + identity_terms(source)
                                   + [fold(conv.id), fold(conv.customer_id)]))  # ids whole: "cnv" is in every one
        return [{"_id": f"c:{conv.id}", "v": ALL, "k": "c", "c": conv.id, "u": conv.customer_id, "t": t, "terms": terms,
                 "name": conv.customer_display_name, "sid": source,
                 "ch": subjects.channel_token(conv.channel) if conv.channel else ""}]
    return []


def scoped(docs: Iterable[dict[str, Any]], agent: str) -> list[dict[str, Any]]:
    """Copies of everyone's (`*`) documents in an agent's scope: their own `_id`, the original's in `o`."""
    return [{**d, "_id": f"{d['_id']}|{agent}", "o": d["_id"], "v": agent} for d in docs]


def key(doc: dict[str, Any]) -> str:
    """The original document's id ("m:<message>" or "c:<conversation>"), for a copy too."""
    return str(doc.get("o") or doc["_id"])


class SearchIndex:
    """The `search` collection: {v (scope), k, c (conversation), u (customer), t (time), terms}.

    Every message and conversation has one document in scope `*` (supervisors and admins) and a copy in the
    scope of each agent who held its conversation, so an agent's search is one indexed read of their own
    documents (v, terms, t) instead of everyone's hits checked against who held them.
    """

    def __init__(self, store: InboxStore) -> None:
        self.store = store

    @property
    def docs(self) -> AsyncCollection[dict[str, Any]]:
        """The index documents (read on use: the store may connect after this is made)."""
        return self.store.db["search"]

    @property
    def holders(self) -> AsyncCollection[dict[str, Any]]:
        """{_id: conversation, a: [agents who held it]}, as the index's own consumer saw the assignments."""
        return self.store.db["search_holders"]

    @property
    def messages(self) -> AsyncCollection[dict[str, Any]]:
        """The inbox's stored messages."""
        return self.store.messages

    async def setup(self) -> None:
        """The index every search reads (scope, then multikey terms, then time for the windows), and (scope,
        conversation) for copying a conversation's documents to an agent's scope."""
        await self.docs.create_index([("v", ASCENDING), ("terms", ASCENDING), ("t", ASCENDING)])
        await self.docs.create_index([("v", ASCENDING), ("c", ASCENDING)])
        await self._upgrade()
        # jieba's dictionary loads in the background: readiness does not wait for it (the first search may)
        self._warming = asyncio.get_running_loop().run_in_executor(None, warm_up)

    async def _upgrade(self) -> None:
        """Documents indexed before scopes existed: everyone's, copied to who held them; then the old index goes."""
        if OLD_INDEX not in await self.docs.index_information():
            return
        await self.docs.update_many({"v": {"$exists": False}}, {"$set": {"v": ALL}})
        held = await self.store.held.find({}, {"conversation_id": 1, "agent": 1}).to_list(None)
        await self.assign([(h["conversation_id"], h["agent"]) for h in held])
        await self.docs.drop_index(OLD_INDEX)

    async def on_events(self, batch: list[Delivery[event_pb2.Event]]) -> None:
        """The consumer's batch handler (one batch at a time: the consumer's pipeline is 1)."""
        await self.index_events([d.message for d in batch])

    async def index_events(self, events: Sequence[event_pb2.Event]) -> None:
        """Index events in stream order: documents in scope `*` and of who held their conversation so far, then
        this batch's assignments (which copy every document of the conversation so far), then merges."""
        docs: list[dict[str, Any]] = []
        assigned: list[tuple[str, str]] = []
        merges: list[tuple[str, str]] = []
        for evt in events:
            kind = evt.WhichOneof("kind")
            if kind == "conversation_assigned":
                assigned.append((evt.conversation_id, evt.conversation_assigned.agent_id))
            elif kind == "customer_merged":
                merges.append((evt.customer_merged.merged_customer_id, evt.customer_merged.customer_id))
            else:
                docs += search_docs(evt)
        held = await self.held_by({d["c"] for d in docs})
        await self._insert(docs + [c for d in docs for agent in held.get(d["c"], ()) for c in scoped([d], agent)])
        await self.assign(assigned)
        for merged, keep in merges:
            await self.docs.update_many({"u": merged}, {"$set": {"u": keep}})

    async def held_by(self, conversations: Collection[str]) -> dict[str, list[str]]:
        """Who held each of these conversations (as far as the index has seen)."""
        if not conversations:
            return {}
        found = await self.holders.find({"_id": {"$in": list(conversations)}}).to_list(None)
        return {d["_id"]: list(d.get("a", [])) for d in found}

    async def assign(self, assigned: Sequence[tuple[str, str]]) -> None:
        """Agents who took conversations: remember them and copy the conversations' documents to their scopes."""
        if not assigned:
            return
        await self.holders.bulk_write([UpdateOne({"_id": cid}, {"$addToSet": {"a": agent}}, upsert=True)
                                       for cid, agent in assigned], ordered=False)
        everyone: dict[str, list[dict[str, Any]]] = {}
        cids = sorted({cid for cid, _ in assigned})
        for i in range(0, len(cids), 100):  # SecantusDB matches each document found against the whole $in list
            for d in await self.docs.find({"v": ALL, "c": {"$in": cids[i:i + 100]}}).to_list(None):
                everyone.setdefault(d["c"], []).append(d)
        await self._insert([c for cid, agent in dict.fromkeys(assigned) for c in scoped(everyone.get(cid, []), agent)])

    async def _insert(self, docs: list[dict[str, Any]]) -> None:
        """One unordered insert; documents already there (redeliveries, copies made twice) are skipped."""
        if not docs:
            return
        try:
            await self.docs.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def find(self, query: Query, scope: str, before: float, limit: int,
                   current: Collection[str] = ()) -> tuple[list[dict[str, Any]], bool]:
        """Index documents of `scope` matching `query` older than `before`, newest first, at most `limit`; and
        whether more exist. `current`: conversations the agent holds now (the index may not have copied them yet).
        """
        term, prefix = query.driver()
        found: list[dict[str, Any]] = []
        upper = before
        for step in range(WINDOWS + 1):
            if prefix:  # a range on the terms cannot narrow by time too: one read of every time
                clause: dict[str, Any] = {"v": scope, "terms": {"$gte": term, "$lt": term + "\uffff"}}
                lower = -math.inf
            else:
                lower = upper - DAY * GROWTH ** step if step < WINDOWS else -math.inf
                clause = {"v": scope, "terms": term,
                          "t": {"$lt": upper} if lower == -math.inf else {"$gte": lower, "$lt": upper}}
            found += [d for d in await self.docs.find(clause, PROJECTION).to_list(None)
                      if d["t"] < before and query.matches(d["terms"])]
            if len(found) > limit or lower == -math.inf:
                break
            upper = lower
        found += await self._not_yet_copied(query, scope, before, current, {key(d) for d in found})
        found.sort(key=lambda d: d["t"], reverse=True)
        return found[:limit], len(found) > limit

    async def _not_yet_copied(self, query: Query, agent: str, before: float, current: Collection[str],
                              seen: set[str]) -> list[dict[str, Any]]:
        """Matches in conversations the agent holds now whose assignment the index has not seen yet."""
        if not current:
            return []
        held = await self.held_by(current)
        late = sorted(cid for cid in current if agent not in held.get(cid, ()))
        if not late:
            return []
        docs = await self.docs.find({"v": ALL, "c": {"$in": late}}, PROJECTION).to_list(None)
        return [d for d in docs if d["t"] < before and key(d) not in seen and query.matches(d["terms"])]

    async def hits(self, query: Query, docs: Sequence[dict[str, Any]]) -> list[SearchHit]:
        """Page documents as hits: message text and conversation details read by id, snippets highlighted."""
        mids = [key(d)[2:] for d in docs if d["k"] == "m"]
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
            m = messages.get(key(d)[2:])
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
                                       subjects.event("conversation", "assigned"), subjects.event("customer", "merged")],
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
        session = request[SESSION]
        scope, current = ALL, set()
        if session.role == "agent":
            mine = await rpc(router_stub.ListConversations(routing_pb2.ListConversationsRequest(agent_id=session.user)))
            scope, current = session.user, {c.id for c in mine.conversations}
        before = params.before or time.time() + 60
        docs, more = await index.find(query, scope, before, params.limit, current)
        hits = await index.hits(query, docs)
        next_before = docs[-1]["t"] if more and docs else None
        return _json(SearchResults(hits=hits, next_before=next_before,
                                   took_ms=round((time.perf_counter() - started) * 1000, 1)))

    router.add_get("/api/search", search)


def _json(model: BaseModel) -> web.Response:
    return web.json_response(text=model.model_dump_json())
