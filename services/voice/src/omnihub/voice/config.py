"""Voice settings (OMNIHUB_VOICE_*) and the IVR menus per called number (voice.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from omnihub.common.config import ServiceSettings, fail


class VoiceSettings(ServiceSettings):
    """Everything the voice service reads from the environment."""

    voice_http_port: int = 8082
    voice_public_base_url: str = "http://127.0.0.1:8082"
    voice_caller_id: str = "+15550000000"
    twilio_account_sid: str
    twilio_auth_token: SecretStr
    twilio_api_base_url: str = ""


class MenuOption(BaseModel):
    """One IVR choice: a key (and spoken words) leading to a queue and language."""

    model_config = ConfigDict(extra="forbid")
    digit: str = Field(pattern=r"^[0-9*#]$")
    words: list[str] = Field(default_factory=list)
    label: str
    queue: str = ""
    language: str = ""


class Menu(BaseModel):
    """The IVR of one called number."""

    model_config = ConfigDict(extra="forbid")
    greeting: str = "Thank you for calling."
    prompt: str = ""
    language: str = "en-US"
    default_queue: str = "support"
    options: list[MenuOption] = Field(default_factory=list)
    callback_digit: str = "1"


class VoiceConfig(BaseModel):
    """Menus keyed by called number; `default` for any other number."""

    model_config = ConfigDict(extra="forbid")
    menus: dict[str, Menu] = Field(default_factory=lambda: {"default": Menu()})

    def menu_for(self, called: str) -> Menu:
        """The menu of a called number."""
        return self.menus.get(called) or self.menus.get("default") or Menu()


def load_voice_config(config_dir: Path) -> VoiceConfig:
    """voice.yaml, or the default menu when absent; a bad file stops the service naming the field."""
    path = config_dir / "voice.yaml"
    if not path.exists():
        return VoiceConfig()
    try:
        return VoiceConfig.model_validate(yaml.safe_load(path.read_text()) or {})
    except (yaml.YAMLError, ValidationError) as exc:
        fail(f"invalid voice configuration {path}: {str(exc).splitlines()[0]}")
