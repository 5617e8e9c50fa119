"""Quality ingest: events from JetStream through the quality service's consumer into MongoDB, beside bare
insert_many of the same events on the same server in the same run; then the KPI query time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import time
from dataclasses import dataclass
from typing import Any

from pymongo import monitoring
from pymongo.errors import BulkWriteError

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.common.logging import configure_logging
from omnihub.quality.config import QualitySettings
from omnihub.quality.ingest import INGEST_BATCH, Ingestor, consume_events, conversation_changes, event_doc
from omnihub.quality.queries import KpiQuery
from omnihub.quality.rollup_writer import RollupWriter
from omnihub.quality.store import QualityStore
from omnihub.testkit.servers import MongoServer, NatsServer

BARE_BATCH = 1_000
RUNS = 3
TARGET = 0.8  # the new path's speed as a share of the old one's (#21)
TALK = 200.0  # seconds from answer to resolution; wrap-up takes 30 more
RETURNING = "20 open, every customer back 3 days after an earlier conversation (stored beforehand)"


def events(n: int, in_progress: int, tag: str, seed: int = 1, days_ago: float = 1.0) -> list[event_pb2.Event]:
    """n/4 conversations (queued, assigned, resolved, wrapped up) with about `in_progress` open at once, in stream
    order, from `days_ago` days back; the customers are cus_0 .. cus_4999 whatever the tag."""
    rng = random.Random(seed)
    out = []
    spacing = (15 + TALK + 30) / in_progress
    t0 = time.time() - days_ago * 86400
    for i in range(n // 4):
        cid = f"{tag}c{i}"
        base = t0 + i * spacing
        wait = rng.expovariate(1 / 15)
        kinds: list[tuple[float, dict[str, Any]]] = [
            (0, dict(conversation_queued=event_pb2.ConversationQueued(queue="support"))),
            (wait, dict(conversation_assigned=event_pb2.ConversationAssigned(agent_id=f"a{i % 50}", queue="support", first_answer=True))),
            (wait + TALK, dict(conversation_resolved=event_pb2.ConversationResolved(agent_id=f"a{i % 50}", resolved=rng.random() < .8))),
            (wait + TALK + 30, dict(conversation_wrapped_up=event_pb2.ConversationWrappedUp(agent_id=f"a{i % 50}", resolved=True))),
        ]
        for j, (offset, kind) in enumerate(kinds):
            e = event_pb2.Event(id=f"evt_{tag}{i}_{j}", conversation_id=cid, customer_id=f"cus_{i % 5000}",
                                channel=contact_pb2.CHANNEL_WEBCHAT, queue="support", source="bench")
            e.time.FromNanoseconds(int((base + offset) * 1e9))
            if "conversation_assigned" in kind:
                kind["conversation_assigned"].wait_duration.FromNanoseconds(int(wait * 1e9))
            for name, value in kind.items():
                getattr(e, name).CopyFrom(value)
            out.append(e)
    return sorted(out, key=lambda e: e.time.ToNanoseconds())


class WithoutFcr(RollupWriter):
    """The rollup writer with the customers' FCR bookkeeping left out (`--without-fcr`): no customer documents
    read or written, every conversation counted as no repeat. Not a product path: it shows what that bookkeeping
    costs of the new path."""

    async def _contacts(self, docs: list[dict[str, Any]], cache: dict[str, dict[str, Any]] | None = None,
                        ) -> tuple[dict[str, list[float]], set[str]]:
        return {}, set()


class CountingIngestor(Ingestor):
    """The service's ingestor, telling the bench when it has stored everything; with `rollups` False, the path
    before rollups existed (events and conversations only, no transaction): the baseline."""

    def __init__(self, store: QualityStore, bus: Bus, expect: int, rollups: bool = True, fcr: bool = True) -> None:
        super().__init__(store, bus, surveys=False, hold_seconds=QualitySettings().quality_hold_seconds)
        if not fcr:
            self.rollups = WithoutFcr(store, self.rollups.config)
        self.expect = expect
        self.stored = 0
        self.done = asyncio.Event()
        self.with_rollups = rollups

    async def handle(self, events: list[event_pb2.Event]) -> list[event_pb2.Event]:
        held = await (super().handle(events) if self.with_rollups else self.baseline(events))
        self.stored += len(events) - len(held)
        if self.stored >= self.expect:
            self.done.set()
        return held


    async def baseline(self, events: list[event_pb2.Event]) -> list[event_pb2.Event]:
        """The ingest path without rollups: events inserted (duplicates skipped), conversations inserted or updated."""
        holding = self._to_hold(events)
        held = [e for e in events if e.conversation_id in holding] if holding else []
        events = [e for e in events if e.conversation_id not in holding]
        docs = [event_doc(e) for e in events if not e.conversation_id]
        if docs:
            with contextlib.suppress(BulkWriteError):
                await self.store.events.insert_many(docs, ordered=False)
        await self.store.record_conversations(conversation_changes(events))
        return held


async def bare_rate(url: str, evs: list[event_pb2.Event]) -> float:
    """insert_many of one document per event, nothing else."""
    store = QualityStore(url, "bench_bare")
    docs = [event_doc(e) for e in evs]
    start = time.perf_counter()
    for lo in range(0, len(docs), BARE_BATCH):
        await store.events.insert_many(docs[lo:lo + BARE_BATCH], ordered=False)
    rate = len(docs) / (time.perf_counter() - start)
    await store.client.drop_database("bench_bare")
    await store.close()
    return rate


@dataclass(frozen=True)
class Cost:
    """What one ingest of a set of events cost: wall seconds, and CPU seconds of the server and of this process."""

    wall: float
    server: float
    client: float

    @property
    def cpu(self) -> float:
        """Server + client CPU seconds: the figure other load on the machine hardly changes."""
        return self.server + self.client


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CommandTimes(monitoring.CommandListener):
    """Wall time of each command (name and collection) the measured ingest sends, per path: on a quiet server
    about the server CPU it costs (`--commands`)."""

    def __init__(self) -> None:
        self.path = ""  # "old" or "new" while an ingest is measured
        self.totals: dict[tuple[str, str], list[float]] = {}
        self._started: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.path:
            target = event.command.get(event.command_name)
            self._started[event.request_id] = f"{event.command_name} {target if isinstance(target, str) else ''}"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event.request_id, event.duration_micros)

    def _done(self, request_id: int, micros: int) -> None:
        what = self._started.pop(request_id, None)
        if what is not None:
            total = self.totals.setdefault((self.path, what.strip()), [0, 0.0])
            total[0] += 1
            total[1] += micros / 1e6

    def lines(self, runs: int) -> list[str]:
        """Each path's costliest commands, seconds per run; then starts afresh."""
        out = []
        for path in ("old", "new", "without-fcr"):
            top = sorted(((t, n, what) for (p, what), (n, t) in self.totals.items() if p == path), reverse=True)[:8]
            if not top:
                continue
            out.append(f"  {path} path, commands per run (count, seconds): " + ", ".join(
                f"{what} {n / runs:.0f} {t / runs:.2f}" for t, n, what in top))
        self.totals.clear()
        return out


COMMANDS = CommandTimes()


async def fresh_store(url: str, database: str, history: list[event_pb2.Event] | None) -> QualityStore:
    """A set-up store in its own database, holding `history` stored through the new path (not measured)."""
    store = QualityStore(url, database)
    await store.setup()
    if history:
        await ingest_all(CountingIngestor(store, None, len(history)), history)  # type: ignore[arg-type]
    return store


async def direct_cost(url: str, name: str, evs: list[event_pb2.Event], server_pid: int,
                      rollups: bool = True, history: list[event_pb2.Event] | None = None, fcr: bool = True) -> Cost:
    """The ingest path alone: fetch-sized batches into Ingestor.handle, held events carried into the next batch.
    `history`: events stored beforehand through the new path, not measured (the customers' earlier conversations);
    `fcr` False: the new path without its FCR bookkeeping (`WithoutFcr`)."""
    store = await fresh_store(url, f"bench_direct_{name}", history)
    ingestor = CountingIngestor(store, None, len(evs), rollups, fcr)  # type: ignore[arg-type]
    COMMANDS.path = ("new" if fcr else "without-fcr") if rollups else "old"
    server, client, start = process_cpu(server_pid), time.process_time(), time.perf_counter()
    await ingest_all(ingestor, evs)
    COMMANDS.path = ""
    cost = Cost(time.perf_counter() - start, process_cpu(server_pid) - server, time.process_time() - client)
    await check_and_drop(store, f"bench_direct_{name}", (len(evs) + len(history or [])) // 4)
    return cost


async def ingest_all(ingestor: CountingIngestor, evs: list[event_pb2.Event]) -> None:
    """Fetch-sized batches into the ingestor, held events carried into the next batch."""
    held: list[event_pb2.Event] = []
    for lo in range(0, len(evs), INGEST_BATCH):
        held = await ingestor.handle(held + evs[lo:lo + INGEST_BATCH])
    while held:
        held = await ingestor.handle(held)


def compare_lines(label: str, old: list[Cost], new: list[Cost]) -> list[str]:
    """Old and new path of the same run side by side: each pair, then the medians' ratios against TARGET."""
    lines = [f"{label}:"]
    for i, (o, n) in enumerate(zip(old, new, strict=True)):
        lines.append(f"  run {i + 1}: old {o.wall:6.2f} s wall {o.server:6.2f}+{o.client:5.2f} s CPU | "
                     f"new {n.wall:6.2f} s wall {n.server:6.2f}+{n.client:5.2f} s CPU | "
                     f"ratio wall {o.wall / n.wall:.2f}x CPU {o.cpu / n.cpu:.2f}x")
    wall = statistics.median(o.wall for o in old) / statistics.median(n.wall for n in new)
    cpu = statistics.median(o.cpu for o in old) / statistics.median(n.cpu for n in new)
    for what, ratio in (("CPU time (server + client)", cpu), ("wall time", wall)):
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        lines.append(f"  new path speed by {what}, medians: {ratio:.2f}x of the old path  "
                     f"{verdict} (target >= {TARGET}x)")
    return lines


async def check_and_drop(store: QualityStore, database: str, conversations: int) -> None:
    """Every conversation stored once, then clean up."""
    stored = await store.conversations.count_documents({})
    assert stored == conversations, (stored, conversations)
    await store.client.drop_database(database)
    await store.close()


async def service_cost(nats_url: str, mongo_url: str, name: str, evs: list[event_pb2.Event], pids: list[int],
                       rollups: bool = True, history: list[event_pb2.Event] | None = None) -> Cost:
    """The whole service: publish the events, then the quality consumer draining them into a fresh database
    (JetStream fetch, decoding, the ingest path, acks). `server` CPU is MongoDB's and nats-server's (`pids`).
    `history`: the customers' earlier conversations, stored beforehand through the new path, not measured."""
    bus = await Bus.connect(nats_url, name="bench")
    await bus.ensure_streams()
    await bus.js.purge_stream(subjects.STREAM_EVENTS)
    async with bus.batch() as batch:
        for e in evs:
            await batch.publish_event(e)
    store = await fresh_store(mongo_url, f"bench_{name}", history)
    ingestor = CountingIngestor(store, bus, len(evs), rollups)
    server, client, start = sum(map(process_cpu, pids)), time.process_time(), time.perf_counter()
    consumer = await consume_events(bus, ingestor, durable=f"bench_{name}")
    await asyncio.wait_for(ingestor.done.wait(), 600)
    cost = Cost(time.perf_counter() - start, sum(map(process_cpu, pids)) - server, time.process_time() - client)
    await consumer.stop()
    await check_and_drop(store, f"bench_{name}", (len(evs) + len(history or [])) // 4)
    await bus.close()
    return cost


async def kpi_query_seconds(url: str, conversations: int) -> str:
    """The KPI query over `conversations` stored conversations, grouped by queue."""
    kpi = QualityStore(url, "bench_kpi")
    await kpi.setup()
    now = time.time()
    rng = random.Random(2)
    conv_docs = [{"_id": f"k{i}", "created": now - rng.random() * 86400, "channel": rng.choice(["sms", "webchat", "email", "voice"]),
                  "queue": rng.choice(["support", "sales"]), "customer_id": f"cus{rng.randrange(40_000)}", "queued": True,
                  "agent": f"a{i % 50}", "answered": now, "wait": rng.expovariate(1 / 15), "handled": True, "talk": 180.0,
                  "wrap": 30.0, "resolved": rng.random() < 0.8, "closed": now,
                  "timeline": [{"id": f"evt_k{i}_{j}", "kind": "conversation_queued", "time": now, "event": bytes(120)}
                               for j in range(4)]} for i in range(conversations)]
    for lo in range(0, len(conv_docs), 5000):
        await kpi.conversations.insert_many(conv_docs[lo:lo + 5000], ordered=False)
    query = KpiQuery(kpi, {"support": (0.8, 20.0), "sales": (0.8, 30.0)})
    start = time.perf_counter()
    _rows, total = await query.rows(now - 86400, now + 1, "queue")
    elapsed = time.perf_counter() - start
    await kpi.close()
    return (f"KPI query over {conversations:,} conversations grouped by queue: {elapsed:.2f} s "
            f"(SL {total.service_level_b:.1%}, ASA {total.asa:.1f}s, FCR {total.fcr:.1%})")


async def main() -> None:
    configure_logging("bench", "WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--kpi-conversations", type=int, default=100_000)
    parser.add_argument("--skip-consumer", action="store_true", help="only the direct ingest paths")
    parser.add_argument("--compare-only", action="store_true",
                        help="only old vs new path, direct and behind the consumer (no bare insert or KPI query)")
    parser.add_argument("--returning", action="store_true",
                        help="also: every customer back within 7 days (their earlier conversations stored beforehand)")
    parser.add_argument("--without-fcr", action="store_true",
                        help="also: the new path without its FCR bookkeeping (what that bookkeeping costs)")
    parser.add_argument("--commands", action="store_true",
                        help="also print each path's costliest database commands (wall seconds per run)")
    args = parser.parse_args()
    if args.commands:
        monitoring.register(COMMANDS)  # before any client exists
    shapes = {"small team, 20 conversations open at once": 20, "large centre, 1,000 open at once": 1000}
    if args.returning:
        shapes[RETURNING] = 20
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    with MongoServer() as mongo, NatsServer() as nats:
        assert mongo.proc is not None and nats.proc is not None
        pid, nats_pid = mongo.proc.pid, nats.proc.pid
        await bare_rate(mongo.url, events(args.events, 20, tag="warm"))  # the server's first writes are slow
        await direct_cost(mongo.url, "warm", events(2_000, 20, tag="warm2"), pid)
        print(f"ingest of {args.events:,} events ({args.events // 4:,} conversations of 4 events) into SecantusDB, "
              f"in stream order, {args.runs} runs; old = the path before rollups, new = with rollups and FCR, one "
              f"transaction per batch; both on one server, alternating which goes first")
        for i, (label, in_progress) in enumerate(shapes.items()):
            olds: list[Cost] = []
            news: list[Cost] = []
            without_fcr: list[Cost] = []  # the new path without its FCR bookkeeping
            service_olds: list[Cost] = []
            service_news: list[Cost] = []
            bare = 0.0
            for run in range(args.runs):  # new event ids each run: JetStream drops ids it saw in the last 2 minutes
                evs = events(args.events, in_progress, tag=f"s{i}r{run}")
                # the same customers' conversations three days earlier: each new contact makes one a repeat
                history = events(args.events, in_progress, tag=f"h{i}r{run}", days_ago=4) if label == RETURNING else None
                if not args.compare_only:
                    bare = max(bare, await bare_rate(mongo.url, evs))
                for rollups in ((False, True) if run % 2 == 0 else (True, False)):
                    cost = await direct_cost(mongo.url, f"{i}_{run}_{rollups}", evs, pid, rollups=rollups,
                                             history=history)
                    (news if rollups else olds).append(cost)
                if args.without_fcr:
                    without_fcr.append(await direct_cost(mongo.url, f"{i}_{run}_nofcr", evs, pid, history=history,
                                                       fcr=False))
                if not args.skip_consumer:
                    for rollups in ((True, False) if run % 2 == 0 else (False, True)):
                        # the same conversations under other event ids: JetStream drops ids seen in the last 2 minutes
                        again = events(args.events, in_progress, tag=f"s{i}r{run}{'n' if rollups else 'o'}")
                        cost = await service_cost(nats.url, mongo.url, f"s{i}_{run}_{rollups}", again,
                                                  [pid, nats_pid], rollups=rollups, history=history)
                        (service_news if rollups else service_olds).append(cost)
            for line in compare_lines(label, olds, news) + (COMMANDS.lines(args.runs) if args.commands else []):
                print(line)
            for what, old_costs, new_costs in (
                    ("the new path without its FCR bookkeeping (not a product path)", olds, without_fcr),
                    ("the same behind its JetStream consumer (the whole service; server CPU is MongoDB's + "
                     "nats-server's)", service_olds, service_news)):
                if new_costs:
                    for line in compare_lines(f"  {what}", old_costs, new_costs):
                        print(f"  {line}")
            if not args.compare_only:
                old = args.events / min(c.wall for c in olds)
                new = args.events / min(c.wall for c in news)
                print(f"  {f'bare insert_many, one document per event, {BARE_BATCH:,} a call':<56}{bare:>10,.0f}")
                print(f"  {'ingest path without rollups (the path before them)':<56}{old:>10,.0f}  {old / bare:.2f}")
                print(f"  {'quality ingest path with rollups, one transaction/batch':<56}{new:>10,.0f}  "
                      f"{new / bare:.2f}")
                if service_news:
                    whole = args.events / min(c.wall for c in service_news)
                    print(f"  {'the same behind its JetStream consumer (whole service)':<56}{whole:>10,.0f}  "
                          f"{whole / bare:.2f}")
        print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if not args.compare_only:
            print(await kpi_query_seconds(mongo.url, args.kpi_conversations))


if __name__ == "__main__":
    asyncio.run(main())
