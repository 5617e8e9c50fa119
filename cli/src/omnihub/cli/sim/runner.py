"""Run a scenario against a real hub started for it, once per compared strategy, and write the report."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.cli.sim import report
from omnihub.cli.sim.agents import CHANNEL_NAMES, Agent
from omnihub.cli.sim.customers import Customers
from omnihub.cli.sim.hub import Hub
from omnihub.cli.sim.model import Customer, Scenario, Tally, customers, with_strategy
from omnihub.common import identity
from omnihub.common.identity import Actor

REF = re.compile(r"\(ref (c\d+)\)")


async def run(sc: Scenario, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Simulate (once per strategy in `compare`, else once), then write and return the report."""
    people = customers(sc)
    runs = []
    for strategy in sc.compare or (None,):
        scenario = with_strategy(sc, strategy) if strategy else sc
        runs.append(await run_once(scenario, people, progress))
    result = {"scenario": asdict(sc), "runs": runs}
    report.write(result, out_dir)
    return result


async def run_once(sc: Scenario, people: list[Customer], progress: bool) -> dict[str, Any]:
    """One run on a fresh hub."""
    hub = Hub(sc, Path(tempfile.mkdtemp(prefix="omnihub-sim-")))
    try:
        await hub.start_fakes()
        await asyncio.to_thread(hub.start)
        return await Drive(sc, hub, people, progress).run()
    finally:
        await hub.stop()


SIMULATOR = Actor("simulator", "admin")


class Drive:
    """Customers arriving on schedule, agents working, then the figures collected."""

    def __init__(self, sc: Scenario, hub: Hub, people: list[Customer], progress: bool) -> None:
        self.sc, self.hub, self.people, self.progress = sc, hub, people, progress
        self.tally = Tally()

    def _say(self, text: str, end: str = "") -> None:
        if self.progress:
            print(f"\r  {text}" + " " * 10, end=end, file=sys.stderr, flush=True)

    async def run(self) -> dict[str, Any]:
        """Drive the run and return its section of the report."""
        # The simulator's agents reach the router directly, as an admin acting for each of them.
        channel = identity.channel(f"127.0.0.1:{self.hub.ports['router_grpc']}", self.hub.credentials,
                                   identity.ROUTER_AUDIENCE, SIMULATOR)
        router: routing_pb2_grpc.RouterAsyncStub = routing_pb2_grpc.RouterStub(channel)  # type: ignore[assignment]
        async with aiohttp.ClientSession() as http:
            crowd = Customers(self.hub, http, self.tally, self.sc.speed)
            agents = [Agent(agent_id, g, self.sc, self.hub, router, crowd, self.tally)
                      for g in self.sc.agents for agent_id in g.ids()]
            await asyncio.gather(*(a.log_in() for a in agents))
            workers = [asyncio.create_task(a.run()) for a in agents]
            start = time.time()
            visits = await self._arrivals(crowd, start)
            await self._settle(crowd, visits)
            end = time.time()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            for a in agents:
                await a.close()
            totals, intervals = await self._kpis(http, start, end)
            listing = await router.ListConversations(routing_pb2.ListConversationsRequest(include_closed=True))
        await channel.close(None)
        checks = await self._checks(crowd, listing.conversations)
        overhead = self.tally.answer_overhead(self.sc.speed)
        return {"strategy": self.sc.queues[0].strategy, "arrivals": len(self.people),
                "answer_overhead_seconds": round(overhead, 2),
                "conversations": len(listing.conversations), "wall_seconds": round(end - start, 1),
                "errors": [e for a in agents for e in a.errors][:20],
                "queues": report.queue_sections(self.sc, self.people, totals, intervals, self.tally.levels,
                                                 overhead), **checks}

    async def _arrivals(self, crowd: Customers, start: float) -> list[asyncio.Task[None]]:
        visits = []
        for i, c in enumerate(self.people):
            delay = start + c.at / self.sc.speed - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            visits.append(asyncio.create_task(crowd.arrive(c)))
            if i % 10 == 0 or i == len(self.people) - 1:
                done = c.at / (self.sc.minutes * 60)
                bar = "#" * int(done * 30) + "-" * (30 - int(done * 30))
                self._say(f"[{bar}] {done:4.0%}  minute {c.at / 60:5.1f}/{self.sc.minutes:.0f}  customers {i + 1}/"
                          f"{len(self.people)}  handled {len(self.tally.handled)}  abandoned "
                          f"{len(self.tally.abandoned)}")
        return visits

    async def _settle(self, crowd: Customers, visits: list[asyncio.Task[None]]) -> None:
        """Until every customer was served or left (or nothing moves for a long while)."""
        deadline = time.time() + 60 + 2 * self.sc.minutes * 60 / self.sc.speed
        while time.time() < deadline:
            pending = [p for p in crowd.by_identity.values() if not p.done.is_set() and not p.gone]
            if len(crowd.by_identity) >= len(self.people) and not pending:
                break
            await asyncio.sleep(0.2)
        self._say(f"all {len(self.people)} customers arrived: {len(self.tally.handled)} handled, "
                  f"{len(self.tally.abandoned)} abandoned", end="\n")
        for v in visits:
            v.cancel()
        await asyncio.gather(*visits, return_exceptions=True)

    async def _kpis(self, http: aiohttp.ClientSession, start: float, end: float,
                    ) -> tuple[dict[str, dict[str, Any]], list[dict[str, dict[str, Any]]]]:
        """Per-queue totals and per-interval rows from the quality service (once it has caught up)."""
        url = f"{self.hub.url('quality')}/api/kpis"
        expected = len(self.tally.handled) + len(self.tally.abandoned)

        async def rows(lo: float, hi: float) -> dict[str, Any]:
            headers = self.hub.credentials.headers(identity.QUALITY_AUDIENCE, SIMULATOR)
            async with http.get(url, params={"from": str(lo), "to": str(hi), "group_by": "queue"},
                                headers=headers) as resp:
                resp.raise_for_status()
                data: dict[str, Any] = await resp.json()
                return data

        for _ in range(300):  # up to a minute for quality to record the last wrap-ups
            whole = await rows(start - 5, end + 5)
            if whole["total"]["handled"] + whole["total"]["abandoned"] >= expected:
                break
            await asyncio.sleep(0.2)
        step = self.sc.interval_minutes * 60 / self.sc.speed
        count = max(1, int(-(-self.sc.minutes // self.sc.interval_minutes)))
        intervals = []
        for k in range(count):
            lo = start - 5 if k == 0 else start + k * step
            hi = end + 5 if k == count - 1 else start + (k + 1) * step
            intervals.append({r["key"]: r for r in (await rows(lo, hi))["rows"]})
        return {r["key"]: r for r in whole["rows"]}, intervals

    async def _checks(self, crowd: Customers, conversations: Any) -> dict[str, Any]:
        """Nothing lost or duplicated: each customer's messages in exactly one conversation; replies arrived."""
        per_customer = Counter(
            p.customer.key for conv in conversations
            if (p := crowd.lookup(CHANNEL_NAMES.get(conv.channel, ""), conv.identity.source_id)) is not None)
        conv_ids = {c.id for c in conversations}
        found = await self._stored_messages(conv_ids)
        problems = []
        for c in self.people:
            if per_customer.get(c.key, 0) != 1:
                problems.append(f"{c.key} ({c.stream.channel}) is in {per_customer.get(c.key, 0)} conversations")
            elif c.stream.channel != "voice" and found.get(c.key, (0, 0)) != (self.tally.sent.get(c.key, 0), 1):
                problems.append(f"{c.key} ({c.stream.channel}) sent {self.tally.sent.get(c.key, 0)}, stored "
                                f"{found.get(c.key, (0, 0))[0]} in {found.get(c.key, (0, 0))[1]} conversations")
        served = [c for c in self.people if c.key in self.tally.answered and c.key not in self.tally.abandoned]
        delivered = self._delivered(crowd)
        return {"lost_or_duplicated": len(problems), "problems": problems[:20],
                "replies_expected": sum(1 for c in served if c.stream.channel != "voice"),
                "replies_delivered": sum(1 for c in served if c.key in delivered),
                "abandoned_customers": len(self.tally.abandoned), "answered_customers": len(self.tally.answered)}

    async def _stored_messages(self, conv_ids: set[str]) -> dict[str, tuple[int, int]]:
        """customer key -> (incoming messages stored by the inbox, distinct conversations holding them)."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.hub.mongo_url)
        try:
            docs = await client["omnihub_inbox"]["messages"].find(
                {"direction": "incoming"}, {"text": 1, "conversation_id": 1}).to_list(None)
        finally:
            await client.close()
        counts: Counter[str] = Counter()
        convs: dict[str, set[str]] = {}
        for d in docs:
            found = REF.search(str(d.get("text", "")))
            marker = found.group(1) if found else ""
            if marker and d.get("conversation_id") in conv_ids:
                counts[marker] += 1
                convs.setdefault(marker, set()).add(d["conversation_id"])
        return {k: (counts[k], len(convs[k])) for k in counts}

    def _delivered(self, crowd: Customers) -> set[str]:
        """Customer keys whose channel received an agent's reply (provider doubles, SMTP sink, chat socket)."""
        keys = set(self.tally.replies_seen)
        identities = [("whatsapp" if str(m.get("to", "")).startswith("whatsapp:") else "sms", str(m.get("to", "")))
                      for m in self.hub.twilio.messages.values()]
        identities += [("wechat", str(m.get("touser", ""))) for m in self.hub.wechat.sent]
        identities += [("email", r) for r in self.hub.mail.recipients]
        identities += [("telegram", str(r.params.get("chat_id", ""))) for r in self.hub.telegram.calls("sendMessage")]
        for channel, source in identities:
            with contextlib.suppress(AttributeError):
                keys.add(crowd.lookup(channel, source).customer.key)  # type: ignore[union-attr]
        return keys
