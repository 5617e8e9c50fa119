"""Start real omnihub services as subprocesses against the test NATS and SecantusDB."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from argon2 import PasswordHasher

from omnihub.common.identity import Credentials
from omnihub.testkit.ports import free_port
from omnihub.testkit.services import ServiceProcess

ROUTING = {
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
PASSWORDS = {"alice": "alice-pass-1", "bob": "bob-pass-1", "sam": "sam-pass-1", "ada": "ada-pass-1"}


@dataclass
class Hub:
    """Ports, URLs and processes of a running test hub."""

    config_dir: Path
    nats_url: str
    mongo_url: str
    twilio_api: str = ""
    twilio_sid: str = ""
    twilio_token: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    db_prefix: str = field(default_factory=lambda: "e2e" + secrets.token_hex(4))
    credentials: Credentials = field(default_factory=Credentials.generate)
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # per service, e.g. the chat service's

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def env(self, service: str) -> dict[str, str]:
        p = self.ports
        env = {**self.credentials.env(), "OMNIHUB_NATS_URL": self.nats_url, "OMNIHUB_MONGO_URL": self.mongo_url,
               "OMNIHUB_CONFIG_DIR": str(self.config_dir)}
        if service == "router":
            env |= {"OMNIHUB_ROUTER_GRPC_PORT": str(p["router_grpc"]), "OMNIHUB_ROUTER_HTTP_PORT": str(p["router"])}
        elif service == "sms":
            env |= {"OMNIHUB_SMS_HTTP_PORT": str(p["sms"]), "OMNIHUB_SMS_PUBLIC_BASE_URL": self.url("sms"),
                    "OMNIHUB_TWILIO_ACCOUNT_SID": self.twilio_sid, "OMNIHUB_TWILIO_AUTH_TOKEN": self.twilio_token,
                    "OMNIHUB_TWILIO_API_BASE_URL": self.twilio_api}
        elif service == "quality":
            env |= {"OMNIHUB_QUALITY_HTTP_PORT": str(p["quality"]), "OMNIHUB_QUALITY_GRPC_PORT": str(p["quality_grpc"]),
                    "OMNIHUB_QUALITY_DB": f"{self.db_prefix}_quality"}
        elif service == "inbox":
            env |= {"OMNIHUB_INBOX_HTTP_PORT": str(p["inbox"]), "OMNIHUB_INBOX_SESSION_KEY": "k" * 32,
                    "OMNIHUB_ROUTER_ADDR": f"127.0.0.1:{p['router_grpc']}", "OMNIHUB_QUALITY_URL": self.url("quality"),
                    "OMNIHUB_INBOX_DB": f"{self.db_prefix}_inbox"}
        return env | self.extra_env.get(service, {})

    def start(self, service: str) -> ServiceProcess:
        proc = ServiceProcess(service, self.env(service), ready_url=f"{self.url(service)}/readyz")
        proc.start()
        self.procs[service] = proc
        return proc

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.stop()


def write_config(directory: Path) -> None:
    """routing.yaml and users.yaml (argon2 hashes) for a test hub."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "routing.yaml").write_text(yaml.safe_dump(ROUTING))
    hasher = PasswordHasher()
    users = [{"id": "alice", "display_name": "Alice Chen", "role": "agent"},
             {"id": "bob", "display_name": "Bob Li", "role": "agent"},
             {"id": "sam", "display_name": "Sam Wong", "role": "supervisor"},
             {"id": "ada", "display_name": "Ada Lin", "role": "admin"}]
    for u in users:
        u["password_hash"] = hasher.hash(PASSWORDS[u["id"]])
    (directory / "users.yaml").write_text(yaml.safe_dump({"users": users}))


def new_hub(tmp: Path, nats_url: str, mongo_url: str) -> Hub:
    """A hub description with fresh config and free ports (nothing started yet)."""
    write_config(tmp / "config")
    hub = Hub(tmp / "config", nats_url, mongo_url)
    for name in ("router", "router_grpc", "sms", "quality", "quality_grpc", "inbox"):
        hub.ports[name] = free_port()
    return hub
