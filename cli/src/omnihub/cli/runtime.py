"""The local runtime: seed demo config, write a supervisord config for every built service, run supervisord."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from omnihub.common.identity import Credentials

SERVICE_URLS = {
    "inbox": ("http://127.0.0.1:8080/", "agent inbox and wallboard"),
    "chat": ("http://127.0.0.1:8081/widget", "web chat widget demo page"),
    "voice": ("http://127.0.0.1:8082/healthz", "Twilio Voice webhooks"),
    "sms": ("http://127.0.0.1:8083/healthz", "Twilio Messaging webhooks"),
    "email": ("http://127.0.0.1:8084/healthz", "SMTP inbound on 127.0.0.1:2525"),
    "quality": ("http://127.0.0.1:8085/healthz", "KPIs through the inbox (signed calls only; gRPC on 50052)"),
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
    def supervisor_conf(self) -> Path:
        return self.var / "supervisord.conf"

    @property
    def supervisor_socket(self) -> Path:
        """supervisorctl's socket: in var/, or in the temp dir when that path is too long for a socket."""
        path = self.var / "supervisor.sock"
        if len(str(path)) < 100:
            return path
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"omnihub-{digest}.sock"


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
    hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)  # the inbox's (OWASP's minimum)
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
    """Per-checkout development secrets: webhook keys for the local provider sandboxes, and the service
    token and actor key the services call each other with (kept across runs; missing ones are added)."""
    path = rt.var / "dev-secrets.env"
    rt.var.mkdir(parents=True, exist_ok=True)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line) if path.exists() else ()
    values = {k: v for k, v in pairs}
    fresh = {
        "OMNIHUB_TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "OMNIHUB_TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        "OMNIHUB_TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}",
        "OMNIHUB_TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "OMNIHUB_WIDGET_SIGNING_KEY": secrets.token_urlsafe(32),
        "OMNIHUB_WECHAT_APP_ID": "wx" + secrets.token_hex(8),
        "OMNIHUB_WECHAT_APP_SECRET": secrets.token_hex(16),
        "OMNIHUB_WECHAT_TOKEN": secrets.token_hex(16),
        "OMNIHUB_WECHAT_ENCODING_AES_KEY": base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        "OMNIHUB_INBOX_SESSION_KEY": secrets.token_urlsafe(32),
        **Credentials.generate().env(),
    }
    missing = {k: v for k, v in fresh.items() if k not in values}
    if missing:
        values |= missing
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return values


SANDBOX_PORT = 8090
TELEGRAM_SANDBOX_PORT = 8091
WECHAT_SANDBOX_PORT = 8092
SMTP_SINK_PORT = 2526

# supervisord starts lower priorities first and stops higher ones first, one group at a time: NATS and
# SecantusDB start first and stop last, after every service has drained.
BACKING, SANDBOXES, SERVICES, DEMO = "backing", "sandboxes", "services", "demo"
PRIORITY = {BACKING: 10, SANDBOXES: 50, SERVICES: 100, DEMO: 200}


@dataclass(frozen=True)
class Program:
    """One process of the local runtime."""

    name: str
    command: list[str]
    group: str


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
        env["OMNIHUB_WECHAT_API_BASE_URL"] = f"http://127.0.0.1:{WECHAT_SANDBOX_PORT}"
    for key, value in dev_secrets(rt).items():
        env.setdefault(key, value)
    return env


def programs(rt: Runtime, nats_port: int, mongo_port: int, demo: bool) -> list[Program]:
    """NATS and SecantusDB, every built service, and with `demo` the provider sandboxes and the demo traffic."""
    bindir = Path(sys.executable).parent
    py = sys.executable
    out = [
        Program("nats", [str(bindir / "nats-server"), "-a", "127.0.0.1", "-p", str(nats_port), "-js",
                         "-sd", str(rt.var / "nats")], BACKING),
        Program("mongo", [str(bindir / "secantusd-py"), "--host", "127.0.0.1", "--port", str(mongo_port),
                          "--storage-path", str(rt.var / "mongo"), "--log-level", "WARNING"], BACKING),
    ]
    out += [Program(name, [py, "-m", f"omnihub.{name}"], SERVICES) for name in built_services(rt.root)]
    if demo:
        fakes = "omnihub.testkit.fakes"
        out += [
            Program("twilio-sandbox", [py, "-m", f"{fakes}.twilio_api", "--port", str(SANDBOX_PORT)], SANDBOXES),
            Program("telegram-sandbox", [py, "-m", f"{fakes}.telegram_api", "--port", str(TELEGRAM_SANDBOX_PORT)],
                    SANDBOXES),
            Program("wechat-sandbox", [py, "-m", f"{fakes}.wechat_api", "--port", str(WECHAT_SANDBOX_PORT)],
                    SANDBOXES),
            Program("smtp-sink", [str(bindir / "aiosmtpd"), "-n", "-l", f"127.0.0.1:{SMTP_SINK_PORT}",
                                  "-c", "aiosmtpd.handlers.Debugging"], SANDBOXES),
            Program("demo", [py, "-m", "omnihub.cli.demo"], DEMO),
        ]
    return out


def _value(text: str) -> str:
    """A value for supervisord's ini file, which expands %(name)s: a literal % is written %%."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"a supervisord setting cannot span lines: {text[:60]!r}")
    return text.replace("%", "%%")


def supervisor_config(rt: Runtime, procs: list[Program], env: dict[str, str] | None = None,
                      stop_wait: float = 10.0) -> str:
    """supervisord's configuration: every program restarted when it dies (after a quick failure with a growing
    back-off), its output on the terminal, groups started by priority and stopped in reverse order."""
    sock = rt.supervisor_socket
    lines = [
        "; written by `omnihub up` on every start: edit runtime.py, not this file",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={_value(str(rt.var / 'supervisord.log'))}",
        "logfile_maxbytes=5MB",
        "logfile_backups=1",
        f"pidfile={_value(str(rt.var / 'supervisord.pid'))}",
        f"childlogdir={_value(str(rt.var))}",
        "loglevel=info",
        *(["user=root"] if os.geteuid() == 0 else []),  # says so, instead of a CRIT line at every start
        "",
        "[unix_http_server]",
        f"file={_value(str(sock))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{_value(str(sock))}",
    ]
    if env:
        pairs = ",".join(f'{key}="{_value(value)}"' for key, value in sorted(env.items()))
        lines.insert(lines.index("loglevel=info") + 1, f"environment={pairs}")
    for group in PRIORITY:
        members = [p for p in procs if p.group == group]
        if not members:
            continue
        lines += ["", f"[group:{group}]", f"programs={','.join(p.name for p in members)}",
                  f"priority={PRIORITY[group]}"]
        for proc in members:
            lines += [
                "",
                f"[program:{proc.name}]",
                f"command={_value(shlex.join(proc.command))}",
                f"directory={_value(str(rt.root))}",
                "autostart=true",
                "autorestart=true",
                "startsecs=2",  # dying sooner counts as a failed start: retried after 1 s, 2 s, 3 s ...
                "startretries=10",
                "stopsignal=TERM",
                f"stopwaitsecs={stop_wait:g}",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                "stdout_logfile=/dev/stdout",
                "stdout_logfile_maxbytes=0",
            ]
    return "\n".join(lines) + "\n"


def write_supervisor_config(rt: Runtime, procs: list[Program], env: dict[str, str] | None = None,
                            stop_wait: float = 10.0) -> Path:
    """Write var/supervisord.conf (mode 0600: the environment holds development secrets)."""
    rt.var.mkdir(parents=True, exist_ok=True)
    rt.supervisor_conf.write_text(supervisor_config(rt, procs, env, stop_wait))
    rt.supervisor_conf.chmod(0o600)
    return rt.supervisor_conf


def banner(rt: Runtime, created: list[tuple[str, str, str]], nats_port: int, mongo_port: int) -> str:
    """What to print before the logs start."""
    out = ["", "omnihub is starting under supervisord. A process that dies is started again; Ctrl-C stops",
           "everything (services first, NATS and SecantusDB last); data stays in ./var.",
           f"  Status, restarts: python3 -m uv run supervisorctl -c {rt.supervisor_conf} status", ""]
    out.append(f"  NATS        nats://127.0.0.1:{nats_port}   (JetStream store: var/nats)")
    out.append(f"  MongoDB     mongodb://127.0.0.1:{mongo_port} (SecantusDB, store: var/mongo)")
    for name in built_services(rt.root):
        url, what = SERVICE_URLS.get(name, ("", ""))
        out.append(f"  {name:<11} {url:<36} {what}")
    out.append("")
    out.append("  Demo: simulated customers call, text, mail, chat and write on WhatsApp, WeChat and Telegram a few")
    out.append("  times a minute (OMNIHUB_DEMO=0 stops it); agents' replies go to local Twilio, WeChat and Telegram")
    out.append("  sandboxes and an SMTP sink that print them.")
    if created:
        out += ["", "  Demo logins (shown once; delete var/config/users.yaml to make new ones):"]
        out += [f"    {user:<8} {role:<11} {password}" for user, role, password in created]
    out.append("")
    return "\n".join(out)


def up(nats_port: int = 4222, mongo_port: int = 27017, demo: bool = True) -> None:
    """Start the whole hub in the foreground under supervisord (replaces this process)."""
    rt = Runtime(find_root())
    created = seed_config(rt)
    conf = write_supervisor_config(rt, programs(rt, nats_port, mongo_port, demo))
    os.environ.update(runtime_env(rt, nats_port, mongo_port, demo))
    print(banner(rt, created, nats_port, mongo_port), flush=True)
    supervisord = Path(sys.executable).parent / "supervisord"
    os.execv(str(supervisord), [str(supervisord), "-n", "-c", str(conf)])
