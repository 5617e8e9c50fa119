"""A local OpenID Connect provider double (aiohttp): discovery, JWKS, /authorize, /token, /logout, RS256 ID tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from omnihub.testkit.ports import free_port

# What a login can be made to go wrong with: the ID token's audience, expiry, role claim, signature, nonce or
# issuer is wrong, or the user declines at the provider.
FAULTS = ("", "audience", "expired", "no_role", "signature", "nonce", "issuer", "deny")


@dataclass(slots=True)
class Grant:
    """An authorization code waiting for its exchange."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    claims: dict[str, Any]
    fault: str


@dataclass
class FakeOidcProvider:
    """Serve an OpenID provider on 127.0.0.1 that logs in whoever `login()` named last, without a form."""

    client_id: str = "omnihub-inbox"
    client_secret: str = "sso-client-secret"
    port: int = 0
    role_claim: str = "omnihub_role"
    claims: dict[str, Any] = field(default_factory=dict)  # the next login's user claims
    fault: str = ""
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    # RP-Initiated Logout 1.0: advertised as end_session_endpoint when True; each /logout's query, and the subjects
    # whose provider session it ended.
    end_session: bool = True
    logout_requests: list[dict[str, str]] = field(default_factory=list)
    logged_out: list[str] = field(default_factory=list)
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    _codes: dict[str, Grant] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    @property
    def issuer(self) -> str:
        """The issuer (and the base of every endpoint)."""
        return f"http://127.0.0.1:{self.port}"

    def login(self, user: str, role: str | list[str] | None, fault: str = "", **claims: Any) -> None:
        """Who the next /authorize logs in (role None: no role claim) and what goes wrong with it."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        self.claims = {"sub": f"sub-{user}", "preferred_username": user, "name": user.title(), **claims}
        if role is not None:
            self.claims[self.role_claim] = role
        self.fault = fault

    async def start(self) -> FakeOidcProvider:
        """Start serving on a free port."""
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/logout", self._logout)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = self.port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "profile", "email"]} | (
                {"end_session_endpoint": f"{self.issuer}/logout"} if self.end_session else {}))

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: web.Request) -> web.Response:
        q = dict(request.query)
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id or not q.get("redirect_uri"):
            raise web.HTTPBadRequest(text="unknown client or no redirect_uri")
        if (q.get("response_type") != "code" or q.get("code_challenge_method") != "S256"
                or not q.get("code_challenge") or "openid" not in q.get("scope", "").split()):
            raise web.HTTPBadRequest(text="this provider wants response_type=code, scope openid and PKCE S256")
        back = {"state": q.get("state", "")}
        if self.fault == "deny":
            back |= {"error": "access_denied", "error_description": "The user declined"}
        else:
            code = secrets.token_urlsafe(24)
            self._codes[code] = Grant(self.client_id, q["redirect_uri"], q["code_challenge"], q.get("nonce", ""),
                                      dict(self.claims), self.fault)
            back["code"] = code
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(back)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_requests.append(form)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if auth := request.headers.get("Authorization", ""):
            client_id, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        if client_id != self.client_id or not hmac.compare_digest(secret, self.client_secret):
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self._codes.pop(form.get("code", ""), None)  # single use
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (form.get("grant_type") != "authorization_code" or grant is None
                or grant.redirect_uri != form.get("redirect_uri") or challenge != grant.challenge):
            return web.json_response({"error": "invalid_grant"}, status=400)
        access = secrets.token_urlsafe(24)
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": 300,
                                  "id_token": self.id_token(grant)})

    async def _logout(self, request: web.Request) -> web.Response:
        """The end_session_endpoint: the hint must be an ID token this provider signed for the client (expired is
        fine); the post-logout URI must be on the origin of a redirect URI the client used; 302 there."""
        q = dict(request.query)
        self.logout_requests.append(q)
        try:
            token = jwt.decode(q.get("id_token_hint", ""), self.key, algorithms=["RS256"])
        except Exception:  # joserfc's errors and a missing hint alike
            raise web.HTTPBadRequest(text="id_token_hint is not an ID token of this provider") from None
        if token.claims.get("aud") != self.client_id or q.get("client_id", self.client_id) != self.client_id:
            raise web.HTTPBadRequest(text="the ID token was not issued to this client")
        after = q.get("post_logout_redirect_uri", "")
        origins = {urlsplit(g["redirect_uri"])[:2] for g in self.authorize_requests if g.get("redirect_uri")}
        if not after or urlsplit(after)[:2] not in origins:
            raise web.HTTPBadRequest(text="post_logout_redirect_uri is not registered for this client")
        self.logged_out.append(str(token.claims.get("sub", "")))
        raise web.HTTPFound(after + (f"?{urlencode({'state': q['state']})}" if q.get("state") else ""))

    def id_token(self, grant: Grant) -> str:
        """The RS256-signed ID token for a grant, spoiled as its fault says."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": grant.client_id, "iat": now, "exp": now + 300,
                                  "nonce": grant.nonce, **grant.claims}
        key = self.key
        match grant.fault:
            case "audience":
                claims["aud"] = "some-other-app"
            case "expired":
                claims["iat"], claims["exp"] = now - 7200, now - 3600
            case "no_role":
                claims.pop(self.role_claim, None)
            case "nonce":
                claims["nonce"] = "not-the-nonce-you-sent"
            case "issuer":
                claims["iss"] = "http://127.0.0.1:1/someone-else"
            case "signature":  # same key id, another private key: a forged token
                key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid or "k1"})
        return jwt.encode({"alg": "RS256", "kid": self.key.kid or "k1"}, claims, key)
