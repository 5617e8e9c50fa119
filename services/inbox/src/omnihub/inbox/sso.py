"""OpenID Connect single sign-on: the code flow with PKCE (authlib), ID token checks (JWKS) and claim mapping."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx2
from aiohttp import web
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
)
from joserfc.jwk import KeySet
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from omnihub.common.logging import get_logger
from omnihub.inbox import audit
from omnihub.inbox.auth import COOKIE
from omnihub.inbox.config import ROLES, InboxSettings, User, role_values
from omnihub.inbox.sso_models import SsoStatus

if TYPE_CHECKING:
    from omnihub.inbox.api import Inbox

CALLBACK = "/api/sso/callback"
log = get_logger("omnihub.inbox.sso")
PUBLIC = frozenset({"/api/sso", "/api/sso/login", CALLBACK})
BROWSER_COOKIE = "omnihub_sso"  # binds the callback to the browser that started the login
PENDING_SECONDS = 600  # a login must come back from the provider within ten minutes
AGENT_ID = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")
RANK = {role: i for i, role in enumerate(ROLES)}  # several matching values: the highest role wins


@dataclass(frozen=True, slots=True)
class OidcConfig:
    """The provider and how its claims map to an omnihub user."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_url: str
    discovery_url: str = ""
    scopes: str = "openid profile email"
    role_claim: str = "omnihub_role"
    role_values: tuple[tuple[str, str], ...] = ()  # (idp value, role); empty: the claim holds our role names
    agent_claim: str = "preferred_username"
    name_claim: str = "name"
    team_claim: str = ""
    leeway: int = 60  # seconds of clock skew allowed on exp/iat
    post_logout_url: str = ""  # where the provider sends the browser after logout; empty: the redirect URL's origin

    @property
    def after_logout(self) -> str:
        """The post_logout_redirect_uri (register it at the provider)."""
        if self.post_logout_url:
            return self.post_logout_url
        parts = urlsplit(self.redirect_url)
        return f"{parts.scheme}://{parts.netloc}/"

    @property
    def discovery(self) -> str:
        """Where the provider's metadata is read."""
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @classmethod
    def from_settings(cls, settings: InboxSettings) -> OidcConfig | None:
        """The configuration, or None when SSO is not set up (no issuer/discovery URL or no client id)."""
        if not (settings.inbox_oidc_issuer or settings.inbox_oidc_discovery_url) or not settings.inbox_oidc_client_id:
            return None
        redirect = settings.inbox_oidc_redirect_url or settings.inbox_public_url.rstrip("/") + CALLBACK
        return cls(settings.inbox_oidc_issuer, settings.inbox_oidc_client_id,
                   settings.inbox_oidc_client_secret.get_secret_value(), redirect,
                   settings.inbox_oidc_discovery_url, settings.inbox_oidc_scopes, settings.inbox_oidc_role_claim,
                   tuple(role_values(settings.inbox_oidc_role_values).items()), settings.inbox_oidc_agent_claim,
                   settings.inbox_oidc_name_claim, settings.inbox_oidc_team_claim,
                   post_logout_url=settings.inbox_oidc_post_logout_url)


class Refused(Exception):
    """A login the provider or its token did not vouch for; `code` names the message the login page shows."""

    def __init__(self, code: str, reason: str, who: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.who = who


def claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles`), or None."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def map_user(config: OidcConfig, claims: dict[str, Any]) -> User:
    """The omnihub user an ID token's claims describe, or Refused naming the missing or unusable claim."""
    agent = claim(claims, config.agent_claim)
    who = agent if isinstance(agent, str) else str(claims.get("sub", ""))
    if not isinstance(agent, str) or not AGENT_ID.match(agent):
        raise Refused("agent", f"claim {config.agent_claim!r} is missing or not a usable id", who)
    raw = claim(claims, config.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw if isinstance(v, str)] if isinstance(raw, list) else []
    mapping = dict(config.role_values) if config.role_values else {r: r for r in ROLES}
    roles = [mapping[v] for v in values if v in mapping]
    if not roles:
        raise Refused("role", f"claim {config.role_claim!r} is missing or names no omnihub role", who)
    role = max(roles, key=RANK.__getitem__)
    name = claim(claims, config.name_claim)
    teams: tuple[str, ...] = ()
    if config.team_claim:
        team = claim(claims, config.team_claim)
        teams = (team,) if isinstance(team, str) and team else tuple(
            t for t in team if isinstance(t, str) and t) if isinstance(team, list) else ()
    return User(agent, name if isinstance(name, str) and name else agent, role, "", teams)


class Provider:
    """The provider's discovery document and signing keys, cached (keys fetched again for an unknown key id)."""

    def __init__(self, config: OidcConfig, ttl: float = 3600.0) -> None:
        self.config = config
        self.ttl = ttl
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched = 0.0

    async def metadata(self) -> dict[str, Any]:
        """The discovery document (issuer, endpoints, jwks_uri)."""
        if self._metadata is None or time.monotonic() - self._fetched > self.ttl:
            self._metadata = await self._get(self.config.discovery)
            self._keys, self._fetched = None, time.monotonic()
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(self._metadata.get(name), str):
                    raise Refused("provider", f"the discovery document has no {name}")
        return self._metadata

    async def keys(self, force: bool = False) -> KeySet:
        """The provider's JWKS."""
        if self._keys is None or force:
            self._keys = KeySet.import_key_set(await self._get((await self.metadata())["jwks_uri"]))  # type: ignore[arg-type]
        return self._keys

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with httpx2.AsyncClient(timeout=10) as http:
                resp = await http.get(url)
                resp.raise_for_status()
                data = resp.json()
        except (httpx2.HTTPError, ValueError) as exc:
            raise Refused("provider", f"cannot read {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise Refused("provider", f"{url} is not a JSON object")
        return data


class SingleSignOn:
    """Starts logins at the provider and turns its answers into omnihub users (or Refused)."""

    def __init__(self, config: OidcConfig, pending: AsyncCollection[dict[str, Any]]) -> None:
        self.config = config
        self.pending = pending
        self.provider = Provider(config)

    async def setup(self) -> None:
        """Unfinished logins expire on their own (TTL index)."""
        await self.pending.create_index([("expires", ASCENDING)], expireAfterSeconds=0)

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(self.config.client_id, self.config.client_secret, scope=self.config.scopes,
                                 redirect_uri=self.config.redirect_url, code_challenge_method="S256", timeout=10)

    async def begin(self) -> tuple[str, str]:
        """The provider's authorization URL and the state the browser must bring back."""
        metadata = await self.provider.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(48)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=PENDING_SECONDS)
        await self.pending.insert_one({"_id": _digest(state), "nonce": nonce, "verifier": verifier,
                                       "expires": expires})
        async with self._client() as client:
            url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state,
                                                     code_verifier=verifier, nonce=nonce)
        return str(url), state

    async def finish(self, state: str, browser_state: str, code: str) -> tuple[User, str]:
        """Check the state, exchange the code (with the PKCE verifier), verify the ID token and map its claims;
        the user and the ID token (kept with the session for logout at the provider)."""
        if not state or not browser_state or not hmac.compare_digest(state.encode(), browser_state.encode()):
            raise Refused("state", "the state does not match the one this browser started with")
        pending = await self.pending.find_one_and_delete({"_id": _digest(state)})  # single use
        if pending is None or pending["expires"].replace(tzinfo=dt.UTC) < dt.datetime.now(dt.UTC):
            raise Refused("state", "unknown, used or expired login state")
        metadata = await self.provider.metadata()
        try:
            async with self._client() as client:
                token = await client.fetch_token(metadata["token_endpoint"], code=code,
                                                 code_verifier=pending["verifier"])
        except Exception as exc:  # authlib raises OAuthError, httpx2 its own; all mean "no token"
            raise Refused("token", f"the provider refused the code: {exc}") from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise Refused("token", "the provider's answer has no ID token")
        claims = await self._verify(metadata, id_token, pending["nonce"], str(token.get("access_token", "")))
        return map_user(self.config, claims), id_token

    async def logout_url(self, id_token: str) -> str | None:
        """OpenID Connect RP-Initiated Logout 1.0: the provider's end_session_endpoint with id_token_hint,
        post_logout_redirect_uri and client_id, or None when the provider has none (or cannot be reached: the
        inbox's own logout is done either way)."""
        try:
            endpoint = (await self.provider.metadata()).get("end_session_endpoint")
        except Refused as refused:
            log.warning("sso.logout_metadata", reason=refused.reason)
            return None
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            return None
        query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": self.config.after_logout,
                           "client_id": self.config.client_id})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def _verify(self, metadata: dict[str, Any], id_token: str, nonce: str, access_token: str) -> dict[str, Any]:
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in algorithms if a != "none"]
        try:
            try:
                decoded = jwt.decode(id_token, await self.provider.keys(), algorithms=algorithms)
            except InvalidKeyIdError:  # the provider rotated its keys since we fetched them
                decoded = jwt.decode(id_token, await self.provider.keys(force=True), algorithms=algorithms)
        except (BadSignatureError, InvalidKeyIdError) as exc:
            raise Refused("signature", f"the ID token's signature does not verify: {exc}") from exc
        except (JoseError, ValueError) as exc:
            raise Refused("token", f"the ID token cannot be read: {exc}") from exc
        issuer = self.config.issuer or metadata.get("issuer", "")
        options = {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True,
                                                                        "value": self.config.client_id}}
        checked = CodeIDToken(decoded.claims, decoded.header, options,
                              {"nonce": nonce, "client_id": self.config.client_id, "access_token": access_token})
        who = str(decoded.claims.get(self.config.agent_claim) or decoded.claims.get("sub", ""))
        try:
            checked.validate(leeway=self.config.leeway)
        except ExpiredTokenError as exc:
            raise Refused("expired", "the ID token has expired", who) from exc
        except ClaimError as exc:
            code = {"aud": "audience", "azp": "audience", "iss": "issuer", "nonce": "nonce"}.get(exc.claim, "token")
            raise Refused(code, f"the ID token's {exc.claim!r} claim is wrong or missing", who) from exc
        return dict(decoded.claims)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def register(app: web.Application, inbox: Inbox) -> None:
    """GET /api/sso (is SSO on), /api/sso/login (to the provider) and /api/sso/callback (back, into a session)."""

    async def status(request: web.Request) -> web.Response:
        return web.json_response(SsoStatus(enabled=inbox.sso is not None,
                                           local_login_admins_only=inbox.admins_only).model_dump())

    async def login(request: web.Request) -> web.Response:
        if inbox.sso is None:
            raise web.HTTPNotFound(text="single sign-on is not configured")
        try:
            url, state = await inbox.sso.begin()
        except Refused as refused:
            await audit.record(request, "auth.login_failed", "sso", actor="sso", outcome="refused",
                               after={"method": "sso", "reason": refused.reason})
            raise _back(refused.code) from None
        resp = web.HTTPFound(url)
        resp.set_cookie(BROWSER_COOKIE, state, httponly=True, samesite="Lax", secure=inbox.secure,
                        max_age=PENDING_SECONDS, path="/api/sso")
        raise resp

    async def callback(request: web.Request) -> web.Response:
        if inbox.sso is None:
            raise web.HTTPNotFound(text="single sign-on is not configured")
        query = request.query
        try:
            if error := query.get("error"):
                raise Refused("denied", f"the provider answered {error[:100]}: {query.get('error_description', '')[:300]}")
            user, id_token = await inbox.sso.finish(query.get("state", ""), request.cookies.get(BROWSER_COOKIE, ""),
                                                    query.get("code", ""))
        except Refused as refused:
            await audit.record(request, "auth.login_failed", refused.who or "sso", actor=refused.who or "sso",
                               outcome="refused", after={"method": "sso", "reason": refused.reason})
            raise _back(refused.code) from None
        await audit.record(request, "auth.login", user.id, actor=user.id, role=user.role,
                           after={"method": "sso", "teams": list(user.teams)})
        if inbox.sso_members is not None:
            await inbox.sso_members.record(user)  # the team claim outlives the session: supervisors see the agent
        cookie, _ = await inbox.sessions.issue(user, sso=True, id_token=id_token)
        resp = web.HTTPFound("/")
        resp.set_cookie(COOKIE, cookie, httponly=True, samesite="Strict", secure=inbox.secure,
                        max_age=inbox.sessions.lifetime, path="/")
        resp.del_cookie(BROWSER_COOKIE, path="/api/sso")
        raise resp

    def _back(code: str) -> web.HTTPFound:
        """To the login page, which shows the message for `code` (never a 500 page)."""
        resp = web.HTTPFound("/?" + urlencode({"sso_error": code}))
        resp.del_cookie(BROWSER_COOKIE, path="/api/sso")
        return resp

    app.router.add_get("/api/sso", status)
    app.router.add_get("/api/sso/login", login)
    app.router.add_get(CALLBACK, callback)
