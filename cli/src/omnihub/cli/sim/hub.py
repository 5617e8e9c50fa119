"""A hub started for one simulation: NATS, SecantusDB, the services a scenario needs and provider doubles."""

from __future__ import annotations

import contextlib
import importlib
import secrets
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from omnihub.cli.runtime import find_root
from omnihub.cli.sim.model import Scenario
from omnihub.common.identity import Credentials
from omnihub.testkit.ports import free_port
from omnihub.testkit.servers import MongoServer, NatsServer
from omnihub.testkit.services import ServiceProcess

BOT = "omnihub_sim_bot"
PASSWORD = secrets.token_urlsafe(12)  # every synthetic agent's inbox password, for this process only


OFFICIAL_ACCOUNT = "gh_omnihub"  # the WeChat double's original id (ToUserName)


def sms_number(queue_index: int) -> str:
    """The number customers text (or call) for a queue."""
    return f"+1555000{queue_index:04d}"


def mailbox(queue: str) -> str:
    """The address customers write to for a queue."""
    return f"{queue}@sim.example"


def routing_config(sc: Scenario, capacity: int = 1) -> dict[str, Any]:
    """Queues (SL thresholds compressed by the speed-up), agents and entry points for the scenario.

    Agents hold one contact at a time (the M/M/N of Erlang C) unless `capacity` allows more per channel.
    """
    channels = {s.channel for s in sc.streams}
    queues = [{"name": q.name, "skills": [{"name": q.skill, "min_level": q.min_level}] if q.skill else [],
               "wrap_up_seconds": 0, "strategy": q.strategy,
               "service_level": {"target": q.target, "threshold_seconds": q.threshold_seconds / sc.speed},
               "max_wait_seconds": 86400, "max_wait_action": "none"} for q in sc.queues]
    agents = [{"id": agent_id, "queues": list(g.queues), "skills": dict(g.skills), "max_concurrent": 1 if capacity == 1 else 0,
               "capacity": dict.fromkeys(channels, capacity)} for g in sc.agents for agent_id in g.ids()]
    entries = [{"match": f"sms:{sms_number(i)}", "queue": q.name} for i, q in enumerate(sc.queues)]
    entries += [{"match": f"bot:{BOT}", "queue": s.queue} for s in sc.streams if s.channel == "telegram"][:1]
    entries += [{"match": f"whatsapp:{sms_number(i)}", "queue": q.name} for i, q in enumerate(sc.queues)]
    entries += [{"match": f"wechat:{OFFICIAL_ACCOUNT}", "queue": s.queue} for s in sc.streams if s.channel == "wechat"][:1]
    timeouts = dict.fromkeys(("sms", "voice", "email", "webchat", "telegram", "whatsapp", "wechat"), 600)
    return {"version": 1, "defaults": {"reservation_timeout_seconds": timeouts}, "queues": queues,
            "agents": agents, "entry_points": entries}


def write_config(sc: Scenario, directory: Path, capacity: int = 1) -> None:
    """routing.yaml, voice.yaml (a menu per queue number), email.yaml (a mailbox per queue), users.yaml."""
    from argon2 import PasswordHasher

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "routing.yaml").write_text(yaml.safe_dump(routing_config(sc, capacity)))
    menus = {sms_number(i): {"default_queue": q.name, "options": []} for i, q in enumerate(sc.queues)}
    (directory / "voice.yaml").write_text(yaml.safe_dump({"menus": menus}))
    addresses = {mailbox(q.name): {"queue": q.name} for q in sc.queues}
    (directory / "email.yaml").write_text(yaml.safe_dump({"default_from": mailbox(sc.queues[0].name),
                                                          "addresses": addresses, "domains": {}}))
    digest = PasswordHasher().hash(PASSWORD)
    users = [{"id": agent_id, "role": "agent", "password_hash": digest} for g in sc.agents for agent_id in g.ids()]
    (directory / "users.yaml").write_text(yaml.safe_dump({"users": users}))


def fakes_module(name: str) -> Any:
    """A provider double from tests/fakes of this checkout (the simulator runs inside the repository)."""
    root = str(find_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"tests.fakes.{name}")


class MailSink:
    """The SMTP relay the email service sends agents' replies to: it records each recipient."""

    def __init__(self) -> None:
        self.recipients: list[str] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.recipients += list(envelope.rcpt_tos)
        return "250 OK"


class Hub:
    """Everything one run needs, on free ports; `start` in a thread, `start_fakes` on the event loop."""

    def __init__(self, sc: Scenario, work: Path, capacity: int = 1) -> None:
        self.sc = sc
        self.capacity = capacity
        self.work = work
        self.channels = {s.channel for s in sc.streams}
        names = ["router", "router_grpc", "quality", "quality_grpc", "inbox", "sms", "voice", "email", "email_smtp",
                 "chat"]
        self.ports = {k: free_port() for k in names}
        self.procs: list[Any] = []
        self.nats_url = self.mongo_url = ""  # set by start()
        self.twilio: Any = None
        self.telegram: Any = None
        self.wechat: Any = None
        self.mail = MailSink()
        self.bot_token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}"
        self.webhook_secret = secrets.token_urlsafe(24)
        self.credentials = Credentials.generate()  # the service token and actor key of this run's hub

    def url(self, name: str) -> str:
        """Base URL of a service's HTTP port."""
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def services(self) -> list[str]:
        """The services this scenario exercises (router, quality and inbox always)."""
        wanted = ["router", "quality", "inbox"]
        wanted += [s for s in ("voice", "email") if s in self.channels]
        if self.channels & {"sms", "whatsapp"}:
            wanted.append("sms")
        if self.channels & {"webchat", "telegram", "wechat"}:
            wanted.append("chat")
        return wanted

    async def start_fakes(self) -> None:
        """The Twilio and Telegram doubles and the SMTP sink, served from this process."""
        self.twilio = fakes_module("twilio_api").FakeTwilio()
        await self.twilio.start()
        self.telegram = fakes_module("telegram_api").FakeTelegramApi(token=self.bot_token)
        await self.telegram.start()
        self.wechat = fakes_module("wechat_api").FakeWeChatApi(original_id=OFFICIAL_ACCOUNT)
        await self.wechat.start()
        self.mail.controller.start()

    def env(self, name: str, base: dict[str, str]) -> dict[str, str]:
        """Each service's settings."""
        p, tw = self.ports, self.twilio
        twilio = {"OMNIHUB_TWILIO_ACCOUNT_SID": tw.account_sid, "OMNIHUB_TWILIO_AUTH_TOKEN": tw.auth_token,
                  "OMNIHUB_TWILIO_API_BASE_URL": tw.base_url}
        per: dict[str, dict[str, str]] = {
            "router": {"OMNIHUB_ROUTER_GRPC_PORT": str(p["router_grpc"]), "OMNIHUB_ROUTER_HTTP_PORT": str(p["router"]),
                       "OMNIHUB_ROUTER_TICK_SECONDS": "0.05"},
            "quality": {"OMNIHUB_QUALITY_HTTP_PORT": str(p["quality"]), "OMNIHUB_QUALITY_GRPC_PORT": str(p["quality_grpc"]),
                        "OMNIHUB_QUALITY_SURVEYS": "false", "OMNIHUB_QUALITY_SHORT_ABANDON_SECONDS": "0"},
            "inbox": {"OMNIHUB_INBOX_HTTP_PORT": str(p["inbox"]), "OMNIHUB_INBOX_SESSION_KEY": secrets.token_hex(32),
                      "OMNIHUB_ROUTER_ADDR": f"127.0.0.1:{p['router_grpc']}", "OMNIHUB_QUALITY_URL": self.url("quality")},
            "sms": {"OMNIHUB_SMS_HTTP_PORT": str(p["sms"]), "OMNIHUB_SMS_PUBLIC_BASE_URL": self.url("sms"), **twilio},
            "voice": {"OMNIHUB_VOICE_HTTP_PORT": str(p["voice"]), "OMNIHUB_VOICE_PUBLIC_BASE_URL": self.url("voice"),
                      **twilio},
            "email": {"OMNIHUB_EMAIL_HTTP_PORT": str(p["email"]), "OMNIHUB_EMAIL_SMTP_PORT": str(p["email_smtp"]),
                      "OMNIHUB_EMAIL_RELAY_PORT": str(self.mail.port)},
            "chat": {"OMNIHUB_CHAT_HTTP_PORT": str(p["chat"]), "OMNIHUB_WIDGET_SIGNING_KEY": secrets.token_hex(32),
                     "OMNIHUB_WIDGET_RATE_PER_MINUTE": "600", "OMNIHUB_TELEGRAM_BOT_TOKEN": self.bot_token,
                     # every simulated visitor comes from 127.0.0.1: lift the per-address limits
                     "OMNIHUB_WIDGET_CONNECTS_PER_ADDRESS": "1000000/minute",
                     "OMNIHUB_WIDGET_NEW_VISITORS_PER_ADDRESS": "1000000/minute",
                     "OMNIHUB_TELEGRAM_WEBHOOK_SECRET": self.webhook_secret,
                     "OMNIHUB_TELEGRAM_BOT_USERNAME": BOT, "OMNIHUB_TELEGRAM_BASE_URL": self.telegram.base_url,
                     "OMNIHUB_TELEGRAM_BASE_FILE_URL": self.telegram.base_file_url,
                     "OMNIHUB_WECHAT_APP_ID": self.wechat.app_id, "OMNIHUB_WECHAT_APP_SECRET": self.wechat.app_secret,
                     "OMNIHUB_WECHAT_TOKEN": self.wechat.callback_token,
                     "OMNIHUB_WECHAT_ENCODING_AES_KEY": self.wechat.encoding_aes_key,
                     "OMNIHUB_WECHAT_API_BASE_URL": self.wechat.base_url},
        }
        return base | per[name]

    def start(self) -> None:
        """Write the config, start NATS and SecantusDB, then every needed service in parallel (blocking)."""
        config_dir = self.work / "config"
        write_config(self.sc, config_dir, self.capacity)
        nats, mongo = NatsServer(self.work / "nats"), MongoServer(self.work / "mongo")
        self.procs += [nats, mongo]
        nats.start()
        mongo.start()
        self.nats_url, self.mongo_url = nats.url, mongo.url
        base = {**self.credentials.env(), "OMNIHUB_NATS_URL": nats.url, "OMNIHUB_MONGO_URL": mongo.url, "OMNIHUB_CONFIG_DIR": str(config_dir),
                "OMNIHUB_VAR_DIR": str(self.work / "var"), "OMNIHUB_LOG_LEVEL": "WARNING"}
        procs = [ServiceProcess(n, self.env(n, base), ready_url=f"{self.url(n)}/readyz") for n in self.services]
        self.procs += procs
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(lambda proc: proc.start(), procs))

    async def stop(self) -> None:
        """Stop services, servers and doubles; never raises."""
        for proc in reversed(self.procs):
            with contextlib.suppress(Exception):
                proc.stop() if isinstance(proc, ServiceProcess) else proc.cleanup()
        for fake in (self.twilio, self.telegram, self.wechat):
            if fake is not None:
                with contextlib.suppress(Exception):
                    await fake.stop()
        with contextlib.suppress(Exception):
            self.mail.controller.stop()
