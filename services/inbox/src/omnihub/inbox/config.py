"""Inbox settings (OMNIHUB_INBOX_*) and the users file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from limits import parse
from pydantic import Field, SecretStr, field_validator

from omnihub.common.clientaddr import parse_networks
from omnihub.common.config import ServiceSettings, fail

ROLES = ("agent", "supervisor", "admin")


class InboxSettings(ServiceSettings):
    """Everything the inbox reads from the environment."""

    inbox_http_port: int = 8080
    inbox_session_key: SecretStr
    inbox_session_hours: int = 12
    inbox_secure_cookies: bool = False  # set true behind TLS
    inbox_users_file: Path | None = None
    inbox_desktop_file: Path | None = None  # the desktop's settings (disposition codes); default config/desktop.yaml
    inbox_wallboard_file: Path | None = None  # the wallboard's alert limits and refresh; default config/wallboard.yaml
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    inbox_db: str = "omnihub_inbox"
    router_addr: str = "127.0.0.1:50051"
    quality_url: str = "http://127.0.0.1:8085"
    inbox_login_limit_account: str = "5/5 minutes"  # failed logins per account (limits' notation)
    inbox_login_limit_address: str = "50/5 minutes"  # failed logins per client address
    inbox_trusted_proxies: str = ""  # comma-separated CIDRs whose X-Forwarded-For is believed
    inbox_aht_target_seconds: float = Field(default=300.0, ge=0)  # "My performance" target; 0: none
    inbox_adherence_target: float = Field(default=0.9, ge=0, le=1)  # schedule adherence target shown; 0: none
    # Browser softphones (Twilio Voice access tokens): all four, or none (calls then ring the agents' phones).
    twilio_account_sid: str = ""
    twilio_api_key: str = ""
    twilio_api_secret: SecretStr = SecretStr("")
    twilio_twiml_app_sid: str = ""
    # With the account's auth token, evaluators play its call recordings through the inbox (QA workspace).
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_api_base_url: str = ""  # empty = https://api.twilio.com; tests point it at the double
    # Attachments: the inbox's address as providers reach it (Twilio fetches MMS MediaUrl links from it),
    # how long such signed links last, and where customers' files are fetched from when an agent opens one.
    inbox_public_url: str = "http://127.0.0.1:8080"
    inbox_file_link_hours: float = Field(default=168.0, gt=0, le=24 * 30)
    # An agent's upload that went with no message this many hours after it was uploaded is removed (checked hourly).
    inbox_upload_keep_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    inbox_email_url: str = "http://127.0.0.1:8084"
    inbox_chat_url: str = "http://127.0.0.1:8081"
    # OpenID Connect single sign-on (code flow with PKCE): on when an issuer (or discovery URL) and client id are set.
    inbox_oidc_issuer: str = ""  # e.g. https://login.example.com/realms/cc; its discovery document is read from it
    inbox_oidc_discovery_url: str = ""  # empty: <issuer>/.well-known/openid-configuration
    inbox_oidc_client_id: str = ""
    inbox_oidc_client_secret: SecretStr = SecretStr("")
    inbox_oidc_scopes: str = "openid profile email"
    inbox_oidc_redirect_url: str = ""  # empty: <inbox_public_url>/api/sso/callback (register it at the provider)
    inbox_oidc_role_claim: str = "omnihub_role"  # a dotted path (realm_access.roles); a string or a list
    inbox_oidc_role_values: str = ""  # "idp-value=role,..." e.g. "cc-agents=agent,cc-leads=supervisor"; empty: as is
    inbox_oidc_agent_claim: str = "preferred_username"  # gives the agent id (the router's agent, the audit actor)
    inbox_oidc_name_claim: str = "name"
    inbox_oidc_team_claim: str = ""  # optional: a supervisor's or agent's team(s), as users.yaml `team:`
    inbox_oidc_post_logout_url: str = ""  # after logout at the provider; empty: the redirect URL's origin + "/"
    inbox_local_login_admins_only: bool = False
    # Webhook receivers must be public addresses; these CIDRs (e.g. an in-cluster CRM) are allowed too.
    inbox_webhook_allow_networks: str = ""  # true: passwords only for admins (break-glass); others use SSO

    @field_validator("inbox_login_limit_account", "inbox_login_limit_address")
    @classmethod
    def _rate(cls, value: str) -> str:
        parse(value)  # ValueError names the problem
        return value

    @field_validator("inbox_oidc_role_values")
    @classmethod
    def _role_values(cls, value: str) -> str:
        role_values(value)  # ValueError names a bad pair
        return value

    @field_validator("inbox_trusted_proxies", "inbox_webhook_allow_networks")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        parse_networks(value)  # ValueError names a bad one
        return value


def role_values(text: str) -> dict[str, str]:
    """"idp-value=role,..." as a mapping; ValueError for a pair without "=" or a role that does not exist."""
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        value, sep, role = (part.strip() for part in pair.rpartition("="))
        if not sep or not value or role not in ROLES:
            raise ValueError(f"{pair!r} must be idp-value=role with role one of {', '.join(ROLES)}")
        found[value] = role
    return found


@dataclass(frozen=True, slots=True)
class User:
    """A person who can log in."""

    id: str
    display_name: str
    role: str
    password_hash: str
    teams: tuple[str, ...] = ()  # users.yaml `team:` (one name or a list): a supervisor sees their teams' agents


def load_users(settings: InboxSettings) -> dict[str, User]:
    """Users from users.yaml (argon2 hashes only), or exit 2 naming the file and the problem."""
    path = settings.inbox_users_file or settings.config_dir / "users.yaml"
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        fail(f"cannot read users file {path}: {exc}")
    users = {}
    for i, u in enumerate(data.get("users", [])):
        if u.get("role", "agent") not in ROLES:
            fail(f"invalid users file {path}: users.{i}.role must be one of {', '.join(ROLES)}")
        if not str(u.get("password_hash", "")).startswith("$argon2"):
            fail(f"invalid users file {path}: users.{i}.password_hash must be an argon2 hash")
        team = u.get("team") or []
        if not isinstance(team, (str, list)) or not all(isinstance(t, str) and t for t in (
                [team] if isinstance(team, str) else team)):
            fail(f"invalid users file {path}: users.{i}.team must be a team name or a list of them")
        users[str(u["id"])] = User(str(u["id"]), str(u.get("display_name") or u["id"]), u.get("role", "agent"),
                                   str(u["password_hash"]), (team,) if isinstance(team, str) else tuple(team))
    return users
