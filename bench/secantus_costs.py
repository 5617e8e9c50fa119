"""What SecantusDB's writes and reads of small documents cost (server CPU from /proc, client CPU), in one transaction
each: the figures behind the quality ingest's layout of customers' FCR contacts (see README, bench/quality.py)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bson import Binary
from pymongo import AsyncMongoClient, ReplaceOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from bench.quality import process_cpu
from omnihub.testkit.servers import MongoServer

Body = Callable[[AsyncClientSession | None], Awaitable[Any]]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5_000, help="documents (customers) per operation")
    args = parser.parse_args()
    n = args.n
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    with MongoServer() as mongo:
        assert mongo.proc is not None
        pid = mongo.proc.pid
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url)
        db = client["costs"]
        await db["warm"].insert_many([{"_id": i} for i in range(n)])  # the server's first writes are slow

        async def cost(label: str, body: Body, transaction: bool = True) -> None:
            server, own = process_cpu(pid), time.process_time()
            if transaction:
                async with client.start_session() as session, await session.start_transaction():
                    await body(session)
            else:
                await body(None)
            print(f"  {label:<68} server {process_cpu(pid) - server:5.2f} s  client {time.process_time() - own:5.2f} s")

        people = db["customers"]
        print(f"{n:,} per-customer documents ({{contacts: {{conversation: time}}, closes: {{...}}}}):")
        await cost("insert (a new customer each)", lambda s: people.insert_many(
            [{"_id": f"c{i}", "contacts": {"k1": 1.0}, "closes": {"k1": 2.0}} for i in range(n)], session=s))
        await cost("$min/$max update (a returning customer each)", lambda s: people.bulk_write(
            [UpdateOne({"_id": f"c{i}"}, {"$min": {"contacts.k2": 3.0}, "$max": {"closes.k2": 4.0}}, upsert=True)
             for i in range(n)], session=s))
        await cost("replace (a returning customer each)", lambda s: people.bulk_write(
            [ReplaceOne({"_id": f"c{i}"}, {"_id": f"c{i}", "contacts": {"k1": 1.0, "k3": 3.0}, "closes": {"k1": 2.0}})
             for i in range(n)], session=s))
        for chunk in (25, 50, 100, 250):
            for found, prefix in (("found", "c"), ("missing", "x")):
                async def read(_s: AsyncClientSession | None, chunk: int = chunk, prefix: str = prefix) -> None:
                    for lo in range(0, n, chunk):
                        await people.find({"_id": {"$in": [f"{prefix}{i}" for i in range(lo, lo + chunk)]}}).to_list(None)
                await cost(f"read by _id $in, chunks of {chunk}, {found}", read, transaction=False)
        # the same customers hashed into bucket documents (one field per customer): few documents per batch, but
        # each as large as its share of every customer stored
        for buckets, stored in ((256, 20), (512, 500)):
            coll = db[f"buckets{buckets}"]
            await coll.insert_many([{"_id": h, "c": {f"s{h}_{j}": Binary(os.urandom(40)) for j in range(stored)}}
                                    for h in range(buckets)])
            sets: dict[int, dict[str, Any]] = {}
            for i in range(n):
                sets.setdefault(i % buckets, {})[f"c.n{i}"] = Binary(os.urandom(40))
            print(f"{buckets} bucket documents holding {stored} customers each:")

            async def add(s: AsyncClientSession | None, coll: Any = coll, sets: dict[int, Any] = sets) -> None:
                await coll.bulk_write([UpdateOne({"_id": h}, {"$set": fields}) for h, fields in sets.items()], session=s)

            async def rewrite(s: AsyncClientSession | None, coll: Any = coll, per: int = n // buckets) -> None:
                docs = await coll.find({}, session=s).to_list(None)
                for d in docs:
                    d["c"].update({f"m{i}": Binary(os.urandom(40)) for i in range(per)})
                await coll.bulk_write([ReplaceOne({"_id": d["_id"]}, d) for d in docs], session=s)
            await cost(f"$set {n:,} customers into them", add)
            await cost(f"read all, add {n:,} customers, replace all", rewrite)
        await client.close()
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
