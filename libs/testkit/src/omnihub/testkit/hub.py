"""One launcher for a hub of real omnihub services on free ports, shared by the e2e tests and `omnihub simulate`."""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from omnihub.common.identity import Credentials
from omnihub.testkit.fakes.telegram_api import FakeTelegramApi
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.fakes.wechat_api import FakeWeChatApi
from omnihub.testkit.ports import free_port
from omnihub.testkit.services import ServiceProcess

SERVICES = ("router", "quality", "inbox", "sms", "voice", "email", "chat")
# The ports each service listens on; a service's HTTP port has the service's own name.
PORTS = {"router": ("router", "router_grpc"), "quality": ("quality", "quality_grpc"), "inbox": ("inbox",),
         "sms": ("sms",), "voice": ("voice",), "email": ("email", "email_smtp"), "chat": ("chat",)}


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    """Settings that point the sms and voice services at a Twilio double."""
    return {"OMNIHUB_TWILIO_ACCOUNT_SID": fake.account_sid, "OMNIHUB_TWILIO_AUTH_TOKEN": fake.auth_token,
            "OMNIHUB_TWILIO_API_BASE_URL": fake.base_url}


def telegram_env(fake: FakeTelegramApi, webhook_secret: str) -> dict[str, str]:
    """Settings that point the chat service's bot at a Telegram Bot API double."""
    return {"OMNIHUB_TELEGRAM_BOT_TOKEN": fake.token, "OMNIHUB_TELEGRAM_WEBHOOK_SECRET": webhook_secret,
            "OMNIHUB_TELEGRAM_BASE_URL": fake.base_url, "OMNIHUB_TELEGRAM_BASE_FILE_URL": fake.base_file_url}


def wechat_env(fake: FakeWeChatApi, var_dir: Path) -> dict[str, str]:
    """Settings that point the chat service's WeChat Official Account (safe mode) at a WeChat API double."""
    return {"OMNIHUB_VAR_DIR": str(var_dir), "OMNIHUB_TELEGRAM_ENABLED": "false",
            "OMNIHUB_WECHAT_APP_ID": fake.app_id, "OMNIHUB_WECHAT_APP_SECRET": fake.app_secret,
            "OMNIHUB_WECHAT_TOKEN": fake.callback_token, "OMNIHUB_WECHAT_ENCODING_AES_KEY": fake.encoding_aes_key,
            "OMNIHUB_WECHAT_API_BASE_URL": fake.base_url}


@dataclass
class ServiceHub:
    """Services as subprocesses against given NATS and MongoDB URLs, each on its own free ports.

    `env` holds settings every service gets; `extra` holds settings per service (a provider double's,
    a database name). The ports, the URLs between services and the hub's credentials are filled in here, once.
    """

    config_dir: Path
    nats_url: str
    mongo_url: str
    env: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: {p: free_port() for s in SERVICES for p in PORTS[s]})
    procs: dict[str, ServiceProcess] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials.generate)  # the service token and actor key

    def url(self, name: str) -> str:
        """Base URL of a service's HTTP port."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def service_env(self, service: str) -> dict[str, str]:
        """Everything `service` is started with."""
        p = self.ports
        own: dict[str, dict[str, str]] = {
            "router": {"OMNIHUB_ROUTER_GRPC_PORT": str(p["router_grpc"]), "OMNIHUB_ROUTER_HTTP_PORT": str(p["router"])},
            "quality": {"OMNIHUB_QUALITY_HTTP_PORT": str(p["quality"]),
                        "OMNIHUB_QUALITY_GRPC_PORT": str(p["quality_grpc"])},
            "inbox": {"OMNIHUB_INBOX_HTTP_PORT": str(p["inbox"]), "OMNIHUB_ROUTER_ADDR": f"127.0.0.1:{p['router_grpc']}",
                      "OMNIHUB_QUALITY_URL": self.url("quality"), "OMNIHUB_INBOX_PUBLIC_URL": self.url("inbox"),
                      "OMNIHUB_INBOX_EMAIL_URL": self.url("email"), "OMNIHUB_INBOX_CHAT_URL": self.url("chat")},
            "sms": {"OMNIHUB_SMS_HTTP_PORT": str(p["sms"]), "OMNIHUB_SMS_PUBLIC_BASE_URL": self.url("sms")},
            "voice": {"OMNIHUB_VOICE_HTTP_PORT": str(p["voice"]), "OMNIHUB_VOICE_PUBLIC_BASE_URL": self.url("voice")},
            "email": {"OMNIHUB_EMAIL_HTTP_PORT": str(p["email"]), "OMNIHUB_EMAIL_SMTP_PORT": str(p["email_smtp"])},
            "chat": {"OMNIHUB_CHAT_HTTP_PORT": str(p["chat"])},
        }
        base = {**self.credentials.env(), "OMNIHUB_NATS_URL": self.nats_url, "OMNIHUB_MONGO_URL": self.mongo_url,
                "OMNIHUB_CONFIG_DIR": str(self.config_dir)}
        return base | self.env | own[service] | self.extra.get(service, {})

    def start(self, *services: str) -> None:
        """Start the services at once and return when every one is ready (blocking; run it in a thread
        from async code). A service that fails to start raises with its log's tail, after every service
        of the hub has been stopped (a caller whose start failed never reaches its own stop)."""
        procs = [ServiceProcess(s, self.service_env(s), ready_url=f"{self.url(s)}/readyz") for s in services]
        self.procs.update(zip(services, procs, strict=True))
        with ThreadPoolExecutor(max(1, len(procs))) as pool:
            starts = [pool.submit(proc.start) for proc in procs]
            done, _ = wait(starts, return_when=FIRST_EXCEPTION)
            failed = next((f.exception() for f in starts if f in done and f.exception() is not None), None)
            if failed is not None:
                self.stop()  # the others need not get ready first: a stopped one ends its own wait
        if failed is not None:
            self.stop()  # again, for a process that was spawned while the first stop ran
            raise failed

    def stop(self) -> None:
        """Stop every started service: all are asked at once (each drains its consumers on its own, about a
        second for some), then each is waited for and killed if it has not ended within 10 s."""
        procs = list(self.procs.values())
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.stop()
