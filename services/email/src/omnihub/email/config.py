"""Email settings (OMNIHUB_EMAIL_*) and accepted addresses (email.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from omnihub.common.config import ServiceSettings, fail


class EmailSettings(ServiceSettings):
    """Everything the email service reads from the environment."""

    email_smtp_port: int = 2525
    email_http_port: int = 8084
    email_hostname: str = "omnihub.local"
    email_max_size: int = 10 * 1024 * 1024
    email_max_recipients: int = 20
    email_max_attachment: int = 5 * 1024 * 1024
    email_tls_cert: Path | None = None
    email_tls_key: Path | None = None
    email_relay_host: str = "127.0.0.1"
    email_relay_port: int = 25
    email_relay_starttls: bool = False
    email_relay_tls: bool = False
    email_relay_username: str = ""
    email_relay_password: SecretStr = SecretStr("")
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    email_db: str = "omnihub_email"


class Mailbox(BaseModel):
    """An address we accept mail for."""

    model_config = ConfigDict(extra="forbid")
    queue: str = ""
    signature: str = ""
    display_name: str = ""


class EmailConfig(BaseModel):
    """Accepted addresses and domains; everything else gets 550."""

    model_config = ConfigDict(extra="forbid")
    addresses: dict[str, Mailbox] = Field(default_factory=dict)
    domains: dict[str, Mailbox] = Field(default_factory=dict)
    default_from: str = "support@example.com"

    def mailbox(self, address: str) -> Mailbox | None:
        """The mailbox for a recipient address (exact address first, then its domain)."""
        address = address.lower()
        found = self.addresses.get(address)
        if found is not None:
            return found
        return self.domains.get(address.rpartition("@")[2])


def load_email_config(config_dir: Path) -> EmailConfig:
    """email.yaml; a bad file stops the service with its name and the field."""
    path = config_dir / "email.yaml"
    if not path.exists():
        return EmailConfig(addresses={"support@example.com": Mailbox(queue="support")})
    try:
        data = yaml.safe_load(path.read_text()) or {}
        data["addresses"] = {k.lower(): v for k, v in (data.get("addresses") or {}).items()}
        return EmailConfig.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        fail(f"invalid email configuration {path}: {str(exc).splitlines()[0]}")
