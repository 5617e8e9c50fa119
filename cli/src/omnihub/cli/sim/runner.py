"""Run a simulation against a real hub started for it, and report the quality service's figures beside Erlang C."""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import yaml
from twilio.request_validator import RequestValidator

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.cli.sim.model import SimConfig, arrivals, handle_times, resolved_flags, tolerance
from omnihub.quality import erlang
from omnihub.testkit.ports import free_port
from omnihub.testkit.servers import MongoServer, NatsServer
from omnihub.testkit.services import ServiceProcess

TOKEN = secrets.token_hex(16)
SID = "AC" + secrets.token_hex(16)


def routing_config(cfg: SimConfig) -> dict[str, Any]:
    """A single-skill pool whose SL threshold is compressed by the speed-up factor."""
    return {"version": 1, "defaults": {"reservation_timeout_seconds": {"sms": 600}},
            "queues": [{"name": "pool", "skills": [], "wrap_up_seconds": 0, "strategy": cfg.strategy,
                        "service_level": {"target": cfg.target, "threshold_seconds": max(1, round(cfg.threshold_seconds / cfg.speed))},
                        "max_wait_seconds": 86400, "max_wait_action": "none"}],
            "agents": [{"id": f"sim{i}", "queues": ["pool"], "capacity": {"sms": 1}} for i in range(cfg.agents)],
            "entry_points": [{"match": "sms:+15550009999", "queue": "pool"}]}


class Hub:
    """NATS, SecantusDB, router, sms and quality as real processes on free ports."""

    def __init__(self, cfg: SimConfig, work: Path) -> None:
        self.cfg = cfg
        self.work = work
        self.ports = {k: free_port() for k in ("router", "router_grpc", "sms", "quality", "quality_grpc")}
        self.procs: list[Any] = []

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        config_dir = self.work / "config"
        config_dir.mkdir(parents=True)
        # the threshold is an exact float in sim seconds; routing.yaml carries the compressed whole seconds
        (config_dir / "routing.yaml").write_text(yaml.safe_dump(routing_config(self.cfg)))
        nats, mongo = NatsServer(self.work / "nats"), MongoServer(self.work / "mongo")
        nats.start()
        mongo.start()
        self.procs += [nats, mongo]
        base = {"OMNIHUB_NATS_URL": nats.url, "OMNIHUB_MONGO_URL": mongo.url, "OMNIHUB_CONFIG_DIR": str(config_dir),
                "OMNIHUB_LOG_LEVEL": "WARNING"}
        p = self.ports
        for name, env in (
            ("router", {"OMNIHUB_ROUTER_GRPC_PORT": str(p["router_grpc"]), "OMNIHUB_ROUTER_HTTP_PORT": str(p["router"]),
                        "OMNIHUB_ROUTER_TICK_SECONDS": "0.05"}),
            ("sms", {"OMNIHUB_SMS_HTTP_PORT": str(p["sms"]), "OMNIHUB_SMS_PUBLIC_BASE_URL": self.url("sms"),
                     "OMNIHUB_TWILIO_ACCOUNT_SID": SID, "OMNIHUB_TWILIO_AUTH_TOKEN": TOKEN,
                     "OMNIHUB_TWILIO_API_BASE_URL": "http://127.0.0.1:9"}),
            ("quality", {"OMNIHUB_QUALITY_HTTP_PORT": str(p["quality"]), "OMNIHUB_QUALITY_GRPC_PORT": str(p["quality_grpc"]),
                         "OMNIHUB_QUALITY_SURVEYS": "false", "OMNIHUB_QUALITY_SHORT_ABANDON_SECONDS": "0"}),
        ):
            proc = ServiceProcess(name, base | env, ready_url=f"{self.url(name)}/readyz")
            proc.start()
            self.procs.append(proc)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop() if isinstance(proc, ServiceProcess) else proc.cleanup()


async def run(cfg: SimConfig, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Simulate, then return (and write) the report."""
    times = arrivals(cfg)
    durations = handle_times(cfg, len(times))
    resolved = resolved_flags(cfg, len(times))
    work = Path(tempfile.mkdtemp(prefix="omnihub-sim-"))
    hub = Hub(cfg, work)
    hub.start()
    try:
        return await _drive(cfg, hub, times, durations, resolved, out_dir, progress)
    finally:
        hub.stop()


async def _drive(cfg: SimConfig, hub: Hub, times: list[float], durations: list[float], resolved: list[bool],
                 out_dir: Path, progress: bool) -> dict[str, Any]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{hub.ports['router_grpc']}")
    router = routing_pb2_grpc.RouterStub(channel)
    handled: set[str] = set()
    queue_of_work = iter(zip(durations, resolved, strict=True))
    tasks: set[asyncio.Task[None]] = set()

    async def work(agent: str, offer: routing_pb2.Offer) -> None:
        conv = await router.Accept(routing_pb2.AcceptRequest(agent_id=agent, reservation_id=offer.reservation_id))
        seconds, ok = next(queue_of_work, (cfg.aht_seconds, True))
        await asyncio.sleep(seconds / cfg.speed)
        await router.WrapUp(routing_pb2.WrapUpRequest(agent_id=agent, conversation_id=conv.id, resolved=ok,
                                                      disposition="simulated"))
        handled.add(conv.id)

    async def agent(agent_id: str) -> None:
        await router.Login(routing_pb2.LoginRequest(agent_id=agent_id))
        async for notice in router.WatchOffers(routing_pb2.WatchOffersRequest(agent_id=agent_id)):
            if notice.WhichOneof("kind") == "offer":
                task = asyncio.create_task(work(agent_id, notice.offer))
                tasks.add(task)

    agents = [asyncio.create_task(agent(f"sim{i}")) for i in range(cfg.agents)]
    await asyncio.sleep(1.0)
    validator = RequestValidator(TOKEN)
    url = f"{hub.url('sms')}/twilio/sms"
    start = time.time()
    async with aiohttp.ClientSession() as http:
        for i, at in enumerate(times):
            delay = start + at / cfg.speed - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            params = {"MessageSid": f"SM{cfg.seed:04d}{i:028d}", "AccountSid": SID, "From": f"+1555{i:07d}",
                      "To": "+15550009999", "Body": f"simulated customer {i}", "NumMedia": "0"}
            async with http.post(url, data=params, headers={"X-Twilio-Signature": validator.compute_signature(url, params)}):
                pass
            if progress and (i % 10 == 0 or i == len(times) - 1):
                print(f"\r  simulated minute {at / 60:5.1f}/{cfg.minutes:.0f}  arrivals {i + 1}/{len(times)}  handled {len(handled)}",
                      end="", file=sys.stderr, flush=True)
        deadline = time.time() + 120
        while len(handled) < len(times) and time.time() < deadline:
            await asyncio.sleep(0.2)
        if progress:
            print(f"\r  all {len(times)} arrivals sent, {len(handled)} handled" + " " * 20, file=sys.stderr)
        end = time.time()
        kpis: dict[str, Any] = {}
        for _ in range(100):
            async with http.get(f"{hub.url('quality')}/api/kpis", params={"from": str(start - 5), "to": str(end + 5)}) as resp:
                kpis = await resp.json()
            if kpis["total"]["handled"] >= len(handled):
                break
            await asyncio.sleep(0.3)
    listing = await router.ListConversations(routing_pb2.ListConversationsRequest(include_closed=True))
    for t in agents:
        t.cancel()
    await channel.close(None)
    return report(cfg, times, durations, kpis["total"], listing.conversations, out_dir)


def report(cfg: SimConfig, times: list[float], durations: list[float], total: dict[str, Any],
           conversations: Any, out_dir: Path) -> dict[str, Any]:
    """Measured figures (rescaled to simulated seconds) beside Erlang C for the same load."""
    # Erlang C for the process that generated the run (its rate and mean handle time)
    predicted = erlang.predict(cfg.arrivals_per_minute * cfg.minutes, cfg.minutes * 60, cfg.aht_seconds, cfg.agents,
                               cfg.threshold_seconds)
    threads = [c.thread_key for c in conversations]
    result = {
        "config": cfg.__dict__,
        "arrivals": len(times),
        "conversations": len(conversations),
        "lost_or_duplicated": len(times) - len(set(threads)) + (len(threads) - len(set(threads))),
        "measured": {"service_level": total["service_level_b"], "asa_seconds": total["asa"] * cfg.speed,
                     "aht_seconds": total["aht"] * cfg.speed, "abandonment_rate": total["abandonment_rate"],
                     "occupancy": total["occupancy"], "fcr": total["fcr"], "handled": total["handled"]},
        "erlang_c": {"service_level": predicted.service_level, "asa_seconds": predicted.asa,
                     "occupancy": predicted.occupancy, "probability_wait": predicted.probability_wait,
                     "traffic_erlangs": predicted.traffic},
        "tolerance": tolerance(predicted.service_level, len(times)),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(result, indent=2))
    (out_dir / "report.html").write_text(render_html(result))
    return result


def render_html(r: dict[str, Any]) -> str:
    """A self-contained page: measured beside predicted, as bars."""
    rows = [("Service level", r["measured"]["service_level"], r["erlang_c"]["service_level"], True),
            ("Occupancy", r["measured"]["occupancy"], r["erlang_c"]["occupancy"], True),
            ("ASA (s)", r["measured"]["asa_seconds"], r["erlang_c"]["asa_seconds"], False)]
    bars = []
    for i, (label, measured, predicted, ratio) in enumerate(rows):
        scale = 300 if ratio else 300 / max(1.0, measured, predicted)
        y = 30 + i * 70
        spec = ".1%" if ratio else ".1f"
        bars.append(f'<text x="0" y="{y}">{html.escape(label)}</text>'
                    f'<rect x="120" y="{y - 14}" width="{measured * scale:.1f}" height="18" fill="#2357d9"/>'
                    f'<text x="{130 + measured * scale:.1f}" y="{y}">measured {format(measured, spec)}</text>'
                    f'<rect x="120" y="{y + 8}" width="{predicted * scale:.1f}" height="18" fill="#999"/>'
                    f'<text x="{130 + predicted * scale:.1f}" y="{y + 22}">Erlang C {format(predicted, spec)}</text>')
    cfg = r["config"]
    return ("<!doctype html><meta charset=utf-8><title>omnihub simulation</title>"
            f"<h1>Simulation: {cfg['agents']} agents, {cfg['arrivals_per_minute']}/min, AHT {cfg['aht_seconds']}s</h1>"
            f"<p>{r['arrivals']} arrivals, {r['conversations']} conversations, lost or duplicated: {r['lost_or_duplicated']}</p>"
            f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="240" font-family="sans-serif" font-size="12">'
            f"{''.join(bars)}</svg>")


def print_table(r: dict[str, Any]) -> None:
    """The terminal report."""
    m, e = r["measured"], r["erlang_c"]
    print(f"{'':<16}{'measured':>12}{'Erlang C':>12}")
    print(f"{'service level':<16}{m['service_level']:>12.1%}{e['service_level']:>12.1%}   (tolerance ±{r['tolerance']:.1%})")
    print(f"{'ASA (s)':<16}{m['asa_seconds']:>12.1f}{e['asa_seconds']:>12.1f}")
    print(f"{'occupancy':<16}{m['occupancy']:>12.1%}{e['occupancy']:>12.1%}")
    print(f"{'AHT (s)':<16}{m['aht_seconds']:>12.1f}")
    print(f"{'abandonment':<16}{m['abandonment_rate']:>12.1%}")
    print(f"{'FCR':<16}{m['fcr']:>12.1%}")
    print(f"arrivals {r['arrivals']}, conversations {r['conversations']}, lost or duplicated {r['lost_or_duplicated']}")
