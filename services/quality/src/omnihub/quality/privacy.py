"""Quality's part of one customer's erasure and export: conversations, events, surveys, evaluations, contacts."""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from pymongo.asynchronous.database import AsyncDatabase

from omnihub.api.event.v1 import event_pb2
from omnihub.quality.retention import EVALUATION_CONTENT

# What an erased customer's conversation keeps: the fields KPIs read (times, queue, agent, outcome); not whose it was.
PERSONAL = {"timeline": "", "messages": "", "customer_id": "", "recording_uri": ""}


async def _customer_ids(db: AsyncDatabase[dict[str, Any]], customer_id: str) -> list[str]:
    """The customer and every customer merged into them (their contacts documents point at the survivor)."""
    merged = [d["_id"] async for d in db["customers"].find({"into": customer_id}, {"_id": 1})]
    return [customer_id, *merged]


async def _conversation_ids(db: AsyncDatabase[dict[str, Any]], customers: list[str]) -> list[str]:
    return [d["_id"] async for d in db["conversations"].find({"customer_id": {"$in": customers}}, {"_id": 1})]


async def erase(db: AsyncDatabase[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """Remove every trace of the customer: raw events, timelines, survey identities, evaluation content, contacts,
    opt-outs. Conversations, surveys' scores and evaluations' scores stay (anonymous) so KPIs do not change;
    rollups are never touched. A retry finds nothing more."""
    customer_id = str(body["customer_id"])
    identities = [str(i) for i in body.get("identities", [])]
    customers = await _customer_ids(db, customer_id)
    convs = await _conversation_ids(db, customers)
    removed = {
        "events": (await db["events"].delete_many(
            {"$or": [{"customer_id": {"$in": customers}}, {"conversation_id": {"$in": convs}}]})).deleted_count,
        "conversations": (await db["conversations"].update_many(
            {"_id": {"$in": convs}}, {"$unset": PERSONAL})).modified_count,
        "surveys": (await db["surveys"].update_many(
            {"$or": [{"conversation_id": {"$in": convs}}, {"identity": {"$in": identities}}],
             "identity": {"$exists": True}}, {"$unset": {"identity": ""}})).modified_count,
        "evaluations": (await db["evaluations"].update_many(
            {"conversation_id": {"$in": convs}}, {"$unset": EVALUATION_CONTENT})).modified_count,
        "customers": (await db["customers"].delete_many({"_id": {"$in": customers}})).deleted_count,
        "optouts": (await db["optouts"].delete_many({"_id": {"$in": identities}})).deleted_count,
    }
    return {"removed": removed}


async def export(db: AsyncDatabase[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    """The customer's conversations (their timelines' events decoded), other events (merges), surveys and
    evaluations."""
    customer_id = str(body["customer_id"])
    customers = await _customer_ids(db, customer_id)
    convs = await _conversation_ids(db, customers)
    conversations = await db["conversations"].find({"_id": {"$in": convs}}).to_list(None)
    for conv in conversations:  # each timeline entry's encoded event, readable
        for entry in conv.get("timeline", []):
            if isinstance(entry.get("event"), bytes):
                try:
                    entry["event"] = MessageToDict(event_pb2.Event.FromString(entry["event"]),
                                                   preserving_proto_field_name=True)
                except DecodeError:  # not an event of ours: given as it is stored
                    entry["event"] = base64.b64encode(entry["event"]).decode()
    return {"data": {
        "conversations": conversations,
        "events": await db["events"].find({"$or": [{"customer_id": {"$in": customers}},
                                                   {"conversation_id": {"$in": convs}}]}).sort("time", 1).to_list(None),
        "surveys": await db["surveys"].find({"conversation_id": {"$in": convs}}).to_list(None),
        "evaluations": await db["evaluations"].find({"conversation_id": {"$in": convs}}).to_list(None),
    }}
