"""Bodies and OpenAPI operations of single sign-on (OpenID Connect)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from omnihub.common.openapi import Operation


class SsoStatus(BaseModel):
    """Whether the login page offers "Sign in with SSO", and whether passwords are for admins only."""

    enabled: bool
    local_login_admins_only: bool


class SsoCallbackQuery(BaseModel):
    """What the identity provider sends the browser back with."""

    code: str = Field(default="", max_length=4096)
    state: str = Field(default="", max_length=512)
    error: str = Field(default="", max_length=200)
    error_description: str = Field(default="", max_length=1000)


OPERATIONS = [
    Operation("GET", "/api/sso", "Is single sign-on configured (the login page's button)", response=SsoStatus,
              tags=("auth",), public=True),
    Operation("GET", "/api/sso/login", "Start an OpenID Connect login: 302 to the provider (PKCE, state, nonce)",
              status=302, tags=("auth",), public=True),
    Operation("GET", "/api/sso/callback", "The provider's answer: 302 to / with a session, or to /?sso_error=<code>",
              query=SsoCallbackQuery, status=302, tags=("auth",), public=True),
]
