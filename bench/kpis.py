"""KPI queries from the rollups at scale, beside the old full scan, and ingest with rollups beside ingest without.

Builds N conversations over 30 days for 200 agents (and each agent's 8-hour available shift a day) through the
rollup function, a day per task on every core, then times three questions (p50/p95 wall, and CPU per question of
the database server and this client): one agent's week by day, the whole center's month by queue, the whole
center's day by 15-minute interval. The old full scan answers the same questions over 100,000 stored conversations,
and the rollups again at that size. Last, bench/quality.py's ingest path with and without the rollup update, on
the same events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from rich.progress import track

from bench.quality import RUNS, events
from omnihub.api.event.v1 import event_pb2
from omnihub.common.logging import configure_logging
from omnihub.quality import calendar, rollups
from omnihub.quality.ingest import INGEST_BATCH, Ingestor, conversation_changes, event_doc
from omnihub.quality.queries import KpiQuery, ScanQuery
from omnihub.quality.rollups import Contribution, RollupConfig
from omnihub.quality.store import QualityStore, bucket_documents
from omnihub.testkit.servers import MongoServer

DAYS = 30
AGENTS = 200
QUEUES = ("support", "sales", "billing", "tech")
CHANNELS = ("sms", "webchat", "email", "voice")
TARGETS = {q: (0.8, 20.0) for q in QUEUES}
ZONE = "Asia/Shanghai"
BATCH = 20_000
QUERIES = 20


def conversation(i: int, t0: float, rng: random.Random, length: float = DAYS * 86400) -> dict[str, Any]:
    """One conversation document as ingest stores it (KPI fields and per-event maps), created in [t0, t0 + length)."""
    created = t0 + rng.random() * length
    queue, channel, agent = rng.choice(QUEUES), rng.choice(CHANNELS), f"a{rng.randrange(AGENTS)}"
    doc: dict[str, Any] = {"_id": f"k{i}", "created": created, "channel": channel, "queue": queue,
                           "customer_id": f"cus{rng.randrange(300_000)}", "queued": True,
                           "offers": {f"e{i}q": [created, queue]}}
    wait = rng.expovariate(1 / 15)
    if rng.random() < 0.08:
        doc.update(abandoned=created + wait, abandon_wait=wait, abandons={f"e{i}x": [created + wait, wait]})
        return doc
    answered = created + wait
    talk, wrap = rng.uniform(60, 400), 30.0
    closed = answered + talk
    resolved = rng.random() < 0.8
    doc.update(agent=agent, answered=answered, wait=wait, first_queue=queue, handled=True, talk=talk, wrap=wrap,
               hold=0.0, resolved=resolved, closed=closed,
               assigns={f"e{i}a": [answered, agent, True, wait, False]},
               wraps={f"e{i}w": [closed + wrap, agent, talk, 0.0, wrap]},
               outcomes={f"e{i}r": [closed, resolved]})
    return doc


def add(total: Contribution, part: Contribution) -> None:
    """Add a contribution into a running total, in place."""
    for bid, counters in part.items():
        into = total.setdefault(bid, {})
        for k, v in counters.items():
            into[k] = into.get(k, 0) + v


CONFIG = RollupConfig(thresholds={q: t for q, (_, t) in TARGETS.items()}, timezone=ZONE)


def day_documents(day: int, per_day: int, t0: float) -> list[dict[str, Any]]:
    """The conversations created on the day-th day after t0 (the same ones whoever asks)."""
    rng = random.Random(7_000 + day)
    return [conversation(day * per_day + j, t0 + day * 86400, rng, 86400) for j in range(per_day)]


def day_total(day: int, per_day: int, t0: float) -> Contribution:
    """The summed contributions of one day's conversations (run in a worker process)."""
    total: Contribution = {}
    for doc in day_documents(day, per_day, t0):
        add(total, rollups.conversation(doc, CONFIG))
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and its finished worker processes."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


async def build(url: str, database: str, n: int, t0: float, conversations: bool) -> tuple[QualityStore, float]:
    """Store n conversations' rollups (and, when asked, the conversations); returns the store and seconds taken.

    Rollups only: each day's conversations go through the rollup function in a worker process (one per core),
    the days' sums are added up here and bulk-loaded as the interval documents ingest would leave.
    """
    store = QualityStore(url, database)
    await store.setup()
    per_day = n // DAYS
    total: Contribution = {}
    started = time.perf_counter()
    if conversations:
        for index in track(range(DAYS), description=f"{n:,} conversations stored"):
            docs = day_documents(index, per_day, t0)
            for d in docs:
                part = rollups.contribution(d, CONFIG, repeat=False)
                d["kpi"] = 0  # as ingest keeps it: the contribution was computed with no repeat contact
                add(total, part)
            for lo in range(0, len(docs), BATCH):
                await store.conversations.insert_many(docs[lo:lo + BATCH], ordered=False)
    else:
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            days = [pool.submit(day_total, index, per_day, t0) for index in range(DAYS)]
            for done in track(as_completed(days), total=DAYS, description=f"{n:,} conversations' contributions"):
                add(total, done.result())
    tz = calendar.zone(ZONE)
    states = []
    for a in range(AGENTS):  # an 8-hour available shift each local day
        day = calendar.day_start(t0, tz)
        for _ in range(DAYS):
            add(total, rollups.span(f"a{a}", "AVAILABLE", day + 8 * 3600, day + 16 * 3600, CONFIG))
            states += [{"_id": f"s{a}_{day}_on", "kind": "agent_state_changed", "agent": f"a{a}", "time": day + 8 * 3600,
                        "from_state": "OFFLINE", "to_state": "AVAILABLE"},
                       {"_id": f"s{a}_{day}_off", "kind": "agent_state_changed", "agent": f"a{a}",
                        "time": day + 16 * 3600, "from_state": "AVAILABLE", "to_state": "OFFLINE"}]
            day = calendar.next_day(day, tz)
        await store.note_last_state(f"a{a}", day - 86400 + 16 * 3600, "OFFLINE")
    if conversations:
        await store.events.insert_many(states, ordered=False)
    total = rollups.with_queue_time(total, {}, CONFIG)  # the queues' share of agent time, as ingest keeps it
    buckets = bucket_documents(total)
    for lo in track(range(0, len(buckets), 100), description=f"{len(buckets):,} interval documents"):
        await store.rollups.insert_many(buckets[lo:lo + 100], ordered=False)
    return store, time.perf_counter() - started


async def timed(label: str, runs: int, fn: Callable[[], Awaitable[Any]], server: int) -> str:
    """p50/p95 wall time of `runs` calls, and the mean CPU per call of the database server and this client."""
    times = []
    server_cpu, client_cpu = cpu_seconds(server), time.process_time()
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    server_cpu = (cpu_seconds(server) - server_cpu) / runs
    client_cpu = (time.process_time() - client_cpu) / runs
    p95 = statistics.quantiles(times, n=20)[18] if len(times) >= 2 else times[0]
    return (f"  {label:<44}p50 {statistics.median(times) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   "
            f"CPU/run server {server_cpu * 1000:7.1f} ms + client {client_cpu * 1000:7.1f} ms   ({runs} runs)")


async def questions(query: KpiQuery | ScanQuery, t0: float, runs: int, server: int) -> list[str]:
    """The three questions, timed."""
    tz = calendar.zone(ZONE)
    day = calendar.day_start(t0 + 10 * 86400, tz)
    week = calendar.week_start(t0 + 10 * 86400, tz)
    month_end = calendar.day_start(t0 + DAYS * 86400, tz)
    month = calendar.day_start(month_end - DAYS * 86400 + 3600, tz)
    day_rows = "day" if isinstance(query, KpiQuery) else "interval"
    await query.rows(day, calendar.next_day(day, tz), "queue")  # a first question opens the connections
    return [await timed("one agent's week by day", runs,
                        lambda: query.rows(week, calendar.next_week(week, tz), day_rows, 86400, agent="a7"), server),
            await timed("whole center's month by queue", runs, lambda: query.rows(month, month_end, "queue"), server),
            await timed("whole center's day by 15-minute interval", runs,
                        lambda: query.rows(day, calendar.next_day(day, tz), "interval", 900), server)]


class WithoutRollups(Ingestor):
    """The ingest path as it was before rollups: events, conversations, effects."""

    async def handle(self, events: list[event_pb2.Event]) -> list[event_pb2.Event]:
        holding = self._to_hold(events)
        held = [e for e in events if e.conversation_id in holding] if holding else []
        if held:
            events = [e for e in events if e.conversation_id not in holding]
        await self.store.insert_events([event_doc(e) for e in events if not e.conversation_id])
        await self.store.record_conversations(conversation_changes(events))
        return held


async def ingest_rate(url: str, name: str, cls: type[Ingestor], evs: list[event_pb2.Event],
                      server: int) -> tuple[float, float]:
    """bench/quality.py's direct path: fetch-sized batches into handle(), held events carried over; returns
    (events per second, CPU seconds of the database server and this client)."""
    store = QualityStore(url, f"bench_kpi_ingest_{name}")
    await store.setup()
    ingestor = cls(store, None, surveys=False, hold_seconds=3.0)  # type: ignore[arg-type]
    held: list[event_pb2.Event] = []
    start, cpu = time.perf_counter(), cpu_seconds(server) + time.process_time()
    for lo in range(0, len(evs), INGEST_BATCH):
        held = await ingestor.handle(held + evs[lo:lo + INGEST_BATCH])
    while held:
        held = await ingestor.handle(held)
    rate = len(evs) / (time.perf_counter() - start)
    cpu = cpu_seconds(server) + time.process_time() - cpu
    await store.client.drop_database(f"bench_kpi_ingest_{name}")
    await store.close()
    return rate, cpu


async def main() -> None:
    configure_logging("bench", "WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--scan-conversations", type=int, default=100_000, help="0: no old full scan")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=QUERIES)
    parser.add_argument("--skip-ingest", action="store_true", help="no ingest comparison (bench/quality.py has it)")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    t0 = time.time() - DAYS * 86400
    with MongoServer() as mongo:
        assert mongo.proc is not None
        server = mongo.proc.pid
        cpu = own_cpu(), cpu_seconds(server)
        store, seconds = await build(mongo.url, "bench_kpis", args.conversations, t0, conversations=False)
        count = await store.rollups.estimated_document_count()
        print(f"rollups of {args.conversations:,} conversations over {DAYS} days, {AGENTS} agents, {ZONE}: "
              f"{count:,} interval documents, built in {seconds:.0f} s (CPU: this process and its workers "
              f"{own_cpu() - cpu[0]:.0f} s, server {cpu_seconds(server) - cpu[1]:.0f} s)")
        query = KpiQuery(store, TARGETS, 5.0, ZONE)
        for line in await questions(query, t0, args.runs, server):
            print(line)
        if args.scan_conversations:
            cpu = own_cpu(), cpu_seconds(server)
            scan_store, seconds = await build(mongo.url, "bench_kpis_scan", args.scan_conversations, t0,
                                              conversations=True)
            print(f"old full scan over {args.scan_conversations:,} conversations (stored in {seconds:.0f} s; CPU "
                  f"client {own_cpu() - cpu[0]:.0f} s, server {cpu_seconds(server) - cpu[1]:.0f} s):")
            for line in await questions(ScanQuery(scan_store, TARGETS, 5.0), t0, max(2, args.runs // 10), server):
                print(line)
            print(f"the same from rollups over those {args.scan_conversations:,}:")
            small = KpiQuery(scan_store, TARGETS, 5.0, ZONE)
            for line in await questions(small, t0, args.runs, server):
                print(line)
            await scan_store.client.drop_database(scan_store.db.name)
            await scan_store.close()
        await store.client.drop_database(store.db.name)
        await store.close()
        print(f"load average after the questions: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.skip_ingest:
            return
        await ingest_rate(mongo.url, "warm", WithoutRollups, events(args.events, 20, tag="warm"), server)
        print(f"ingest of {args.events:,} events ({args.events // 4:,} conversations), bench/quality.py's direct path, "
              f"best of {RUNS} (CPU: the least of server + client):")
        for label, in_progress in (("20 open at once", 20), ("1,000 open at once", 1000)):
            before = after = 0.0
            before_cpu = after_cpu = float("inf")
            for run in range(RUNS):
                evs = events(args.events, in_progress, tag=f"k{in_progress}r{run}")
                rate, cpu_used = await ingest_rate(mongo.url, f"before{run}", WithoutRollups, evs, server)
                before, before_cpu = max(before, rate), min(before_cpu, cpu_used)
                rate, cpu_used = await ingest_rate(mongo.url, f"after{run}", Ingestor, evs, server)
                after, after_cpu = max(after, rate), min(after_cpu, cpu_used)
            print(f"  {label}: without rollups {before:,.0f} events/s (CPU {before_cpu:.2f} s), with rollups "
                  f"{after:,.0f} events/s (CPU {after_cpu:.2f} s): wall {after / before:.2f}x, "
                  f"CPU {before_cpu / after_cpu:.2f}x")

if __name__ == "__main__":
    asyncio.run(main())
