"""A hub started for one simulation: NATS, SecantusDB, the services a scenario needs and provider doubles."""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from omnihub.cli.sim.model import Scenario
from omnihub.common.identity import Credentials
from omnihub.testkit.fakes.telegram_api import FakeTelegramApi
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.fakes.wechat_api import FakeWeChatApi
from omnihub.testkit.hub import PORTS, SERVICES, ServiceHub, telegram_env, twilio_env
from omnihub.testkit.ports import free_port
from omnihub.testkit.servers import MongoServer, NatsServer

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
        self.services_hub: ServiceHub | None = None  # set by start(), once NATS and SecantusDB run
        self.ports = {k: free_port() for s in SERVICES for k in PORTS[s]}
        self.servers: list[NatsServer | MongoServer] = []
        self.nats_url = self.mongo_url = ""  # set by start()
        self.bot_token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(26)}"
        self.twilio = FakeTwilio()  # the doubles are served by start_fakes()
        self.telegram = FakeTelegramApi(token=self.bot_token)
        self.wechat = FakeWeChatApi(original_id=OFFICIAL_ACCOUNT)
        self.mail = MailSink()
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
        """The Twilio, Telegram and WeChat doubles and the SMTP sink, served from this process."""
        await self.twilio.start()
        await self.telegram.start()
        await self.wechat.start()
        self.mail.controller.start()

    def extra_env(self) -> dict[str, dict[str, str]]:
        """The simulation's own settings per service (ports and URLs between services come from the launcher)."""
        twilio = twilio_env(self.twilio)
        wechat = self.wechat
        return {
            "router": {"OMNIHUB_ROUTER_TICK_SECONDS": "0.05"},
            "quality": {"OMNIHUB_QUALITY_SURVEYS": "false", "OMNIHUB_QUALITY_SHORT_ABANDON_SECONDS": "0"},
            "inbox": {"OMNIHUB_INBOX_SESSION_KEY": secrets.token_hex(32)},
            "sms": twilio,
            "voice": twilio,
            "email": {"OMNIHUB_EMAIL_RELAY_PORT": str(self.mail.port)},
            "chat": {"OMNIHUB_WIDGET_SIGNING_KEY": secrets.token_hex(32), "OMNIHUB_WIDGET_RATE_PER_MINUTE": "600",
                     # every simulated visitor comes from 127.0.0.1: lift the per-address limits
                     "OMNIHUB_WIDGET_CONNECTS_PER_ADDRESS": "1000000/minute",
                     "OMNIHUB_WIDGET_NEW_VISITORS_PER_ADDRESS": "1000000/minute",
                     "OMNIHUB_TELEGRAM_BOT_USERNAME": BOT, **telegram_env(self.telegram, self.webhook_secret),
                     "OMNIHUB_WECHAT_APP_ID": wechat.app_id, "OMNIHUB_WECHAT_APP_SECRET": wechat.app_secret,
                     "OMNIHUB_WECHAT_TOKEN": wechat.callback_token,
                     "OMNIHUB_WECHAT_ENCODING_AES_KEY": wechat.encoding_aes_key,
                     "OMNIHUB_WECHAT_API_BASE_URL": wechat.base_url},
        }

    def start(self) -> None:
        """Write the config, start NATS and SecantusDB, then every needed service in parallel (blocking)."""
        config_dir = self.work / "config"
        write_config(self.sc, config_dir, self.capacity)
        nats, mongo = NatsServer(self.work / "nats"), MongoServer(self.work / "mongo")
        self.servers += [nats, mongo]
        nats.start()
        mongo.start()
        self.nats_url, self.mongo_url = nats.url, mongo.url
        self.services_hub = ServiceHub(
            config_dir, nats.url, mongo.url, ports=self.ports, extra=self.extra_env(), credentials=self.credentials,
            env={"OMNIHUB_VAR_DIR": str(self.work / "var"), "OMNIHUB_LOG_LEVEL": "WARNING"})
        self.services_hub.start(*self.services)

    async def stop(self) -> None:
        """Stop services, servers and doubles; never raises."""
        if self.services_hub is not None:
            with contextlib.suppress(Exception):
                self.services_hub.stop()
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):
                server.cleanup()
        for fake in (self.twilio, self.telegram, self.wechat):
            with contextlib.suppress(Exception):
                await fake.stop()
        with contextlib.suppress(Exception):
            self.mail.controller.stop()
