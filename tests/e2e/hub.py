"""The e2e tests' hub: demo-like config and logins for omnihub.testkit.hub's launcher."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml

from omnihub.api.routing.v1 import routing_pb2, routing_pb2_grpc
from omnihub.common import identity
from omnihub.inbox.auth import HASHER
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.hub import ServiceHub, twilio_env
from omnihub.testkit.servers import NatsServer

ROUTING: dict[str, Any] = {
    "version": 1,
    "defaults": {"reservation_timeout_seconds": {"sms": 60, "webchat": 60, "email": 120, "voice": 30, "telegram": 60}},
    "queues": [
        {"name": "support", "skills": [{"name": "support", "min_level": 1}], "wrap_up_seconds": 1,
         "service_level": {"target": 0.8, "threshold_seconds": 20}},
        {"name": "sales", "skills": [], "wrap_up_seconds": 1},
        {"name": "general", "skills": [], "wrap_up_seconds": 1},
    ],
    "agents": [
        {"id": "alice", "display_name": "Alice Chen", "skills": {"support": 8}, "queues": ["support", "general"]},
        {"id": "bob", "display_name": "Bob Li", "skills": {"support": 5}, "queues": ["support", "general"]},
    ],
}
PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-1", "sam": "sam-pass-1", "ada": "ada-pass-1",
             "kim": "kim-pass-1", "sue": "sue-pass-1"}
# Agents a module adds when several of its tests share one hub and each needs an agent of its own.
SPARE_AGENTS = ("carol", "dan", "erin", "frank")
PASSWORDS |= {a: f"{a}-pass-1" for a in SPARE_AGENTS}


def write_config(directory: Path, spare_agents: int = 0) -> None:
    """routing.yaml and users.yaml (argon2 hashes) for a test hub, with `spare_agents` more agents like alice."""
    directory.mkdir(parents=True, exist_ok=True)
    spares = SPARE_AGENTS[:spare_agents]
    routing = ROUTING | {"agents": ROUTING["agents"] + [
        {"id": a, "display_name": a.title(), "skills": {"support": 8}, "queues": ["support", "general"]} for a in spares]}
    (directory / "routing.yaml").write_text(yaml.safe_dump(routing))
    hasher = HASHER  # the inbox's own parameters: every test login costs what a real one does
    users = [{"id": "alice", "display_name": "Alice Chen", "role": "agent", "team": "north"},
             {"id": "bob", "display_name": "Bob Li", "role": "agent", "team": "north"},
             {"id": "sam", "display_name": "Sam Wong", "role": "supervisor"},  # no team: the whole center
             {"id": "kim", "display_name": "Kim Ho", "role": "supervisor", "team": "north"},  # alice's and bob's
             {"id": "sue", "display_name": "Sue Park", "role": "supervisor", "team": "south"},  # another team's
             {"id": "ada", "display_name": "Ada Lin", "role": "admin"}]
    users += [{"id": a, "display_name": a.title(), "role": "agent"} for a in spares]
    for u in users:
        u["password_hash"] = hasher.hash(PASSWORDS[u["id"]])
    (directory / "users.yaml").write_text(yaml.safe_dump({"users": users}))


Hub = ServiceHub


def new_hub(tmp: Path, nats_url: str, mongo_url: str, twilio: FakeTwilio | None = None,
            spare_agents: int = 0) -> ServiceHub:
    """A hub with fresh config, free ports, its own databases and SMS through `twilio` (nothing started yet)."""
    write_config(tmp / "config", spare_agents)
    prefix = "e2e" + secrets.token_hex(4)
    return ServiceHub(tmp / "config", nats_url, mongo_url, extra={
        "sms": twilio_env(twilio) if twilio else {},
        "quality": {"OMNIHUB_QUALITY_DB": f"{prefix}_quality"},
        # webhooks may go to the tests' local receivers (loopback is refused without the allow-list)
        "inbox": {"OMNIHUB_INBOX_SESSION_KEY": "k" * 32, "OMNIHUB_INBOX_DB": f"{prefix}_inbox",
                  "OMNIHUB_INBOX_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"},
    })


@contextlib.asynccontextmanager
async def sms_hub(tmp: Path, mongo_url: str, nats_url: str | None = None, spare_agents: int = 0,
                  prepare: Callable[[ServiceHub], None] | None = None) -> AsyncIterator[tuple[ServiceHub, FakeTwilio]]:
    """Router, sms, quality and inbox started with SMS through a Twilio double of their own, stopped on the way out.

    Without `nats_url` the hub gets a nats-server of its own: a module's hub must, since the function-scoped
    `nats_url` fixture wipes the session server's streams between tests. `prepare` changes the hub (its config
    files, a service's settings) before anything starts."""
    nats = None
    if nats_url is None:
        nats = NatsServer()
        nats.start()
        nats_url = nats.url
    fake = FakeTwilio()
    await fake.start()
    h = new_hub(tmp, nats_url, mongo_url, fake, spare_agents)
    if prepare is not None:
        prepare(h)
    try:
        h.start("router", "sms", "quality", "inbox")
        yield h, fake
    finally:
        h.stop()
        await fake.stop()
        if nats is not None:
            nats.cleanup()


async def everyone_away(h: ServiceHub) -> None:
    """Every agent still taking work set Away, as a supervisor would: between the tests of a shared hub, passed or
    failed (a test that failed half-way leaves its agent Available, and the next test's offer would go there)."""
    async with identity.channel(f"127.0.0.1:{h.ports['router_grpc']}", h.credentials, identity.ROUTER_AUDIENCE,
                                identity.Actor("sam", "supervisor")) as channel:
        router = routing_pb2_grpc.RouterStub(channel)
        agents = await router.ListAgents(routing_pb2.ListAgentsRequest())
        for agent in agents.agents:
            if agent.state not in (routing_pb2.AGENT_STATE_OFFLINE, routing_pb2.AGENT_STATE_AWAY):
                await router.SetState(routing_pb2.SetStateRequest(
                    agent_id=agent.id, state=routing_pb2.AGENT_STATE_AWAY, reason="break"))
