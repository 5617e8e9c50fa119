"""Inbox search at 100,000 messages (Chinese and English) in SecantusDB: p50/p95 of typical queries through the
index the inbox keeps (omnihub.inbox.search), beside a case-insensitive $regex scan of the messages, in the same run."""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import time
from typing import Any

from pymongo.errors import BulkWriteError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox.live import message_doc
from omnihub.inbox.search import SearchIndex, search_docs
from omnihub.inbox.store import InboxStore
from omnihub.inbox.terms import parse_query
from omnihub.testkit.servers import MongoServer

ZH = ["您好，我的订单还没有发货，请问什么时候能到？", "我想申请退款因为商品坏了", "请帮我开发票给公司，谢谢",
      "快递显示已签收但是我没有收到", "这个商品可以换一个颜色吗", "我的账号登录不了，密码也重置不了",
      "优惠券为什么不能使用", "请问你们周末上班吗", "物流太慢了，已经等了一个星期", "收到的衣服尺码不对，想换大一号"]
EN = ["Hi, where is my order? It has not shipped yet.", "I would like a refund, the item arrived broken.",
      "Can you send me an invoice for my company?", "The tracking says delivered but I have nothing.",
      "Can I exchange this for another colour?", "I cannot log in and the password reset does not work.",
      "Why does my coupon not apply at checkout?", "Are you open on weekends?", "Shipping is very slow this week.",
      "The jacket is the wrong size, can I get a larger one?"]
NAMES = ["Li Wei", "Wang Fang", "Zhang Min", "Chen Jing", "Zoë Martin", "José García", "Anna Schmidt", "Tom Baker"]
DAYS = 90
PER_CONVERSATION = 5
AGENTS = 20


def corpus(n: int, seed: int = 7) -> tuple[list[event_pb2.Event], list[tuple[str, str]]]:
    """`n` message events (and their conversations' created events), with (conversation, agent) assignments."""
    rng = random.Random(seed)
    now = time.time()
    out: list[event_pb2.Event] = []
    held: list[tuple[str, str]] = []
    conversations = n // PER_CONVERSATION
    for c in range(conversations):
        cid, cus = f"cnv_b{c:06d}", f"cus_b{c // 2:06d}"
        phone = f"+86138{c:08d}"
        start = now - DAYS * 86_400 * (1 - c / conversations)
        created = event_pb2.Event(id=f"evt_c{c}", conversation_id=cid, customer_id=cus, channel=contact_pb2.CHANNEL_SMS)
        created.time.FromNanoseconds(int(start * 1e9))
        created.conversation_created.conversation.CopyFrom(routing_pb2.Conversation(
            id=cid, customer_id=cus, channel=contact_pb2.CHANNEL_SMS, customer_display_name=rng.choice(NAMES),
            identity=contact_pb2.Identity(channel=contact_pb2.CHANNEL_SMS, source_id=phone)))
        out.append(created)
        held.append((cid, f"agent{c % AGENTS}"))
        for k in range(PER_CONVERSATION):
            text = rng.choice(ZH if rng.random() < 0.5 else EN)
            if rng.random() < 0.02:
                text += f" 订单号 ORD-{rng.randrange(10**6):06d}"
            m = messaging_pb2.Message(id=f"msg_b{c:06d}_{k}", conversation_id=cid, text=text,
                                      direction=messaging_pb2.DIRECTION_INCOMING if k % 2 == 0 else
                                      messaging_pb2.DIRECTION_OUTGOING, channel=contact_pb2.CHANNEL_SMS)
            e = event_pb2.Event(id=f"evt_m{c}_{k}", conversation_id=cid, customer_id=cus, channel=contact_pb2.CHANNEL_SMS)
            e.time.FromNanoseconds(int((start + 60 * k) * 1e9))
            e.message_created.message.CopyFrom(m)
            out.append(e)
    return out, held


async def load(url: str, n: int) -> tuple[float, int]:
    """Fill the inbox's collections the way ingest does (same documents); seconds and documents taken."""
    store = InboxStore(url, "bench_search")
    await store.client.drop_database("bench_search")  # a kept data directory still has the last run's
    await store.setup()
    index = SearchIndex(store)
    await index.setup()
    events, held = corpus(n)
    started = time.perf_counter()
    docs = [d for e in events for d in search_docs(e)]
    for i in range(0, len(docs), 1000):
        try:
            await index.docs.insert_many(docs[i:i + 1000], ordered=False)
        except BulkWriteError as exc:  # a slow answer retried by the driver: what is there already is fine
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
    messages = [message_doc(e) for e in events if e.WhichOneof("kind") == "message_created"]
    for i in range(0, len(messages), 1000):
        await store.add_messages(messages[i:i + 1000])
    await store.held.insert_many([{"_id": f"{cid}|{agent}", "conversation_id": cid, "customer_id": "", "agent": agent}
                                  for cid, agent in held], ordered=False)
    took = time.perf_counter() - started
    await store.close()
    return took, len(docs)


async def timed(fn: Any, runs: int) -> tuple[float, float, int]:
    samples, count = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        count = len(await fn())
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], count


async def measure(url: str, runs: int) -> None:
    store = InboxStore(url, "bench_search")
    db = store.db
    index = SearchIndex(store)
    now = time.time() + 60

    async def ours(q: str, agent: str | None) -> list[Any]:
        query = parse_query(q)

        async def allowed(cids: set[str]) -> set[str]:
            return await index.held_of(agent or "", cids)
        docs, _ = await index.find(query, allowed if agent else None, now, 20)
        return await index.hits(query, docs)

    async def regex(q: str) -> list[Any]:
        pattern = {"$regex": re.escape(q), "$options": "i"}
        return await db["messages"].find({"text": pattern}).sort("time", -1).limit(20).to_list(20)

    queries = [("退款 (a Chinese word, 5% of messages)", "退款"), ("发票 (another)", "发票"),
               ("refund (an English word, 5%)", "refund"), ("order number (0.1%)", "ORD-000123"),
               ("phone without country code", "13800000042"), ("customer name", "Zoë Martin")]
    print(f"{'query':40} {'scope':11} {'p50 ms':>8} {'p95 ms':>8} {'hits':>5}   {'$regex p50':>10} {'p95':>8}")
    for label, q in queries:
        for scope, agent in (("supervisor", None), ("agent", "agent3")):
            p50, p95, hits = await timed(lambda q=q, agent=agent: ours(q, agent), runs)
            line = f"{label:40} {scope:11} {p50:8.1f} {p95:8.1f} {hits:5}"
            if agent is None:
                r50, r95, _ = await timed(lambda q=q: regex(q), max(3, runs // 5))
                line += f"   {r50:10.1f} {r95:8.1f}"
            print(line, flush=True)
    await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--mongo-url", help="an existing MongoDB/SecantusDB (already loaded with --skip-load)")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    if args.mongo_url:
        if not args.skip_load:
            took, docs = await load(args.mongo_url, args.messages)
            print(f"loaded {args.messages:,} messages ({docs:,} index documents) in {took:.0f} s")
        await measure(args.mongo_url, args.runs)
        return
    with MongoServer() as mongo:
        took, docs = await load(mongo.url, args.messages)
        print(f"loaded {args.messages:,} messages ({docs:,} index documents) in {took:.0f} s")
        await measure(mongo.url, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
