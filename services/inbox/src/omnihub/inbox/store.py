"""All MongoDB access of the inbox (PyMongo async): message timelines and the knowledge base."""

from __future__ import annotations

import re
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import DuplicateKeyError


class InboxStore:
    """Messages by conversation and customer, delivery states, canned answers."""

    def __init__(self, url: str, database: str = "omnihub_inbox") -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        self.db = self.client[database]
        self.messages = self.db["messages"]
        self.kb = self.db["knowledge"]

    async def setup(self) -> None:
        """Indexes for timelines."""
        await self.messages.create_index([("conversation_id", ASCENDING), ("time", ASCENDING)])
        await self.messages.create_index([("customer_id", ASCENDING), ("time", ASCENDING)])

    async def ping(self) -> bool:
        """True while MongoDB answers."""
        await self.client.admin.command("ping")
        return True

    async def add_message(self, doc: dict[str, Any]) -> bool:
        """Store a message once (its id is the key); False for a duplicate."""
        try:
            await self.messages.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def set_status(self, message_id: str, status: str, error: str = "") -> None:
        """Record delivery progress of an outgoing message."""
        await self.messages.update_one({"_id": message_id}, {"$set": {"status": status, "error": error}})

    async def conversation_messages(self, conversation_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """A conversation's messages, oldest first."""
        return await self.messages.find({"conversation_id": conversation_id}).sort("time", 1).to_list(limit)

    async def customer_history(self, customer_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """Every message of a customer across channels, oldest first."""
        return await self.messages.find({"customer_id": customer_id}).sort("time", 1).to_list(limit)

    async def merge_customer(self, merged: str, keep: str) -> None:
        """Move a merged customer's history to the surviving record."""
        await self.messages.update_many({"customer_id": merged}, {"$set": {"customer_id": keep}})

    async def search_kb(self, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Canned answers whose title or body contains the query (case-insensitive)."""
        pattern = {"$regex": re.escape(query), "$options": "i"}
        cursor = self.kb.find({"$or": [{"title": pattern}, {"body": pattern}]} if query else {})
        return await cursor.limit(limit).to_list(limit)

    async def save_kb(self, doc: dict[str, Any]) -> None:
        """Add or replace a canned answer."""
        await self.kb.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()
