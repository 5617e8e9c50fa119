"""All MongoDB access of the quality service (PyMongo async), so the driver is a one-file change."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any

from pymongo import AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from omnihub.quality.rollups import bucket_id

# Rollup storage: one document per interval for all queues × channels ("s|q|<t>", fields "<queue>|<channel>") and
# one per interval and agent ("s|a|<t>|<agent>", fields "<channel>"), so a question reads few documents.


def _enc(name: str) -> str:
    """A name usable as a field name (no dots, no $; "" is "-")."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24").replace("-", "%2D") or "-"


def _dec(field: str) -> str:
    return "" if field == "-" else field.replace("%2D", "-").replace("%24", "$").replace("%2E", ".").replace("%25", "%")


def storage_key(bid: str) -> tuple[str, dict[str, Any], str]:
    """(document id, its searchable fields, field name) of a bucket id."""
    level, kind, t, channel, name = bid.split("|", 4)
    if kind == "q":
        return f"{level}|q|{t}", {"l": level, "k": kind, "t": int(t), "n": ""}, f"{_enc(name)}|{_enc(channel)}"
    return f"{level}|a|{t}|{name}", {"l": level, "k": kind, "t": int(t), "n": name}, _enc(channel)


def split_field(kind: str, field: str) -> tuple[str, str]:
    """(channel, queue) of a bucket document's field."""
    if kind == "q":
        queue, _, channel = field.rpartition("|")
        return _dec(channel), _dec(queue)
    return _dec(field), ""


def bucket_documents(total: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """The documents `apply_rollups` would leave for `total` in an empty collection (bulk loads)."""
    docs: dict[str, dict[str, Any]] = {}
    for bid, counters in total.items():
        doc_id, meta, field = storage_key(bid)
        docs.setdefault(doc_id, {"_id": doc_id, **meta, "c": {}})["c"][field] = dict(counters)
    return list(docs.values())

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
        await self.rollups.create_index([("l", 1), ("k", 1), ("t", 1)])
        await self.rollups.create_index([("l", 1), ("k", 1), ("n", 1), ("t", 1)])
        await self.agents.create_index("t")

    async def ping(self) -> bool:
        """True while MongoDB answers."""
        await self.client.admin.command("ping")
        return True

    async def insert_events(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert events, skipping ids already stored (replays); returns the new ones."""
        if not docs:
            return []
        try:
            await self.events.insert_many(docs, ordered=False)
            return docs
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            dup = {e["index"] for e in errors}
            return [d for i, d in enumerate(docs) if i not in dup]

    async def record_conversations(self, changes: dict[str, dict[str, Any]]) -> None:
        """Apply a batch's idempotent change per conversation ($min/$max/$set, $addToSet timeline).

        A conversation not yet known is inserted whole, which costs far less than an upsert; when it
        exists after all (a replay, another replica), the insert fails on `_id` and the change is applied
        as an update instead. Both end in the same document.
        """
        if not changes:
            return
        fresh = [cid for cid in changes if cid not in self._known]
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
        for cid in changes:
            self._known[cid] = None
            self._known.move_to_end(cid)
        while len(self._known) > KNOWN_CONVERSATIONS:
            self._known.popitem(last=False)

    # ---- rollups ------------------------------------------------------------------------
    async def kpi_documents(self, ids: list[str]) -> list[dict[str, Any]]:
        """Conversations by id without their timelines and messages (what contributions are computed from)."""
        if not ids:
            return []
        return await self.conversations.find({"_id": {"$in": ids}}, {"timeline": 0, "messages": 0}).to_list(None)

    async def apply_rollups(self, deltas: dict[str, dict[str, int]], applied: dict[str, list[Any]]) -> None:
        """Add counter deltas to their buckets, then record each conversation's applied contribution."""
        if deltas:
            ops: dict[str, dict[str, Any]] = {}
            for bid, counters in deltas.items():
                doc_id, meta, field = storage_key(bid)
                op = ops.setdefault(doc_id, {"$inc": {}, "$setOnInsert": meta})
                for k, v in counters.items():
                    op["$inc"][f"c.{field}.{k}"] = v
            await self.rollups.bulk_write([UpdateOne({"_id": d}, op, upsert=True) for d, op in ops.items()],
                                          ordered=False)
        if applied:
            await self.conversations.bulk_write([UpdateOne({"_id": cid}, {"$set": {"kpi": kpi}})
                                                 for cid, kpi in applied.items()], ordered=False)

    async def buckets(self, level: str, kind: str, start: float, end: float,
                      name: str = "") -> list[tuple[str, str, int, dict[str, int]]]:
        """(channel, queue or agent, start, counters) of the buckets of a level and kind starting in [start, end),
        optionally of one queue or agent."""
        query: dict[str, Any] = {"l": level, "k": kind, "t": {"$gte": int(start), "$lt": int(end)}}
        if name and kind == "a":
            query["n"] = name
        out = []
        async for doc in self.rollups.find(query, {"n": 1, "t": 1, "c": 1, "_id": 0}):
            for field, counters in doc.get("c", {}).items():
                channel, queue = split_field(kind, field)
                n = doc.get("n", "") if kind == "a" else queue
                if kind == "q" and name and n != name:
                    continue
                out.append((channel, n, doc["t"], counters))
        return out

    async def bucket_counters(self) -> dict[str, dict[str, int]]:
        """Every bucket's counters by bucket id (tests and rebuild checks)."""
        out: dict[str, dict[str, int]] = {}
        async for doc in self.rollups.find({}):
            for field, counters in doc.get("c", {}).items():
                channel, queue = split_field(doc["k"], field)
                name = doc.get("n", "") if doc["k"] == "a" else queue
                out[bucket_id(doc["l"], doc["k"], doc["t"], channel, name)] = counters
        return out

    async def customer_roots(self, customers: list[str]) -> dict[str, str]:
        """customer -> the customer it was merged into (followed to the end), for merged ones only."""
        out: dict[str, str] = {}
        pending = list(customers)
        for _hop in range(8):
            if not pending:
                break
            docs = await self.customers.find({"_id": {"$in": pending}, "into": {"$exists": True}},
                                             {"into": 1}).to_list(None)
            step = {d["_id"]: d["into"] for d in docs}
            for c, root in list(out.items()):
                if root in step:
                    out[c] = step[root]
            for c in pending:
                if c in step and c not in out:
                    out[c] = step[c]
            pending = [r for r in set(step.values()) if r not in out]
        return out

    async def record_contacts(self, updates: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply per-customer $min contacts / $max closes updates and return the customers' documents."""
        if not updates:
            return []
        await self.customers.bulk_write([UpdateOne({"_id": c}, u, upsert=True) for c, u in updates.items()],
                                        ordered=False)
        return await self.customers.find({"_id": {"$in": list(updates)}}).to_list(None)

    async def merge_customer(self, merged: str, survivor: str) -> None:
        """Point `merged` at `survivor` and copy its contacts and closes there."""
        doc = await self.customers.find_one_and_update({"_id": merged}, {"$set": {"into": survivor}}, upsert=True,
                                                       return_document=ReturnDocument.AFTER)
        update: dict[str, Any] = {}
        for f, op in (("contacts", "$min"), ("closes", "$max")):
            for k, v in (doc or {}).get(f, {}).items():
                update.setdefault(op, {})[f"{f}.{k}"] = v
        if update:
            await self.customers.update_one({"_id": survivor}, update, upsert=True)

    async def customer(self, customer: str) -> dict[str, Any] | None:
        """One customer's contacts document."""
        return await self.customers.find_one({"_id": customer})

    async def state_neighbours(self, agent: str, lo: float, hi: float) -> list[dict[str, Any]]:
        """An agent's state changes in [lo, hi] and the one just before and just after, oldest first."""
        base = {"kind": "agent_state_changed", "agent": agent}
        fields = {"time": 1, "to_state": 1}
        before = await self.events.find({**base, "time": {"$lt": lo}}, fields).sort(
            [("time", -1), ("_id", -1)]).limit(1).to_list(None)
        inside = await self.events.find({**base, "time": {"$gte": lo, "$lte": hi}}, fields).to_list(None)
        after = await self.events.find({**base, "time": {"$gt": hi}}, fields).sort(
            [("time", 1), ("_id", 1)]).limit(1).to_list(None)
        return before + sorted(inside, key=lambda d: (d["time"], d["_id"])) + after

    async def note_last_state(self, agent: str, t: float, state: str) -> None:
        """Remember an agent's latest state change (its span is still open)."""
        with contextlib.suppress(DuplicateKeyError):
            await self.agents.update_one({"_id": agent, "t": {"$lt": t}}, {"$set": {"t": t, "state": state}},
                                         upsert=True)

    async def last_states(self, before: float) -> list[dict[str, Any]]:
        """Every agent's latest state change, of those made before `before` (the spans still open then)."""
        return await self.agents.find({"t": {"$lt": before}}).to_list(None)

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
             "$max": {"answered_at": when}})
        if before is None:
            return None
        after = await self.surveys.find_one({"_id": survey_id})
        return (before, after) if after is not None else None

    async def set_optout(self, identity: str, opted_out: bool) -> None:
        """Remember an identity's opt-out (SMS STOP and the like)."""
        await self.optouts.update_one({"_id": identity}, {"$set": {"opted_out": opted_out}}, upsert=True)

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
                                         {"agent": 1, "channel": 1, "recording_uri": 1})
        return await cursor.to_list(None)

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
