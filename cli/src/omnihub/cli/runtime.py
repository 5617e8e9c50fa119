"""The local runtime: seed demo config, write a Procfile for every built service, run honcho."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

SERVICE_URLS = {
    "inbox": ("http://127.0.0.1:8080/", "agent inbox and wallboard"),
    "chat": ("http://127.0.0.1:8081/widget", "web chat widget demo page"),
    "voice": ("http://127.0.0.1:8082/healthz", "Twilio Voice webhooks"),
    "sms": ("http://127.0.0.1:8083/healthz", "Twilio Messaging webhooks"),
    "email": ("http://127.0.0.1:8084/healthz", "SMTP inbound on 127.0.0.1:2525"),
    "quality": ("http://127.0.0.1:8085/api/kpis", "KPIs (gRPC on 50052)"),
    "router": ("http://127.0.0.1:8086/healthz", "ACD (gRPC on 50051)"),
}


@dataclass(frozen=True)
class Runtime:
    """Where the local runtime keeps its files."""

    root: Path

    @property
    def var(self) -> Path:
        return self.root / "var"

    @property
    def config(self) -> Path:
        return self.var / "config"

    @property
    def procfile(self) -> Path:
        return self.var / "Procfile"


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest directory holding both pyproject.toml and services/."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").exists() and (candidate / "services").is_dir():
            return candidate
    raise SystemExit("omnihub: run this inside the omnihub repository (no services/ found)")


def built_services(root: Path) -> list[str]:
    """Every service with an entry point, i.e. what is built."""
    return sorted(p.parent.name for p in root.glob("services/*/src/omnihub/*/__main__.py"))


def seed_config(rt: Runtime) -> list[tuple[str, str, str]]:
    """Copy the demo config once and give passwordless users a random password.

    Returns (user, role, password) for the passwords created now; they are shown only once.
    """
    from argon2 import PasswordHasher

    rt.config.mkdir(parents=True, exist_ok=True)
    for src in sorted((rt.root / "config" / "demo").glob("*")):
        dst = rt.config / src.name
        if not dst.exists():
            shutil.copy(src, dst)
    users_path = rt.config / "users.yaml"
    if not users_path.exists():
        return []
    data = yaml.safe_load(users_path.read_text()) or {}
    created = []
    hasher = PasswordHasher()
    for user in data.get("users", []):
        if not user.get("password_hash"):
            password = secrets.token_urlsafe(9)
            user["password_hash"] = hasher.hash(password)
            created.append((user["id"], user.get("role", "agent"), password))
    if created:
        users_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        users_path.chmod(0o600)
    return created


def dev_secrets(rt: Runtime) -> dict[str, str]:
    """Per-checkout development secrets (webhook keys for the local provider sandboxes)."""
    path = rt.var / "dev-secrets.env"
    if not path.exists():
        rt.var.mkdir(parents=True, exist_ok=True)
        values = {
            "OMNIHUB_TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
            "OMNIHUB_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
            "OMNIHUB_TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}",
            "OMNIHUB_TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
            "OMNIHUB_WIDGET_SIGNING_KEY": secrets.token_urlsafe(32),
            "OMNIHUB_INBOX_SESSION_KEY": secrets.token_urlsafe(32),
        }
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs}


SANDBOX_PORT = 8090
TELEGRAM_SANDBOX_PORT = 8091
SMTP_SINK_PORT = 2526
INFRA_STOP_GRACE = 2.0  # seconds NATS and SecantusDB outlive a stop signal, so services drain first


def runtime_env(rt: Runtime, nats_port: int, mongo_port: int, demo: bool = True) -> dict[str, str]:
    """Environment shared by every process of the local runtime."""
    env = {
        "OMNIHUB_NATS_URL": f"nats://127.0.0.1:{nats_port}",
        "OMNIHUB_MONGO_URL": f"mongodb://127.0.0.1:{mongo_port}/?directConnection=true",
        "OMNIHUB_VAR_DIR": str(rt.var),
        "OMNIHUB_CONFIG_DIR": str(rt.config),
        "OMNIHUB_LOG_FORMAT": "console",
        "PYTHONUNBUFFERED": "1",
    }
    if demo:  # no real provider is reachable: replies go to local sandboxes that log them
        env["OMNIHUB_TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{SANDBOX_PORT}"
        env["OMNIHUB_EMAIL_RELAY_PORT"] = str(SMTP_SINK_PORT)
        env["OMNIHUB_TELEGRAM_BASE_URL"] = f"http://127.0.0.1:{TELEGRAM_SANDBOX_PORT}/bot"
        env["OMNIHUB_TELEGRAM_BASE_FILE_URL"] = f"http://127.0.0.1:{TELEGRAM_SANDBOX_PORT}/file/bot"
    for key, value in dev_secrets(rt).items():
        env.setdefault(key, value)
    return env


def write_procfile(rt: Runtime, nats_port: int, mongo_port: int, demo: bool) -> list[str]:
    """Write var/Procfile: NATS and SecantusDB (which stop last), then every built service.
    Returns process names."""
    bindir = Path(sys.executable).parent
    last = f"{sys.executable} -m omnihub.cli.stoplast {INFRA_STOP_GRACE:g} "  # stop after the services
    lines = {
        "nats": last + f"{bindir / 'nats-server'} -a 127.0.0.1 -p {nats_port} -js -sd {rt.var / 'nats'}",
        "mongo": last + (
            f"{bindir / 'secantusd-py'} --host 127.0.0.1 --port {mongo_port} "
            f"--storage-path {rt.var / 'mongo'} --log-level WARNING"
        ),
    }
    for name in built_services(rt.root):
        lines[name] = f"{sys.executable} -m omnihub.{name}"
    if demo:
        lines["twilio-sandbox"] = f"{sys.executable} {rt.root / 'tests' / 'fakes' / 'twilio_api.py'} --port {SANDBOX_PORT}"
        lines["telegram-sandbox"] = (f"{sys.executable} {rt.root / 'tests' / 'fakes' / 'telegram_api.py'} "
                                     f"--port {TELEGRAM_SANDBOX_PORT}")
        lines["smtp-sink"] = f"{bindir / 'aiosmtpd'} -n -l 127.0.0.1:{SMTP_SINK_PORT} -c aiosmtpd.handlers.Debugging"
        lines["demo"] = f"{sys.executable} -m omnihub.cli.demo"
    rt.var.mkdir(parents=True, exist_ok=True)
    rt.procfile.write_text("".join(f"{k}: {v}\n" for k, v in lines.items()))
    return list(lines)


def banner(rt: Runtime, created: list[tuple[str, str, str]], nats_port: int, mongo_port: int) -> str:
    """What to print before the logs start."""
    out = ["", "omnihub is starting. Ctrl-C stops everything; data stays in ./var.", ""]
    out.append(f"  NATS        nats://127.0.0.1:{nats_port}   (JetStream store: var/nats)")
    out.append(f"  MongoDB     mongodb://127.0.0.1:{mongo_port} (SecantusDB, store: var/mongo)")
    for name in built_services(rt.root):
        url, what = SERVICE_URLS.get(name, ("", ""))
        out.append(f"  {name:<11} {url:<36} {what}")
    out.append("")
    out.append("  Demo: simulated customers call, text, mail, chat and write on Telegram a few times a minute")
    out.append("  (OMNIHUB_DEMO=0 stops it); agents' replies go to local Twilio and Telegram sandboxes and an SMTP")
    out.append("  sink that print them.")
    if created:
        out += ["", "  Demo logins (shown once; delete var/config/users.yaml to make new ones):"]
        out += [f"    {user:<8} {role:<11} {password}" for user, role, password in created]
    out.append("")
    return "\n".join(out)


def up(nats_port: int = 4222, mongo_port: int = 27017, demo: bool = True) -> None:
    """Start the whole hub in the foreground through honcho (replaces this process)."""
    rt = Runtime(find_root())
    created = seed_config(rt)
    names = write_procfile(rt, nats_port, mongo_port, demo)
    os.environ.update(runtime_env(rt, nats_port, mongo_port, demo))
    print(banner(rt, created, nats_port, mongo_port), flush=True)
    honcho = Path(sys.executable).parent / "honcho"
    args = [str(honcho), "-f", str(rt.procfile), "-d", str(rt.root), "start", *names]
    os.execv(str(honcho), args)
