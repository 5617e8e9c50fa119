"""Chat service settings from OMNIHUB_* environment variables."""

from __future__ import annotations

from pydantic import SecretStr

from omnihub.common.config import ServiceSettings


class ChatSettings(ServiceSettings):
    """Settings of the chat service; secrets are required, the service refuses to start without."""

    chat_http_port: int = 8081
    widget_signing_key: SecretStr
    telegram_bot_token: SecretStr
    telegram_webhook_secret: SecretStr
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_bot_username: str = "omnihub_bot"
    telegram_enabled: bool = True
    widget_max_message_chars: int = 2000
    widget_rate_per_minute: int = 30
    widget_max_upload_bytes: int = 5 * 1024 * 1024
    widget_entry_point: str = "widget:default"
