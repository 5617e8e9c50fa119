"""All MongoDB access of the inbox (PyMongo async): message timelines and the knowledge base."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError

DUPLICATE_KEY = 11000
STATE_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}  # the furthest state wins, whatever order they came in


class InboxStore:
    """Messages by conversation and customer, delivery states, canned answers."""

    def __init__(self, url: str, database: str = "omnihub_inbox") -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        self.db = self.client[database]
        self.messages = self.db["messages"]
        self.states = self.db["delivery_states"]  # one document per (message, state): inserts, never updates
        self.kb = self.db["knowledge"]
        self.held = self.db["held"]  # one document per (conversation, agent) ever assigned: who may read what
        self.interventions = self.db["interventions"]  # supervisor.intervened events, one document each

    async def setup(self) -> None:
        """The index for customer timelines (the only read of messages; each index slows every insert)."""
        await self.messages.create_index([("customer_id", ASCENDING), ("time", ASCENDING)])
        await self.held.create_index([("agent", ASCENDING), ("customer_id", ASCENDING)])
        await self.interventions.create_index([("conversation_id", ASCENDING), ("time", ASCENDING)])

    async def ping(self) -> bool:
        """True while MongoDB answers."""
        await self.client.admin.command("ping")
        return True

    async def add_messages(self, docs: Sequence[dict[str, Any]]) -> set[str]:
        """Store many messages in one unordered write; the ids that were new (duplicates are skipped)."""
        if not docs:
            return set()
        try:
            await self.messages.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            duplicates = {int(e["index"]) for e in errors}
            return {str(d["_id"]) for i, d in enumerate(docs) if i not in duplicates}
        return {str(d["_id"]) for d in docs}

    async def set_statuses(self, updates: Sequence[tuple[str, str, str]]) -> None:
        """Record (message id, state, error) delivery progress with one unordered insert; repeats are skipped.

        States are inserted beside the messages rather than updated into them: an insert costs a fraction
        of an update, and reading takes the furthest state, whatever order the provider's callbacks came in.
        """
        if not updates:
            return
        docs = {f"{mid}:{state}": {"_id": f"{mid}:{state}", "state": state, "error": error}
                for mid, state, error in updates}
        try:
            await self.states.insert_many(list(docs.values()), ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def _with_states(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        outgoing = {m["_id"]: m for m in messages if m.get("status") == "pending"}
        if outgoing:
            ids = [f"{mid}:{state}" for mid in outgoing for state in STATE_RANK]
            found = await self.states.find({"_id": {"$in": ids}}).to_list(None)
            for doc in sorted(found, key=lambda d: STATE_RANK.get(d["state"], 0)):
                message = outgoing[doc["_id"].rpartition(":")[0]]
                message["status"], message["error"] = doc["state"], doc.get("error", "")
        return messages

    async def customer_history(self, customer_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Every message of a customer across channels, oldest first."""
        return await self._with_states(await self.messages.find({"customer_id": customer_id}).sort("time", 1).to_list(limit))

    async def last_incoming(self, customer_id: str, conversation_id: str) -> dict[str, Any] | None:
        """The customer's latest message in one conversation (through the customer timeline index)."""
        return await self.messages.find_one({"customer_id": customer_id, "conversation_id": conversation_id,
                                             "direction": "incoming"}, sort=[("time", -1)])

    async def merge_customer(self, merged: str, keep: str) -> None:
        """Move a merged customer's history (and who held their conversations) to the surviving record."""
        await self.messages.update_many({"customer_id": merged}, {"$set": {"customer_id": keep}})
        await self.held.update_many({"customer_id": merged}, {"$set": {"customer_id": keep}})

    async def add_holders(self, held: Sequence[tuple[str, str, str]]) -> None:
        """Remember (conversation, customer, agent) assignments; repeats are skipped."""
        if not held:
            return
        docs = [{"_id": f"{cid}|{agent}", "conversation_id": cid, "customer_id": customer, "agent": agent}
                for cid, customer, agent in held]
        try:
            await self.held.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def has_held(self, agent: str, conversation_id: str = "", customer_id: str = "") -> bool:
        """Whether `agent` holds or held the conversation, or any conversation of the customer."""
        query = {"_id": f"{conversation_id}|{agent}"} if conversation_id else {"agent": agent, "customer_id": customer_id}
        return await self.held.find_one(query, projection={"_id": 1}) is not None

    async def add_interventions(self, docs: Sequence[dict[str, Any]]) -> None:
        """Store supervisor interventions (by event id: a redelivered event is skipped)."""
        if not docs:
            return
        try:
            await self.interventions.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def interventions_of(self, conversation_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A conversation's interventions, oldest first."""
        cursor = self.interventions.find({"conversation_id": conversation_id}).sort("time", 1)
        return await cursor.to_list(limit)

    async def kb_documents(self, kind: str = "", category: str = "", language: str = "", shortcut: str = "",
                           limit: int = 5000) -> list[dict[str, Any]]:
        """Articles and canned responses matching the filters (a shortcut by its beginning), with their words."""
        query: dict[str, Any] = {}
        for name, value in (("kind", kind), ("category", category), ("language", language)):
            if value:
                query[name] = value
        if shortcut:
            query["shortcut"] = {"$regex": "^" + re.escape(shortcut)}
        return await self.kb.find(query).sort([("kind", 1), ("category", 1), ("title", 1)]).to_list(limit)

    async def kb_document(self, doc_id: str) -> dict[str, Any] | None:
        """One article or canned response."""
        return await self.kb.find_one({"_id": doc_id})

    async def kb_shortcut_owner(self, shortcut: str, language: str) -> str | None:
        """The id of the canned response that already uses this shortcut in this language, if any."""
        doc = await self.kb.find_one({"shortcut": shortcut, "language": language}, projection={"_id": 1})
        return None if doc is None else str(doc["_id"])

    async def kb_count(self) -> int:
        """How many articles and canned responses there are."""
        return await self.kb.count_documents({})

    async def kb_categories(self) -> list[dict[str, Any]]:
        """Every category with its number of entries."""
        cursor = await self.kb.aggregate([{"$group": {"_id": "$category", "count": {"$sum": 1}}},
                                          {"$sort": {"_id": 1}}])
        rows = await cursor.to_list(None)
        return [{"category": r["_id"] or "", "count": r["count"]} for r in rows]

    async def save_kb(self, doc: dict[str, Any]) -> None:
        """Add or replace an article or canned response."""
        await self.kb.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def delete_kb(self, doc_id: str) -> bool:
        """Delete one; False when there was none."""
        return (await self.kb.delete_one({"_id": doc_id})).deleted_count == 1

    async def claim_kb_seed(self) -> bool:
        """True once per database: whether the demo articles are still to be added (never again after)."""
        try:
            await self.db["meta"].insert_one({"_id": "kb_seeded"})
        except DuplicateKeyError:
            return False
        return True

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()
