"""Overload on loopback: signed SMS webhooks as fast as the edge takes them for 60 s, through sms, router, quality
and inbox; resident memory of nats-server, SecantusDB and the inbox before, during and after, and what was answered."""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import nats

from omnihub.common import subjects
from omnihub.common.logging import configure_logging
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.servers import MongoServer, NatsServer

ROOT = Path(__file__).resolve().parent.parent
OUR_NUMBER = "+15550001111"


def repo_module(name: str) -> Any:
    """A module of this checkout's tests/ (the hub description and the Twilio double)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def pending(url: str) -> tuple[int, int]:
    """Messages the router has not taken yet, and events the inbox has not taken yet."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        router = await js.consumer_info(subjects.STREAM_CONTACTS_IN, subjects.DURABLE_ROUTER)
        inbox = await js.consumer_info(subjects.STREAM_EVENTS, subjects.DURABLE_INBOX)
        return router.num_pending + router.num_ack_pending, inbox.num_pending + inbox.num_ack_pending
    finally:
        await nc.close()


async def blast(fake: Any, url: str, seconds: float, workers: int, answers: collections.Counter[int]) -> None:
    """`workers` senders posting distinct signed SMS back to back until the time is up."""
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=workers)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        async def sender(n: int) -> None:
            i = 0
            while time.monotonic() < deadline:
                params = fake.inbound_sms(OUR_NUMBER, f"+86138{n:03d}{i % 100000:05d}", f"Where is my order {i}?")
                headers = {"X-Twilio-Signature": fake.sign(f"{url}/twilio/sms", params)}
                try:
                    async with http.post(f"{url}/twilio/sms", data=params, headers=headers) as resp:
                        answers[resp.status] += 1
                except (aiohttp.ClientError, TimeoutError):
                    answers[0] += 1
                i += 1

        await asyncio.gather(*[sender(n) for n in range(workers)])


async def main() -> None:
    configure_logging("bench", "WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the overload lasts")
    parser.add_argument("--after", type=float, default=60.0, help="how long to watch after it")
    parser.add_argument("--workers", type=int, default=64, help="concurrent senders")
    parser.add_argument("--inbound-max-bytes", type=int, default=1024 * 1024,
                        help="CONTACTS_IN limit for this run (small, so the 503 path is reached)")
    args = parser.parse_args()
    hub_mod = repo_module("tests.e2e.hub")
    os.environ["OMNIHUB_STREAM_INBOUND_MAX_BYTES"] = str(args.inbound_max_bytes)
    os.environ["OMNIHUB_LOG_LEVEL"] = "WARNING"
    with NatsServer() as nats_server, MongoServer() as mongo:
        fake = FakeTwilio()
        await fake.start()
        hub = hub_mod.new_hub(Path(tempfile.mkdtemp(prefix="omnihub-overload-")), nats_server.url, mongo.url, fake)
        try:
            for service in ("router", "sms", "quality", "inbox"):
                hub.start(service)
            assert nats_server.proc is not None and mongo.proc is not None
            pids = {"nats-server": nats_server.proc.pid, "SecantusDB": mongo.proc.pid,
                    "inbox": hub.procs["inbox"].proc.pid}
            rows: list[tuple[str, dict[str, float], tuple[int, int], str]] = []

            async def sample(label: str, note: str = "") -> None:
                rows.append((label, {k: rss_mb(p) for k, p in pids.items()}, await pending(nats_server.url), note))

            await asyncio.sleep(5)
            await sample("before (idle)")
            answers: collections.Counter[int] = collections.Counter()
            start = time.monotonic()
            sender = asyncio.create_task(blast(fake, hub.url("sms"), args.seconds, args.workers, answers))
            while not sender.done():
                await asyncio.wait({sender}, timeout=10)
                took = sum(answers.values())
                await sample(f"overload +{time.monotonic() - start:.0f} s",
                             f"{took / (time.monotonic() - start):,.0f} req/s, {answers[503]:,} x 503 so far")
            end = time.monotonic()
            while time.monotonic() - end < args.after:
                await asyncio.sleep(10)
                await sample(f"after +{time.monotonic() - end:.0f} s")
        finally:
            hub.stop()
            await fake.stop()
    print(f"{args.seconds:.0f} s of signed SMS webhooks from {args.workers} concurrent senders on loopback "
          f"(CONTACTS_IN limited to {args.inbound_max_bytes / 2**20:.0f} MiB, discard new); sms, router, quality, inbox")
    print("answers: " + ", ".join(f"{code or 'connection error'}: {n:,}" for code, n in sorted(answers.items())))
    print(f"{'':<20}{'nats MB':>9}{'mongo MB':>10}{'inbox MB':>10}{'router backlog':>16}{'inbox backlog':>15}")
    for label, rss, (router_left, inbox_left), note in rows:
        print(f"{label:<20}{rss['nats-server']:>9.0f}{rss['SecantusDB']:>10.0f}{rss['inbox']:>10.0f}"
              f"{router_left:>16,}{inbox_left:>15,}  {note}")


if __name__ == "__main__":
    asyncio.run(main())
