"""All MongoDB access of the quality service (PyMongo async), so the driver is a one-file change."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

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

    async def ping(self) -> bool:
        """True while MongoDB answers."""
        await self.client.admin.command("ping")
        return True

    async def insert_events(self, docs: list[dict[str, Any]]) -> int:
        """Insert events, skipping ids already stored (replays); returns how many were new."""
        if not docs:
            return 0
        try:
            result = await self.events.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            dup = [e for e in exc.details.get("writeErrors", []) if e.get("code") == 11000]
            if len(dup) != len(exc.details.get("writeErrors", [])):
                raise
            return int(exc.details.get("nInserted", 0))

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

    async def answer_survey(self, survey_id: str, question: str, score: int, when: float) -> None:
        """Record a survey answer (the latest answer per question wins)."""
        await self.surveys.update_one({"_id": survey_id}, {"$set": {f"answers.{question}": score, "answered_at": when}})

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
        doc.update(change.get(op, {}))
    for field, spec in change.get("$addToSet", {}).items():
        items: list[Any] = []
        for value in spec["$each"]:
            if value not in items:
                items.append(value)
        doc[field] = items
    return doc
