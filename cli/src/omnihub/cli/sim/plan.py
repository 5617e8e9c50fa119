"""A day of a forecast and a schedule through a real hub: customers at the forecast's rates per interval, the
scheduled agents logging in, going on break and logging out on time; service level per interval beside the plan."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from pymongo import AsyncMongoClient

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.cli.sim.agents import Agent
from omnihub.cli.sim.customers import Customers
from omnihub.cli.sim.hub import Hub
from omnihub.cli.sim.model import AgentGroup, Customer, QueueSpec, Scenario, Stream
from omnihub.cli.sim.runner import SIMULATOR, Drive
from omnihub.common import identity

ON, AWAY = routing_pb2.AGENT_STATE_AVAILABLE, routing_pb2.AGENT_STATE_AWAY


@dataclass(frozen=True)
class Shift:
    """One scheduled agent's activities in the simulated window: (start, end, kind) in simulated seconds."""

    agent: str
    spans: tuple[tuple[float, float, str], ...]


@dataclass(frozen=True)
class DayPlan:
    """The forecast's intervals of the window and the shifts working in it."""

    day: str
    queue: str
    step: int
    rows: list[dict[str, Any]]  # forecast rows, each with the schedule's required and scheduled agents added
    shifts: list[Shift]


def day_plan(forecast: dict[str, Any], schedule: dict[str, Any], day: str, queue: str,
             hours: tuple[float, float] = (0.0, 24.0)) -> DayPlan:
    """The intervals of `day` between `hours` (local, e.g. 8-14) and the shifts of `queue` working in them."""
    step = int(forecast["interval_seconds"])
    if int(schedule["interval_seconds"]) != step:
        raise ValueError("the forecast and the schedule must have the same interval")
    rows = [dict(r) for r in forecast["intervals"] if r["start"].startswith(day)
            and hours[0] <= _hour(r["start"]) < hours[1]]
    if not rows:
        raise ValueError(f"the forecast has no interval of {day} between {hours[0]:g}:00 and {hours[1]:g}:00")
    cover = {c["start"]: c for c in schedule.get("coverage", []) if c["queue"] == queue}
    for r in rows:
        r["required"] = cover.get(r["start"], {}).get("required", 0)
        r["scheduled"] = cover.get(r["start"], {}).get("scheduled", 0)
    t0 = dt.datetime.fromisoformat(rows[0]["start"]).timestamp()
    t1 = t0 + len(rows) * step
    shifts = []
    for s in schedule.get("shifts", []):
        if s["queue"] != queue:
            continue
        spans = []
        for a in s["activities"]:
            lo = max(t0, dt.datetime.fromisoformat(a["start"]).timestamp())
            hi = min(t1, dt.datetime.fromisoformat(a["end"]).timestamp())
            if lo < hi:
                spans.append((lo - t0, hi - t0, str(a["kind"])))
        if spans:
            shifts.append(Shift(str(s["agent"]), tuple(spans)))
    if not shifts:
        raise ValueError(f"the schedule has no shift of {queue} in that window")
    return DayPlan(day, queue, step, rows, shifts)


def _hour(iso: str) -> float:
    local = dt.datetime.fromisoformat(iso)
    return local.hour + local.minute / 60


def scenario(plan: DayPlan, channel: str, target: float, threshold: float, speed: float,
             seed: int) -> tuple[Scenario, list[Customer], dict[str, Shift]]:
    """The hub's scenario (one queue, one simulated agent per scheduled agent), the customers drawn from the
    forecast (Poisson per interval, exponential handle times around the interval's AHT) and who works when."""
    rng = random.Random(seed)
    mean_aht = sum(r["aht"] for r in plan.rows) / len(plan.rows) or 180.0
    stream = Stream(plan.queue, channel, per_minute=sum(r["arrivals"] for r in plan.rows) / (len(plan.rows) *
                                                                                           plan.step / 60),
                    aht_seconds=mean_aht)
    people: list[Customer] = []
    for i, r in enumerate(plan.rows):
        t, end = float(i * plan.step), float((i + 1) * plan.step)
        rate = float(r["arrivals"]) / plan.step
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= end:
                break
            work = rng.expovariate(1.0) * (r["aht"] or mean_aht) / mean_aht
            people.append(Customer(len(people), t, stream, work, math.inf, rng.random() < 0.8))
    sc = Scenario(queues=(QueueSpec(plan.queue, target=target, threshold_seconds=threshold),),
                  agents=(AgentGroup("wfm", len(plan.shifts), (plan.queue,)),), streams=(stream,),
                  minutes=len(plan.rows) * plan.step / 60, speed=speed, seed=seed,
                  interval_minutes=plan.step / 60, name=f"{plan.day} {plan.queue} from the plan")
    ids = AgentGroup("wfm", len(plan.shifts), (plan.queue,)).ids()
    return sc, people, dict(zip(ids, plan.shifts, strict=True))


class ShiftAgent(Agent):
    """A synthetic agent who counts the contacts in hand, so that the end of a shift waits for the last one."""

    in_hand = 0

    async def handle(self, offer: routing_pb2.Offer) -> None:
        """Take the offer as the plain agent does, counted while in hand."""
        self.in_hand += 1
        try:
            await super().handle(offer)
        finally:
            self.in_hand -= 1


class PlanDrive(Drive):
    """Customers at the forecast's times; each agent logs in at their shift's start, is away on breaks and lunch
    and logs out at its end (after the contact in hand)."""

    def __init__(self, sc: Scenario, hub: Hub, people: list[Customer], shifts: dict[str, Shift],
                 progress: bool) -> None:
        super().__init__(sc, hub, people, progress)
        self.shifts = shifts
        self.state_errors: list[str] = []
        self.states: dict[str, list[tuple[float, str]]] = {}

    async def _follow(self, agent: ShiftAgent, router: routing_pb2_grpc.RouterAsyncStub, start: float) -> None:
        """Set the router state at each activity's start (simulated time compressed by the speed-up)."""
        logged_in = False
        spans = self.shifts[agent.id].spans
        for lo, _hi, kind in spans:
            await asyncio.sleep(max(0.0, start + lo / self.sc.speed - time.time()))
            state = ON if kind == "work" else AWAY
            try:
                if logged_in:
                    await router.SetState(routing_pb2.SetStateRequest(agent_id=agent.id, state=state, reason=kind))
                else:
                    await router.Login(routing_pb2.LoginRequest(agent_id=agent.id, initial_state=state))
                    logged_in = True
            except grpc.aio.AioRpcError as exc:
                self.state_errors.append(f"{agent.id} {kind}: {exc.details()}")
        end = spans[-1][1]
        if end >= self.sc.minutes * 60:
            return  # working until the window closes: they answer who is still waiting then
        await asyncio.sleep(max(0.0, start + end / self.sc.speed - time.time()))
        with contextlib.suppress(grpc.aio.AioRpcError):
            await router.SetState(routing_pb2.SetStateRequest(agent_id=agent.id, state=AWAY, reason="shift end"))
        while agent.in_hand:  # the contact in hand is finished before logging out
            await asyncio.sleep(0.05)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await router.Logout(routing_pb2.LogoutRequest(agent_id=agent.id))

    async def run(self) -> dict[str, Any]:
        """Drive the day and return the measured rows per interval (quality's KPIs)."""
        channel = identity.channel(f"127.0.0.1:{self.hub.ports['router_grpc']}", self.hub.credentials,
                                   identity.ROUTER_AUDIENCE, SIMULATOR)
        router: routing_pb2_grpc.RouterAsyncStub = routing_pb2_grpc.RouterStub(channel)  # type: ignore[assignment]
        async with aiohttp.ClientSession() as http:
            crowd = Customers(self.hub, http, self.tally, self.sc.speed)
            agents = [ShiftAgent(agent_id, g, self.sc, self.hub, router, crowd, self.tally)
                      for g in self.sc.agents for agent_id in g.ids()]
            await asyncio.gather(*(a.log_in() for a in agents))  # inbox sessions; then off until the shift
            await asyncio.gather(*(router.Logout(routing_pb2.LogoutRequest(agent_id=a.id)) for a in agents))
            workers = [asyncio.create_task(a.run()) for a in agents]
            start = time.time()
            follow = [asyncio.create_task(self._follow(a, router, start)) for a in agents]
            visits = await self._arrivals(crowd, start)
            await self._settle(crowd, visits)
            end = time.time()
            for task in workers + follow:
                task.cancel()
            await asyncio.gather(*workers, *follow, return_exceptions=True)
            for a in agents:
                await a.close()
            await self._kpis(http, start, end)  # waits until quality has recorded every ending
        await channel.close(None)
        intervals = await self._per_interval(start)
        return {"intervals": intervals, "arrivals": len(self.people), "answered": len(self.tally.answered),
                "states": {self.shifts[a].agent: self.states.get(a, []) for a in self.shifts},
                "wall_seconds": round(end - start, 1), "errors": ([e for a in agents for e in a.errors]
                                                                  + self.state_errors)[:20]}


    async def _per_interval(self, start: float) -> list[dict[str, Any]]:
        """Offered, answered, answered within the threshold and abandoned per simulated interval, from the
        conversations quality recorded (its waits are real seconds: times the speed-up in simulated ones).

        Quality's own interval rows cannot be used: a compressed interval lasts seconds, its rollups 15 minutes."""
        step = self.sc.interval_minutes * 60
        count = max(1, math.ceil(self.sc.minutes / self.sc.interval_minutes))
        threshold = self.sc.queues[0].threshold_seconds
        rows = [{"offered": 0, "answered": 0, "within": 0, "abandoned": 0} for _ in range(count)]
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.hub.mongo_url)
        try:
            db = client["omnihub_quality"]
            docs = await db["conversations"].find(
                {"created": {"$gte": start - 5}}, {"created": 1, "answered": 1, "wait": 1, "abandoned": 1}).to_list(None)
            changes = await db["events"].find({"kind": "agent_state_changed", "time": {"$gte": start}},
                                              {"agent": 1, "time": 1, "to_state": 1}).sort("time", 1).to_list(None)
        finally:
            await client.close()
        for c in changes:  # the router's view of each agent: simulated minute and state, as adherence reads it
            self.states.setdefault(str(c["agent"]), []).append(
                (round((float(c["time"]) - start) * self.sc.speed / 60, 1), str(c["to_state"])))
        for d in docs:
            row = rows[min(count - 1, max(0, int((float(d["created"]) - start) * self.sc.speed // step)))]
            row["offered"] += 1
            if d.get("answered") is not None:
                row["answered"] += 1
                row["within"] += float(d.get("wait") or 0.0) * self.sc.speed <= threshold
            elif d.get("abandoned") is not None:
                row["abandoned"] += 1
        return rows


async def run_plan(plan: DayPlan, channel: str = "sms", target: float = 0.8, threshold: float = 20.0,
                   speed: float = 60.0, seed: int = 1, progress: bool = True) -> dict[str, Any]:
    """Run the window of the day through a fresh hub; per interval: forecast, required and scheduled agents beside
    offered, answered and the measured service level (answered within the threshold ÷ answered)."""
    sc, people, shifts = scenario(plan, channel, target, threshold, speed, seed)
    hub = Hub(sc, Path(tempfile.mkdtemp(prefix="omnihub-plan-")))
    try:
        await hub.start_fakes()
        await asyncio.to_thread(hub.start)
        measured = await PlanDrive(sc, hub, people, shifts, progress).run()
    finally:
        await hub.stop()
    out = []
    for r, row in zip(plan.rows, measured["intervals"], strict=True):
        sl = row["within"] / row["answered"] if row["answered"] else None
        out.append({"start": r["start"], "forecast": r["arrivals"], "required": r["required"],
                    "scheduled": r["scheduled"], "offered": row["offered"], "answered": row["answered"],
                    "abandoned": row["abandoned"], "service_level": None if sl is None else round(sl, 4)})
    scored = [o for o in out if o["service_level"] is not None]
    met = sum(o["service_level"] >= target for o in scored)
    return {"day": plan.day, "queue": plan.queue, "channel": channel, "target": target, "threshold": threshold,
            "speed": speed, "hub": True, "intervals_measured": len(scored), "intervals_meeting_target": met,
            "arrivals": measured["arrivals"], "answered": measured["answered"],
            "wall_seconds": measured["wall_seconds"], "errors": measured["errors"], "states": measured["states"],
            "intervals": out}
