"""All MongoDB access of the quality service (PyMongo async), so the driver is a one-file change."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar

import numpy as np
from pymongo import AsyncMongoClient, DeleteOne, InsertOne, ReplaceOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from omnihub.quality import packed
from omnihub.quality.packed import Row
from omnihub.quality.rollups import UNCOUNTED_STATES, bucket_id

T = TypeVar("T")

# The transaction the current task writes in (ingest): set by QualityStore.transaction, read by every method the
# ingest path calls, so HTTP questions running in other tasks never see it.
_SESSION: ContextVar[AsyncClientSession | None] = ContextVar("quality_session", default=None)


def _s() -> AsyncClientSession | None:
    return _SESSION.get()

# Rollup storage: one document per level, kind and interval: "s|q|<t>" (15 minutes) and "d|q|<t>" (local day)
# hold every queue × channel, "s|a|<t>" / "d|a|<t>" every agent × channel, "s|x|<t>" / "d|x|<t>" every agent ×
# queue (handle time, and each agent's state time under queue ""). A document's counters are one packed binary
# value `p` (omnihub.quality.packed: row names and an int64 matrix): SecantusDB returns it without decoding a
# field per counter, which was most of a KPI question's cost (96 slot documents: ~10 ms of server CPU as nested
# fields, well under 1 ms packed). Writers read the documents a batch touches, add, and replace them.
LAYOUT = "interval documents v5 (packed counters)"


def storage_key(bid: str) -> tuple[str, dict[str, Any], Row]:
    """(document id, its searchable fields, row in the document) of a bucket id."""
    level, kind, t, channel, name = bid.split("|", 4)
    return f"{level}|{kind}|{t}", {"l": level, "k": kind, "t": int(t)}, (channel, name)


def stored_buckets(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, int]]]:
    """(channel place, name, non-zero counters) of every bucket in an interval document."""
    if not doc.get("p"):
        return []
    rows, matrix = packed.unpack(doc["p"])
    return [(ch, n, packed.named(row)) for (ch, n), row in zip(rows, matrix, strict=True)]


def _grouped(deltas: dict[str, dict[str, int]]) -> tuple[dict[str, dict[Row, dict[str, int]]], dict[str, Any]]:
    """Bucket counters grouped by interval document: (document id -> row -> counters, document id -> fields)."""
    by_doc: dict[str, dict[Row, dict[str, int]]] = {}
    metas: dict[str, Any] = {}
    for bid, counters in deltas.items():
        doc_id, meta, row = storage_key(bid)
        metas[doc_id] = meta
        by_doc.setdefault(doc_id, {})[row] = counters
    return by_doc, metas


def bucket_documents(total: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The documents `apply_rollups` would leave for `total` in an empty collection (bulk loads)."""
    by_doc, metas = _grouped(total)
    docs = []
    for doc_id, rows in by_doc.items():
        names, matrix = packed.added([], np.zeros((0, packed.WIDTH), np.int64), rows)
        docs.append({"_id": doc_id, **metas[doc_id], "p": packed.pack(names, matrix)})
    return docs


_EMPTY: packed.Matrix = np.zeros((0, packed.WIDTH), np.int64)

# Values per `$in` of ids: SecantusDB matches every document found against the whole list (a Python loop), so
# one `$in` of n ids finding n documents costs n² comparisons (2,500 returning customers: seconds); chunks keep it
# linear for a few more round trips. Server CPU to read 5,000 small documents by id (bench/secantus_costs.py):
# found ones 0.56 s in chunks of 100, 0.38 s of 50, 0.30 s of 25; missing ones 0.05 / 0.06 / 0.09 s.
IN_CHUNK = 50


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i:i + IN_CHUNK] for i in range(0, len(values), IN_CHUNK)]


# Marks a conversation read by `kpi_documents` whose applied FCR flag came from `fcr_flags` (never stored).
FLAGGED = "_fcr_flag"

KNOWN_CONVERSATIONS = 200_000  # ids remembered as stored, so their next events go straight to an update

# The fields KPIs read: timelines and message lists stay on the server.
KPI_FIELDS = dict.fromkeys(("channel", "queue", "first_queue", "customer_id", "created", "agent", "answered", "wait",
                            "abandoned", "abandon_wait", "talk", "hold", "wrap", "handled", "resolved", "closed",
                            "queued"), 1)


class QualityStore:
    """Events, conversations, surveys and opt-outs."""

    def __init__(self, url: str, database: str = "omnihub_quality") -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True)
        self.db = self.client[database]
        self.events = self.db["events"]
        self.conversations = self.db["conversations"]
        self.surveys = self.db["surveys"]
        self.optouts = self.db["optouts"]
        self.evaluations = self.db["evaluations"]
        self.rollups = self.db["rollups"]
        self.customers = self.db["customers"]
        self.flags = self.db["fcr_flags"]
        self.agents = self.db["agent_states"]
        self.meta = self.db["meta"]
        self._known: OrderedDict[str, None] = OrderedDict()

    async def setup(self) -> None:
        """Create indexes; event ids are unique by `_id`, one survey per conversation."""
        # Only agent state changes are read by time (occupancy); indexing every event cost ~40% of ingest.
        with contextlib.suppress(OperationFailure):
            await self.events.drop_index("kind_1_time_1")  # the full index of earlier versions
        await self.events.create_index([("kind", 1), ("time", 1)], name="agent_states_by_time",
                                       partialFilterExpression={"kind": "agent_state_changed"})
        with contextlib.suppress(OperationFailure):
            await self.conversations.drop_index("customer_id_1")  # unused by any query; cost every write
        await self.conversations.create_index("created")
        await self.surveys.create_index("conversation_id", unique=True)
        await self.surveys.create_index("answered_at")
        await self.evaluations.create_index([("agent_id", 1), ("status", 1)])
        await self.evaluations.create_index("conversation_id")
        await self.events.create_index([("agent", 1), ("time", 1)], name="agent_states_by_agent",
                                       partialFilterExpression={"kind": "agent_state_changed"})
        for old in ("l_1_k_1_n_1_t_1",):  # the layout of one document per agent and interval
            with contextlib.suppress(OperationFailure):
                await self.rollups.drop_index(old)
        with contextlib.suppress(OperationFailure):
            await self.rollups.drop_index("l_1_t_1")  # interval documents v2
        await self.rollups.create_index([("l", 1), ("k", 1), ("t", 1)])
        with contextlib.suppress(OperationFailure):
            await self.agents.drop_index("t_1")  # before "open" was kept
        await self.agents.create_index([("open", 1), ("t", 1)])  # agents whose open span counts, by time
        async for d in self.agents.find({"open": {"$exists": False}}, {"state": 1}):  # kept before "open" was
            await self.agents.update_one({"_id": d["_id"]}, {"$set": {"open": d.get("state") not in UNCOUNTED_STATES}})

    async def ping(self) -> bool:
        """True while MongoDB answers."""
        await self.client.admin.command("ping")
        return True

    async def transaction(self, body: Callable[[], Awaitable[T]]) -> T:
        """Run `body` in one multi-document transaction (retried whole on transient errors such as a write
        conflict with another replica): every write it makes through this store lands together or not at all."""
        async with self.client.start_session() as session:
            token = _SESSION.set(session)
            try:
                async def callback(_session: AsyncClientSession) -> T:
                    return await body()
                return await session.with_transaction(callback)
            finally:
                _SESSION.reset(token)

    @staticmethod
    def in_transaction() -> bool:
        """True inside `transaction` (in this task)."""
        return _s() is not None

    async def insert_events(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert events, skipping ids already stored (replays); returns the new ones.

        The stored ids are read first: a duplicate-key error would abort the ingest transaction.
        """
        if not docs:
            return []
        seen = {d["_id"] async for d in self.events.find({"_id": {"$in": [d["_id"] for d in docs]}}, {"_id": 1},
                                                           session=_s())}
        new = []
        for d in docs:  # a batch may hold an event twice (a redelivery)
            if d["_id"] not in seen:
                seen.add(d["_id"])
                new.append(d)
        if new:
            await self.events.insert_many(new, ordered=False, session=_s())
        return new

    def unknown(self, ids: Iterable[str]) -> list[str]:
        """The conversation ids this process has not seen stored (most likely new: they are inserted whole)."""
        return [cid for cid in ids if cid not in self._known]

    async def stored_ids(self, ids: list[str]) -> set[str]:
        """Which of these conversations are stored (after an insert met an existing one)."""
        found: set[str] = set()
        for chunk in _chunks(ids):
            found |= {d["_id"] async for d in self.conversations.find({"_id": {"$in": chunk}}, {"_id": 1}, session=_s())}
        return found

    async def insert_conversations(self, docs: list[dict[str, Any]]) -> None:
        """Insert new conversation documents whole (far cheaper than upserts); raises on an existing `_id`."""
        if docs:
            await self.conversations.insert_many(docs, ordered=False, session=_s())

    async def update_conversations(self, changes: dict[str, dict[str, Any]]) -> None:
        """Apply a batch's idempotent change per stored conversation ($min/$max/$set, $addToSet timeline)."""
        if changes:
            await self.conversations.bulk_write([UpdateOne({"_id": cid}, change, upsert=True)
                                                 for cid, change in changes.items()], ordered=False, session=_s())

    def remember(self, ids: Iterable[str]) -> None:
        """Note conversations as stored (after the transaction that wrote them committed)."""
        for cid in ids:
            self._known[cid] = None
            self._known.move_to_end(cid)
        while len(self._known) > KNOWN_CONVERSATIONS:
            self._known.popitem(last=False)

    async def record_conversations(self, changes: dict[str, dict[str, Any]]) -> None:
        """Apply a batch's idempotent change per conversation without rollups (the path before rollups existed,
        kept for bench/quality.py's baseline): new ones inserted whole, an existing one updated instead."""
        if not changes:
            return
        fresh = self.unknown(changes)
        updates = [UpdateOne({"_id": cid}, changes[cid], upsert=True) for cid in changes if cid in self._known]
        if fresh:
            try:
                await self.conversations.insert_many([created_document(cid, changes[cid]) for cid in fresh],
                                                     ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != 11000 for e in errors):
                    raise
                updates += [UpdateOne({"_id": fresh[e["index"]]}, changes[fresh[e["index"]]], upsert=True)
                            for e in errors]
        if updates:
            await self.conversations.bulk_write(updates, ordered=False)
        self.remember(changes)

    # ---- rollups ------------------------------------------------------------------------
    async def note_applied(self, flags: dict[str, int], flagged: Iterable[str] = (), first: Iterable[str] = ()) -> None:
        """Record, for conversations whose contribution changed without a change of their own (a later contact of
        the same customer, a merge, a rebuild), the FCR repeat flag their applied contribution was computed with.

        A flag that changes goes to a small document of its own in `fcr_flags` (it overrides the conversation's
        `kpi`, see `kpi_documents`) instead of rewriting the large conversation document: an update of a
        conversation with its timeline costs SecantusDB ~0.6 ms, a new small document ~0.06 ms. `flagged`: ids
        that have one already; `first`: ids applied for the first time (a rebuild, data from before rollups),
        whose flag goes into the conversation as at ingest, so that their later changes need no second write.
        """
        if not flags:
            return
        have, firsts = set(flagged), set(first)
        ops: list[InsertOne[dict[str, Any]] | ReplaceOne[dict[str, Any]]] = [
            ReplaceOne({"_id": cid}, {"_id": cid, "kpi": flag}) if cid in have else InsertOne({"_id": cid, "kpi": flag})
            for cid, flag in flags.items() if cid not in firsts]
        if ops:
            await self.flags.bulk_write(ops, ordered=False, session=_s())
        if firsts & flags.keys():
            await self.conversations.bulk_write([UpdateOne({"_id": cid}, {"$set": {"kpi": flags[cid]}})
                                                 for cid in firsts & flags.keys()], ordered=False, session=_s())

    async def kpi_documents(self, ids: list[str]) -> list[dict[str, Any]]:
        """Conversations by id without their timelines and messages (what contributions are computed from), each
        with the FCR flag its applied contribution was computed with as `kpi` (`note_applied`'s if it recorded one:
        then `FLAGGED` is set)."""
        if not ids:
            return []
        out: list[dict[str, Any]] = []
        flags: dict[str, Any] = {}
        for chunk in _chunks(ids):
            out += await self.conversations.find({"_id": {"$in": chunk}}, {"timeline": 0, "messages": 0},
                                                 session=_s()).to_list(None)
            flags.update({d["_id"]: d.get("kpi") async for d in self.flags.find({"_id": {"$in": chunk}},
                                                                                session=_s())})
        if flags:
            for d in out:
                if d["_id"] in flags:
                    d["kpi"] = flags[d["_id"]]
                    d[FLAGGED] = True
        return out

    async def apply_rollups(self, deltas: dict[str, dict[str, int]], applied: dict[str, list[Any]]) -> None:
        """Add counter deltas to their interval documents, then record each conversation's applied contribution.

        The interval documents the deltas touch are read (one query), added to and replaced whole. In the ingest
        transaction its snapshot makes this safe beside the other replica (a conflict retries the transaction);
        outside one (rebuilds, tests) it opens its own.
        """
        if _s() is None:
            await self.transaction(lambda: self.apply_rollups(deltas, applied))
            return
        session = _s()
        if deltas:
            by_doc, metas = _grouped(deltas)
            stored = {d["_id"]: d async for d in self.rollups.find({"_id": {"$in": list(by_doc)}}, session=session)}
            ops: list[ReplaceOne[dict[str, Any]] | DeleteOne] = []
            for doc_id, rows in by_doc.items():
                doc = stored.get(doc_id)
                before = packed.unpack(doc["p"]) if doc and doc.get("p") else ([], _EMPTY)
                names, matrix = packed.added(*before, rows)
                if names:
                    ops.append(ReplaceOne({"_id": doc_id}, {"_id": doc_id, **metas[doc_id],
                                                            "p": packed.pack(names, matrix)}, upsert=True))
                elif doc is not None:
                    ops.append(DeleteOne({"_id": doc_id}))
            if ops:
                await self.rollups.bulk_write(ops, ordered=False, session=session)
        if applied:
            await self.conversations.bulk_write([UpdateOne({"_id": cid}, {"$set": {"kpi": kpi}})
                                                 for cid, kpi in applied.items()], ordered=False, session=session)

    async def agent_queue_slots(self, starts: list[int]) -> dict[int, dict[tuple[str, str], dict[str, int]]]:
        """The stored agent × queue buckets of these 15-minute slots: start -> (agent, queue) -> counters."""
        out: dict[int, dict[tuple[str, str], dict[str, int]]] = {}
        if starts:
            async for doc in self.rollups.find({"_id": {"$in": [f"s|x|{t}" for t in starts]}}, session=_s()):
                out[doc["t"]] = {(agent, queue): c for agent, queue, c in stored_buckets(doc)}
        return out

    async def bucket_rows(self, level: str, kind: str, start: float, end: float,
                          name: str = "") -> list[tuple[int, list[list[str]], packed.Matrix]]:
        """(start, rows, counter matrix) of the interval documents of a level and kind starting in [start, end);
        with `name`, only that queue's or agent's rows."""
        query: dict[str, Any] = {"l": level, "k": kind, "t": {"$gte": int(start), "$lt": int(end)}}
        out = []
        async for doc in self.rollups.find(query, {"t": 1, "p": 1, "_id": 0}):
            if not doc.get("p"):
                continue
            rows, matrix = packed.unpack(doc["p"])
            if name:
                rows, matrix = packed.of_name(rows, matrix, name)
            out.append((doc["t"], rows, matrix))
        return out

    async def buckets(self, level: str, kind: str, start: float, end: float,
                      name: str = "") -> list[tuple[str, str, int, dict[str, int]]]:
        """(channel, queue or agent, start, counters) of the buckets of a level and kind starting in [start, end),
        optionally of one queue or agent."""
        return [(ch, n, t, packed.named(row)) for t, rows, matrix in await self.bucket_rows(level, kind, start, end, name)
                for (ch, n), row in zip(rows, matrix, strict=True)]

    async def bucket_counters(self) -> dict[str, dict[str, int]]:
        """Every bucket's counters by bucket id (tests and rebuild checks)."""
        out: dict[str, dict[str, int]] = {}
        async for doc in self.rollups.find({}):
            for channel, name, counters in stored_buckets(doc):
                out[bucket_id(doc["l"], doc["k"], doc["t"], channel, name)] = counters
        return out

    async def customer_docs(self, customers: list[str]) -> dict[str, dict[str, Any]]:
        """The stored contact documents of these customers (missing ones are new customers)."""
        if not customers:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(customers):
            out.update({d["_id"]: d async for d in self.customers.find({"_id": {"$in": chunk}}, session=_s())})
        return out

    async def write_customers(self, new: list[dict[str, Any]], updates: dict[str, dict[str, Any]],
                              whole: Iterable[dict[str, Any]] = ()) -> None:
        """Insert new customers' documents, apply $min contacts / $max closes updates to stored ones and replace
        `whole` ones (read in the same transaction), in one bulk write."""
        ops: list[InsertOne[dict[str, Any]] | UpdateOne | ReplaceOne[dict[str, Any]]] = [InsertOne(d) for d in new]
        ops += [UpdateOne({"_id": c}, u, upsert=True) for c, u in updates.items()]
        ops += [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in whole]
        if ops:
            await self.customers.bulk_write(ops, ordered=False, session=_s())

    async def merge_customer(self, merged: str, survivor: str) -> None:
        """Point `merged` at `survivor` and copy its contacts and closes there."""
        doc = await self.customers.find_one_and_update({"_id": merged}, {"$set": {"into": survivor}}, upsert=True,
                                                       return_document=ReturnDocument.AFTER, session=_s())
        update: dict[str, Any] = {}
        for f, op in (("contacts", "$min"), ("closes", "$max")):
            for k, v in (doc or {}).get(f, {}).items():
                update.setdefault(op, {})[f"{f}.{k}"] = v
        if update:
            await self.customers.update_one({"_id": survivor}, update, upsert=True, session=_s())

    async def customer(self, customer: str) -> dict[str, Any] | None:
        """One customer's contacts document."""
        return await self.customers.find_one({"_id": customer}, session=_s())

    async def state_neighbours(self, agent: str, lo: float, hi: float) -> list[dict[str, Any]]:
        """An agent's state changes in [lo, hi] and the one just before and just after, oldest first."""
        base = {"kind": "agent_state_changed", "agent": agent}
        fields = {"time": 1, "to_state": 1}
        before = await self.events.find({**base, "time": {"$lt": lo}}, fields, session=_s()).sort(
            [("time", -1), ("_id", -1)]).limit(1).to_list(None)
        inside = await self.events.find({**base, "time": {"$gte": lo, "$lte": hi}}, fields,
                                        session=_s()).to_list(None)
        after = await self.events.find({**base, "time": {"$gt": hi}}, fields, session=_s()).sort(
            [("time", 1), ("_id", 1)]).limit(1).to_list(None)
        return before + sorted(inside, key=lambda d: (d["time"], d["_id"])) + after

    async def note_last_state(self, agent: str, t: float, state: str) -> None:
        """Remember an agent's latest state change (its span is still open)."""
        known = await self.agents.find_one({"_id": agent}, {"t": 1}, session=_s())
        if known is None or known["t"] < t:  # read first: a duplicate-key upsert would abort the transaction
            await self.agents.update_one({"_id": agent}, {"$set": {"t": t, "state": state,
                                                                  "open": state not in UNCOUNTED_STATES}}, upsert=True,
                                         session=_s())

    async def last_states(self, before: float, agent: str = "") -> list[dict[str, Any]]:
        """Every agent's (or one agent's) latest state change made before `before`, of those whose open span
        counts (an agent gone offline has none)."""
        query: dict[str, Any] = {"open": True, "t": {"$lt": before}}
        if agent:
            query["_id"] = agent
        return await self.agents.find(query).to_list(None)

    async def get_meta(self, key: str) -> dict[str, Any] | None:
        """A bookkeeping document (rollup version and the like)."""
        return await self.meta.find_one({"_id": key})

    async def set_meta(self, key: str, **fields: Any) -> None:
        """Set fields of a bookkeeping document."""
        await self.meta.update_one({"_id": key}, {"$set": fields}, upsert=True)

    async def conversations_since(self, after: str, limit: int) -> list[dict[str, Any]]:
        """Conversations in `_id` order after `after` (rebuilds), without timelines and messages."""
        return await self.conversations.find({"_id": {"$gt": after}}, {"timeline": 0, "messages": 0}).sort(
            "_id", 1).limit(limit).to_list(None)

    async def all_state_changes(self) -> list[dict[str, Any]]:
        """Every agent state change (rebuilds)."""
        return await self.events.find({"kind": "agent_state_changed"},
                                      {"agent": 1, "time": 1, "to_state": 1}).to_list(None)

    async def all_surveys(self) -> list[dict[str, Any]]:
        """Every answered survey (rebuilds)."""
        return await self.surveys.find({"answers": {"$ne": {}}}).to_list(None)

    async def clear_rollups(self) -> None:
        """Drop every bucket and every conversation's applied contribution (before a rebuild)."""
        await self.rollups.delete_many({})
        await self.conversations.update_many({"kpi": {"$exists": True}}, {"$unset": {"kpi": ""}})
        await self.flags.delete_many({})
        await self.agents.delete_many({})

    async def conversations_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """Conversations created in [start, end)."""
        cursor = self.conversations.find({"created": {"$gte": start, "$lt": end}}, KPI_FIELDS)
        return await cursor.to_list(None)

    async def creations_by_customer(self, customers: list[str], start: float, end: float) -> dict[str, list[float]]:
        """Creation times per customer in [start, end), any channel (for FCR repeats).

        One range scan on `created` instead of a large $in, which MongoDB-compatible servers
        without an index intersection plan answer slowly.
        """
        wanted = set(customers)
        cursor = self.conversations.find({"created": {"$gte": start, "$lt": end}}, {"customer_id": 1, "created": 1})
        out: dict[str, list[float]] = {}
        async for doc in cursor:
            cid = doc.get("customer_id", "")
            if cid in wanted:
                out.setdefault(cid, []).append(doc["created"])
        return out

    async def state_changes(self, start: float, end: float) -> list[dict[str, Any]]:
        """agent.state_changed events in [start, end), oldest first."""
        cursor = self.events.find({"kind": "agent_state_changed", "time": {"$gte": start, "$lt": end}}).sort("time", 1)
        return await cursor.to_list(None)

    async def last_state_before(self, start: float) -> list[dict[str, Any]]:
        """Each agent's last state change before `start` (the state they were in at the start)."""
        pipeline: list[dict[str, Any]] = [{"$match": {"kind": "agent_state_changed", "time": {"$lt": start}}},
                    {"$sort": {"time": 1}},
                    {"$group": {"_id": "$agent", "doc": {"$last": "$$ROOT"}}}]
        cursor = await self.events.aggregate(pipeline)
        return [d["doc"] async for d in cursor]

    async def survey_answers(self, start: float, end: float) -> list[dict[str, Any]]:
        """Answered surveys in [start, end)."""
        return await self.surveys.find({"answered_at": {"$gte": start, "$lt": end}}).to_list(None)

    async def claim_survey(self, doc: dict[str, Any]) -> bool:
        """Record a survey for a conversation; False when one was already sent (at most one each)."""
        try:
            await self.surveys.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def answer_survey(self, survey_id: str, question: str, score: int,
                            when: float) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Record a survey answer (the latest answer per question wins, whatever the order they come in).

        Returns the survey before and after, or None when nothing changed (a replay, an older answer, an
        unknown survey).
        """
        question = question.replace(".", "_").replace("$", "_")
        before = await self.surveys.find_one_and_update(
            {"_id": survey_id, "$or": [{f"answer_times.{question}": {"$lt": when}},
                                       {f"answer_times.{question}": {"$exists": False}}]},
            {"$set": {f"answers.{question}": score, f"answer_times.{question}": when},
             "$max": {"answered_at": when}}, session=_s())
        if before is None:
            return None
        after = await self.surveys.find_one({"_id": survey_id}, session=_s())
        return (before, after) if after is not None else None

    async def set_optout(self, identity: str, opted_out: bool) -> None:
        """Remember an identity's opt-out (SMS STOP and the like)."""
        await self.optouts.update_one({"_id": identity}, {"$set": {"opted_out": opted_out}}, upsert=True,
                                      session=_s())

    async def opted_out(self, identity: str) -> bool:
        """True if the identity asked not to be contacted."""
        doc = await self.optouts.find_one({"_id": identity})
        return bool(doc and doc.get("opted_out"))

    async def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """One conversation document with its timeline."""
        return await self.conversations.find_one({"_id": conversation_id})

    async def handled_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """Handled conversations created in [start, end), for QA sampling."""
        cursor = self.conversations.find({"created": {"$gte": start, "$lt": end}, "handled": True},
                                         {"agent": 1, "channel": 1, "recording_uri": 1, "queue": 1})
        return await cursor.to_list(None)

    async def rated_at_most(self, conversation_ids: list[str], question: str, at_most: int) -> set[str]:
        """Which of these conversations a customer's survey answer to `question` rated at most `at_most`."""
        found: set[str] = set()
        for i in range(0, len(conversation_ids), 5000):  # bounded $in lists
            cursor = self.surveys.find({"conversation_id": {"$in": conversation_ids[i:i + 5000]},
                                        f"answers.{question}": {"$lte": at_most}}, {"conversation_id": 1})
            found |= {d["conversation_id"] for d in await cursor.to_list(None)}
        return found

    async def save_evaluation(self, doc: dict[str, Any]) -> None:
        """Insert or replace an evaluation."""
        await self.evaluations.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def evaluation(self, evaluation_id: str) -> dict[str, Any] | None:
        """One evaluation."""
        return await self.evaluations.find_one({"_id": evaluation_id})

    async def update_evaluation(self, evaluation_id: str, expect_status: str, changes: dict[str, Any]) -> bool:
        """Change an evaluation only if it is still in `expect_status` (no lost updates)."""
        result = await self.evaluations.update_one({"_id": evaluation_id, "status": expect_status}, {"$set": changes})
        return result.modified_count == 1

    async def evaluations_for(self, agent_id: str = "", status: str = "", conversation_ids: list[str] | None = None,
                              calibration: bool | None = None) -> list[dict[str, Any]]:
        """Evaluations filtered by agent, status, conversations and calibration flag, newest first."""
        query: dict[str, Any] = {}
        if agent_id:
            query["agent_id"] = agent_id
        if status:
            query["status"] = status
        if conversation_ids is not None:
            query["conversation_id"] = {"$in": conversation_ids}
        if calibration is not None:
            query["calibration"] = calibration
        return await self.evaluations.find(query).sort("created", -1).to_list(1000)

    async def qa_scores(self, start: float, end: float) -> list[dict[str, Any]]:
        """Non-calibration evaluation scores created in [start, end)."""
        cursor = self.evaluations.find({"created": {"$gte": start, "$lt": end}, "calibration": {"$ne": True}},
                                       {"agent_id": 1, "score": 1})
        return await cursor.to_list(None)

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()


def created_document(conversation_id: str, change: dict[str, Any]) -> dict[str, Any]:
    """The document an upsert of `change` into a missing conversation would create."""
    doc: dict[str, Any] = {"_id": conversation_id}
    for op in ("$min", "$max", "$set"):
        for path, value in change.get(op, {}).items():
            *parents, leaf = path.split(".")
            into = doc
            for p in parents:
                into = into.setdefault(p, {})
            into[leaf] = value
    for field, spec in change.get("$addToSet", {}).items():
        items: list[Any] = []
        for value in spec["$each"]:
            if value not in items:
                items.append(value)
        doc[field] = items
    return doc


_MISSING = object()


def _replaces(op: str, value: Any, was: Any) -> bool:
    """Whether `op` sets `value` over the stored `was` (null sorts before numbers, as in MongoDB)."""
    if op == "$set" or was is _MISSING:
        return True
    if was is None:
        return op == "$max"
    return bool(value < was) if op == "$min" else bool(value > was)


def changed_document(doc: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """A stored conversation read without timeline and messages (`doc`) as `change` ($min/$max/$set, the update
    `conversation_changes` makes) will leave it; `$addToSet` lists are not loaded, so not touched. `doc` is
    not modified."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    for op in ("$min", "$max", "$set"):
        for path, value in change.get(op, {}).items():
            *parents, leaf = path.split(".")
            into = out
            for p in parents:
                into = into.setdefault(p, {})
            if _replaces(op, value, into.get(leaf, _MISSING)):
                into[leaf] = value
    return out
