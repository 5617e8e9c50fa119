"""Chat service settings from OMNIHUB_* environment variables."""

from __future__ import annotations

import os
import secrets

from pydantic import SecretStr, field_validator

from omnihub.chat.admission import valid_limit
from omnihub.common.clientaddr import parse_networks
from omnihub.common.config import ServiceSettings
from omnihub.common.errors import ConfigError


class ChatSettings(ServiceSettings):
    """Settings of the chat service.

    Without a signing key, a random one is generated once and kept in the var dir. Telegram
    runs only when both its token and webhook secret are set; one without the other is an error.
    """

    chat_http_port: int = 8081
    widget_signing_key: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_bot_username: str = "omnihub_bot"
    telegram_webhook_url: str = ""
    telegram_enabled: bool = True
    widget_max_message_chars: int = 2000
    widget_rate_per_minute: int = 30
    widget_max_upload_bytes: int = 5 * 1024 * 1024
    widget_entry_point: str = "widget:default"
    # per client address, in the `limits` library's notation; over them: 429 + Retry-After, or an error frame
    widget_connects_per_address: str = "30/minute"
    widget_new_visitors_per_address: str = "10/minute"
    chat_trusted_proxies: str = ""  # comma-separated CIDRs whose X-Forwarded-For is believed

    @field_validator("widget_connects_per_address", "widget_new_visitors_per_address")
    @classmethod
    def _limit(cls, value: str) -> str:
        return valid_limit(value)

    @field_validator("chat_trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value


def telegram_configured(settings: ChatSettings) -> bool:
    """True when Telegram should run; raises ConfigError when half-configured."""
    token, secret = settings.telegram_bot_token, settings.telegram_webhook_secret
    if not settings.telegram_enabled or (token is None and secret is None):
        return False
    if token is None or secret is None:
        missing = "OMNIHUB_TELEGRAM_WEBHOOK_SECRET" if secret is None else "OMNIHUB_TELEGRAM_BOT_TOKEN"
        raise ConfigError(f"{missing} is required when Telegram is configured")
    if len(secret.get_secret_value()) < 8:
        raise ConfigError("OMNIHUB_TELEGRAM_WEBHOOK_SECRET must be at least 8 characters")
    return True


def signing_key(settings: ChatSettings) -> bytes:
    """The visitor-token key: the setting, or a random key persisted in $OMNIHUB_VAR_DIR."""
    if settings.widget_signing_key is not None:
        return settings.widget_signing_key.get_secret_value().encode()
    path = settings.var_dir / "chat-widget-signing-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
