"""Inbox search at 100,000 messages (Chinese and English) in SecantusDB: p50/p95 and CPU time of typical queries,
for a supervisor and for an agent, through the index the inbox keeps (omnihub.inbox.search), beside the previous
search (everyone's documents, then the agent's held rows) and a case-insensitive $regex scan, in the same run."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.inbox.live import message_doc
from omnihub.inbox.search import ALL, DAY, GROWTH, PROJECTION, WINDOWS, SearchIndex, scoped, search_docs
from omnihub.inbox.store import InboxStore
from omnihub.inbox.terms import Query, parse_query
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
OLD = "search_old"  # the previous layout, for the same-run comparison


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
            if c == 43 and k == 0:  # the order number searched for below, in a conversation agent3 held
                text += " 订单号 ORD-000123"
            m = messaging_pb2.Message(id=f"msg_b{c:06d}_{k}", conversation_id=cid, text=text,
                                      direction=messaging_pb2.DIRECTION_INCOMING if k % 2 == 0 else
                                      messaging_pb2.DIRECTION_OUTGOING, channel=contact_pb2.CHANNEL_SMS)
            e = event_pb2.Event(id=f"evt_m{c}_{k}", conversation_id=cid, customer_id=cus, channel=contact_pb2.CHANNEL_SMS)
            e.time.FromNanoseconds(int((start + 60 * k) * 1e9))
            e.message_created.message.CopyFrom(m)
            out.append(e)
    return out, held


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process has used so far (Linux /proc); 0.0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def insert(coll: Any, docs: list[dict[str, Any]]) -> None:
    """Unordered inserts of 1,000 at a time (a retried slow answer finds some already there: fine)."""
    for i in range(0, len(docs), 1000):
        try:
            await coll.insert_many(docs[i:i + 1000], ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise


async def load(url: str, n: int, old: bool) -> None:
    """Fill the inbox's collections with the documents ingest makes (search_docs, scoped: the same functions),
    in bulk rather than event by event; with `old`, also the previous layout (everyone's documents, held rows)."""
    store = InboxStore(url, "bench_search")
    await store.client.drop_database("bench_search")  # a kept data directory still has the last run's
    await store.setup()
    index = SearchIndex(store)
    await index.setup()
    events, held = corpus(n)
    agent_of = dict(held)
    everyone = [d for e in events for d in search_docs(e)]
    copies = [c for d in everyone for c in scoped([d], agent_of[d["c"]])]
    started = time.perf_counter()
    await insert(index.docs, everyone + copies)
    await insert(index.holders, [{"_id": cid, "a": [agent]} for cid, agent in held])
    print(f"index: {len(everyone):,} documents for everyone + {len(copies):,} agents' copies in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    t = time.perf_counter()
    await insert(store.messages, [message_doc(e) for e in events if e.WhichOneof("kind") == "message_created"])
    print(f"messages: {n:,} in {time.perf_counter() - t:.0f} s", flush=True)
    if old:
        t = time.perf_counter()
        await store.db[OLD].create_index([("terms", ASCENDING), ("t", ASCENDING)])
        await insert(store.db[OLD], [{k: v for k, v in d.items() if k != "v"} for d in everyone])
        await insert(store.held, [{"_id": f"{cid}|{agent}", "conversation_id": cid, "customer_id": "",
                                   "agent": agent} for cid, agent in held])
        print(f"old layout (everyone's documents + held rows): {time.perf_counter() - t:.0f} s", flush=True)
    await store.close()


async def old_find(store: InboxStore, query: Query, agent: str | None, before: float,
                   limit: int) -> list[dict[str, Any]]:
    """The previous search (up to 0.x): everyone's documents by (terms, t), then each window's hits checked
    against the agent's `held` rows."""
    term, prefix = query.driver()
    found: list[dict[str, Any]] = []
    upper = before
    for step in range(WINDOWS + 1):
        if prefix:
            clause: dict[str, Any] = {"terms": {"$gte": term, "$lt": term + "\uffff"}}
            lower = -math.inf
        else:
            lower = upper - DAY * GROWTH ** step if step < WINDOWS else -math.inf
            clause = {"terms": term, "t": {"$lt": upper} if lower == -math.inf else {"$gte": lower, "$lt": upper}}
        docs = [d for d in await store.db[OLD].find(clause, PROJECTION).to_list(None)
                if d["t"] < before and query.matches(d["terms"])]
        if agent is not None and docs:
            ids = [f"{cid}|{agent}" for cid in {d["c"] for d in docs}]
            ok = {h["conversation_id"] for h in await store.held.find(
                {"_id": {"$in": ids}}, projection={"conversation_id": 1}).to_list(None)}
            docs = [d for d in docs if d["c"] in ok]
        found += docs
        if len(found) > limit or lower == -math.inf:
            break
        upper = lower
    found.sort(key=lambda d: d["t"], reverse=True)
    return found[:limit]


Timing = tuple[float, float, float, float, int]  # p50, p95 (ms), client and server CPU ms per run, hits


async def timed(fn: Callable[[], Awaitable[list[Any]]], runs: int, server: int | None) -> Timing:
    """Wall p50/p95 of `runs` calls, and the CPU time per call of this process and of the database server."""
    samples, count = [], 0
    cpu, srv = time.process_time(), cpu_seconds(server)
    for _ in range(runs):
        t = time.perf_counter()
        count = len(await fn())
        samples.append((time.perf_counter() - t) * 1000)
    cpu, srv = (time.process_time() - cpu) * 1000 / runs, (cpu_seconds(server) - srv) * 1000 / runs
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))], cpu, srv, count


async def measure(url: str, runs: int, old_runs: int, server: int | None, old: bool) -> None:
    """New search (as GET /api/search runs it, hits read back) beside the old search and a $regex scan."""
    store = InboxStore(url, "bench_search")
    index = SearchIndex(store)
    now = time.time() + 60

    async def ours(q: str, agent: str | None) -> list[Any]:
        query = parse_query(q)
        docs, _ = await index.find(query, agent or ALL, now, 20)
        return await index.hits(query, docs)

    async def before(q: str, agent: str | None) -> list[Any]:
        query = parse_query(q)
        return await index.hits(query, await old_find(store, query, agent, now, 20))

    async def regex(q: str) -> list[Any]:
        pattern = {"$regex": re.escape(q), "$options": "i"}
        return await store.messages.find({"text": pattern}).sort("time", -1).limit(20).to_list(20)

    queries = [("退款 (a Chinese word, 5% of messages)", "退款"), ("发票 (another)", "发票"),
               ("refund (an English word, 5%)", "refund"), ("an order number (1 message)", "ORD-000123"),
               ("phone without country code", "13800000043"), ("customer name", "Zoë Martin")]
    print(f"ms per search; cpu = CPU ms per search of this client / of the database server (n={runs}, "
          f"old and $regex n={old_runs})")
    print(f"{'query':38} {'scope':10} {'p50':>7} {'p95':>7} {'cpu':>11} {'hits':>4} | {'old p50':>8} {'p95':>8} "
          f"{'cpu':>13} | {'$regex p50':>10} {'p95':>8} {'cpu':>13}")
    for label, q in queries:
        for scope, agent in (("supervisor", None), ("agent", "agent3")):
            p50, p95, cpu, srv, hits = await timed(partial(ours, q, agent), runs, server)
            line = f"{label:38} {scope:10} {p50:7.1f} {p95:7.1f} {cpu:5.0f}/{srv:<5.0f} {hits:4} |"
            if old:
                o50, o95, ocpu, osrv, ohits = await timed(partial(before, q, agent), old_runs,
                                                             server)
                line += f" {o50:8.1f} {o95:8.1f} {ocpu:6.0f}/{osrv:<6.0f}" + ("" if ohits == hits else f" ({ohits} hits!)")
            if agent is None:
                r50, r95, rcpu, rsrv, _ = await timed(partial(regex, q), old_runs, server)
                line += f" | {r50:10.1f} {r95:8.1f} {rcpu:6.0f}/{rsrv:<6.0f}"
            print(line, flush=True)
    await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--old-runs", type=int, default=5, help="runs of the old search and of $regex (slow)")
    parser.add_argument("--no-old", action="store_true", help="skip the old layout (loads a third faster)")
    parser.add_argument("--mongo-url", help="an existing MongoDB/SecantusDB (already loaded with --skip-load)")
    parser.add_argument("--server-pid", type=int, help="that server's process id, for its CPU time")
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args()
    old = not args.no_old
    if args.mongo_url:
        if not args.skip_load:
            await load(args.mongo_url, args.messages, old)
        await measure(args.mongo_url, args.runs, args.old_runs, args.server_pid, old)
        return
    with MongoServer() as mongo:
        server = mongo.proc.pid if mongo.proc else None
        started, cpu = time.perf_counter(), cpu_seconds(server)
        await load(mongo.url, args.messages, old)
        print(f"loaded {args.messages:,} messages in {time.perf_counter() - started:.0f} s "
              f"(database server CPU {cpu_seconds(server) - cpu:.0f} s, this client {time.process_time():.0f} s)")
        await measure(mongo.url, args.runs, args.old_runs, server, old)


if __name__ == "__main__":
    asyncio.run(main())
