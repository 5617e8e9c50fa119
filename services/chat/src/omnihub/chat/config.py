"""Chat service settings from OMNIHUB_* environment variables."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from pydantic import SecretStr, field_validator

from omnihub.chat.admission import valid_limit
from omnihub.common.clientaddr import parse_networks
from omnihub.common.config import ServiceSettings
from omnihub.common.errors import ConfigError


class ChatSettings(ServiceSettings):
    """Settings of the chat service.

    Without a signing key, a random one is generated once and kept in the var dir. Telegram
    runs only when both its token and webhook secret are set; one without the other is an error.
    WeChat runs when its app id, app secret and callback token are set; with an EncodingAESKey
    its callbacks must come in safe mode (AES-encrypted, with msg_signature).
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
    chat_widget_file: Path | None = None  # the widget's topics; default <config dir>/widget.yaml
    wechat_app_id: str = ""
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None
    wechat_encoding_aes_key: SecretStr | None = None
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_enabled: bool = True
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


def wechat_configured(settings: ChatSettings) -> bool:
    """True when WeChat should run; raises ConfigError when half-configured or the AES key is malformed."""
    values = {
        "OMNIHUB_WECHAT_APP_ID": settings.wechat_app_id or None,
        "OMNIHUB_WECHAT_APP_SECRET": settings.wechat_app_secret,
        "OMNIHUB_WECHAT_TOKEN": settings.wechat_token,
    }
    if not settings.wechat_enabled or all(v is None for v in values.values()):
        return False
    missing = [name for name, v in values.items() if v is None]
    if missing:
        raise ConfigError(f"{missing[0]} is required when WeChat is configured")
    token = settings.wechat_token.get_secret_value() if settings.wechat_token else ""
    if not 3 <= len(token) <= 32 or not token.isalnum():
        raise ConfigError("OMNIHUB_WECHAT_TOKEN must be 3-32 letters or digits (as the WeChat console requires)")
    key = settings.wechat_encoding_aes_key
    if key is not None:
        raw = key.get_secret_value()
        try:
            ok = len(raw) == 43 and len(base64.b64decode(raw + "=", validate=True)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError("OMNIHUB_WECHAT_ENCODING_AES_KEY must be the console's 43-character key")
    return True
