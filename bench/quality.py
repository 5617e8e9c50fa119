"""Quality ingest: events through the quality service's ingest path beside bare insert_many; KPI query time."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.quality.ingest import Ingestor, event_doc
from omnihub.quality.queries import KpiQuery
from omnihub.quality.store import QualityStore
from omnihub.testkit.servers import MongoServer

BATCH = 500


def events(n: int, seed: int = 1) -> list[event_pb2.Event]:
    """n/4 conversations, each queued, assigned, resolved and wrapped up."""
    rng = random.Random(seed)
    out = []
    t0 = time.time() - 86400
    for i in range(n // 4):
        cid = f"c{i}"
        base = t0 + i * (86400 / (n / 4))
        wait = rng.expovariate(1 / 15)
        kinds: list[tuple[float, dict[str, Any]]] = [
            (0, dict(conversation_queued=event_pb2.ConversationQueued(queue="support"))),
            (wait, dict(conversation_assigned=event_pb2.ConversationAssigned(agent_id=f"a{i % 50}", queue="support", first_answer=True))),
            (wait + 200, dict(conversation_resolved=event_pb2.ConversationResolved(agent_id=f"a{i % 50}", resolved=rng.random() < .8))),
            (wait + 230, dict(conversation_wrapped_up=event_pb2.ConversationWrappedUp(agent_id=f"a{i % 50}", resolved=True))),
        ]
        for j, (offset, kind) in enumerate(kinds):
            e = event_pb2.Event(id=f"evt_{i}_{j}", conversation_id=cid, customer_id=f"cus_{i % 5000}",
                                channel=contact_pb2.CHANNEL_WEBCHAT, queue="support", source="bench")
            e.time.FromNanoseconds(int((base + offset) * 1e9))
            if "conversation_assigned" in kind:
                kind["conversation_assigned"].wait_duration.FromNanoseconds(int(wait * 1e9))
            for name, value in kind.items():
                getattr(e, name).CopyFrom(value)
            out.append(e)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--kpi-conversations", type=int, default=100_000)
    args = parser.parse_args()
    evs = events(args.events)
    with MongoServer() as server:
        bare = QualityStore(server.url, "bench_bare")
        docs = [event_doc(e) for e in evs]
        start = time.perf_counter()
        for lo in range(0, len(docs), BATCH):
            await bare.events.insert_many(docs[lo:lo + BATCH], ordered=False)
        bare_rate = len(docs) / (time.perf_counter() - start)
        ours = QualityStore(server.url, "bench_ours")
        await ours.setup()
        ingestor = Ingestor(ours, None, surveys=False)  # type: ignore[arg-type]
        start = time.perf_counter()
        for lo in range(0, len(evs), BATCH):
            await ingestor.handle(evs[lo:lo + BATCH])
        our_rate = len(evs) / (time.perf_counter() - start)
        print(f"ingest of {len(evs)} events into SecantusDB, batches of {BATCH}")
        print(f"{'':<34}{'events/s':>10}")
        print(f"{'bare insert_many (events only)':<34}{bare_rate:>10,.0f}")
        print(f"{'quality ingest (events + timeline)':<34}{our_rate:>10,.0f}   ratio {our_rate / bare_rate:.2f}")
        kpi = QualityStore(server.url, "bench_kpi")
        await kpi.setup()
        now = time.time()
        rng = random.Random(2)
        conv_docs = [{"_id": f"k{i}", "created": now - rng.random() * 86400, "channel": rng.choice(["sms", "webchat", "email", "voice"]),
                      "queue": rng.choice(["support", "sales"]), "customer_id": f"cus{rng.randrange(40_000)}", "queued": True,
                      "agent": f"a{i % 50}", "answered": now, "wait": rng.expovariate(1 / 15), "handled": True, "talk": 180.0,
                      "wrap": 30.0, "resolved": rng.random() < 0.8, "closed": now} for i in range(args.kpi_conversations)]
        for lo in range(0, len(conv_docs), 5000):
            await kpi.conversations.insert_many(conv_docs[lo:lo + 5000], ordered=False)
        query = KpiQuery(kpi, {"support": (0.8, 20.0), "sales": (0.8, 30.0)})
        start = time.perf_counter()
        _rows, total = await query.rows(now - 86400, now + 1, "queue")
        elapsed = time.perf_counter() - start
        print(f"KPI query over {args.kpi_conversations:,} conversations grouped by queue: {elapsed:.2f} s "
              f"(SL {total.service_level_b:.1%}, ASA {total.asa:.1f}s, FCR {total.fcr:.1%})")
        for store in (bare, ours, kpi):
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
