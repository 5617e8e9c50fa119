"""Identity on every call: a per-deployment service token and a signed, short-lived assertion of the acting user."""

from __future__ import annotations

import contextlib
import contextvars
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from aiohttp import web
from aiohttp.typedefs import Middleware
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnihub.common.config import ENV_PREFIX, load_settings

ROLES = ("agent", "supervisor", "admin")
SUPERVISOR_ROLES = frozenset({"supervisor", "admin"})
ROUTER_AUDIENCE = "omnihub-router"
QUALITY_AUDIENCE = "omnihub-quality"
TOKEN_HEADER = "authorization"  # gRPC metadata keys are lowercase; HTTP headers are case-insensitive
ACTOR_HEADER = "x-omnihub-actor"
ASSERTION_SECONDS = 120
HEALTH_SERVICE = "/grpc.health.v1.Health/"  # probes carry no credentials
OPEN_HTTP_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MIN_TOKEN_CHARS = 24
MIN_KEY_CHARS = 32
_CACHE_LIMIT = 4096
_ALGORITHMS = ["HS256"]

ACTOR: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("omnihub_actor", default=None)


class IdentityError(Exception):
    """A missing, wrong, expired or badly signed credential."""


@dataclass(frozen=True, slots=True)
class Actor:
    """The verified person a call acts for."""

    sub: str
    role: str

    @property
    def supervisor(self) -> bool:
        """Supervisors and admins see and act on every agent's work."""
        return self.role in SUPERVISOR_ROLES

    def may_act_for(self, agent_id: str) -> bool:
        """An agent acts only as themselves; supervisors and admins for anyone."""
        return self.supervisor or agent_id == self.sub


HTTP_ACTOR: web.RequestKey[Actor] = web.RequestKey("omnihub_actor", Actor)


class IdentitySettings(BaseSettings):
    """OMNIHUB_SERVICE_TOKEN and OMNIHUB_ACTOR_KEY (both from a Secret in Kubernetes)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore", case_sensitive=False)

    service_token: SecretStr = Field(min_length=MIN_TOKEN_CHARS)
    actor_key: SecretStr = Field(min_length=MIN_KEY_CHARS)


class Credentials:
    """Checks the service token in constant time; signs and verifies actor assertions (HS256 JWT)."""

    def __init__(self, service_token: str, actor_key: str) -> None:
        if len(service_token) < MIN_TOKEN_CHARS or len(actor_key) < MIN_KEY_CHARS:
            raise ValueError(f"the service token needs {MIN_TOKEN_CHARS}+ and the actor key {MIN_KEY_CHARS}+ characters")
        self._token = service_token.encode()
        self._bearer = f"Bearer {service_token}"
        self._raw_key = actor_key
        self._key = OctKey.import_key(actor_key.encode())
        self._claims = jwt.JWTClaimsRegistry(sub={"essential": True}, role={"essential": True, "values": list(ROLES)},
                                             exp={"essential": True})
        self._signed: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._verified: dict[tuple[str, str], tuple[Actor, float]] = {}

    def __repr__(self) -> str:
        return "Credentials(<secret>)"

    @classmethod
    def from_env(cls) -> Credentials:
        """From OMNIHUB_SERVICE_TOKEN and OMNIHUB_ACTOR_KEY, or exit 2 naming the variable at fault."""
        s = load_settings(IdentitySettings)
        return cls(s.service_token.get_secret_value(), s.actor_key.get_secret_value())

    @classmethod
    def generate(cls) -> Credentials:
        """Fresh random credentials (tests and the local demo)."""
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(48))

    def env(self) -> dict[str, str]:
        """The environment variables that give a child process these credentials."""
        return {"OMNIHUB_SERVICE_TOKEN": self._token.decode(), "OMNIHUB_ACTOR_KEY": self._raw_key}

    @property
    def bearer(self) -> str:
        """The value of the authorization header or metadata."""
        return self._bearer

    def token_ok(self, presented: str | None) -> bool:
        """Whether `Bearer <token>` carries this deployment's service token (constant time)."""
        value = (presented or "").removeprefix("Bearer ").strip().encode()
        return hmac.compare_digest(value, self._token)

    def sign(self, actor: Actor, audience: str) -> str:
        """A short-lived assertion that `actor` acts, for one audience; reused for half its life."""
        now = time.time()
        key = (actor.sub, actor.role, audience)
        cached = self._signed.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        claims = {"sub": actor.sub, "role": actor.role, "aud": audience, "iat": int(now),
                  "exp": int(now) + ASSERTION_SECONDS}
        token = jwt.encode({"alg": "HS256"}, claims, self._key, algorithms=_ALGORITHMS)
        if len(self._signed) >= _CACHE_LIMIT:
            self._signed.clear()
        self._signed[key] = (token, now + ASSERTION_SECONDS / 2)
        return token

    def verify(self, assertion: str | None, audience: str) -> Actor:
        """The actor of a valid assertion for `audience`, or IdentityError saying why not."""
        if not assertion:
            raise IdentityError("no actor assertion")
        now = time.time()
        cached = self._verified.get((assertion, audience))
        if cached is not None:
            if cached[1] > now:
                return cached[0]
            raise IdentityError("the actor assertion has expired")
        try:
            token = jwt.decode(assertion, self._key, algorithms=_ALGORITHMS)
            self._claims.validate(token.claims)
        except jose_errors.ExpiredTokenError:
            raise IdentityError("the actor assertion has expired") from None
        except (jose_errors.JoseError, ValueError) as exc:
            raise IdentityError(f"invalid actor assertion ({type(exc).__name__})") from None
        aud = token.claims.get("aud")
        if aud != audience and not (isinstance(aud, list) and audience in aud):
            raise IdentityError("the actor assertion is for another service")
        actor = Actor(str(token.claims["sub"]), str(token.claims["role"]))
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[(assertion, audience)] = (actor, float(token.claims["exp"]))
        return actor

    def headers(self, audience: str, actor: Actor | None = None) -> dict[str, str]:
        """HTTP headers for a call to another service: the service token and the actor (default: the current one)."""
        actor = actor or ACTOR.get()
        out = {"Authorization": self._bearer}
        if actor is not None:
            out["X-Omnihub-Actor"] = self.sign(actor, audience)
        return out


@contextlib.contextmanager
def acting_as(actor: Actor | None) -> Iterator[None]:
    """Calls made inside carry `actor` (the inbox sets it per HTTP request)."""
    token = ACTOR.set(actor)
    try:
        yield
    finally:
        ACTOR.reset(token)


# ---- gRPC ------------------------------------------------------------------------------------------
if TYPE_CHECKING:  # generic only in the type stubs
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor
    _UnaryUnary = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStream = grpc.aio.UnaryStreamClientInterceptor


def _metadata_value(metadata: Sequence[tuple[str, str | bytes]] | None, key: str) -> str:
    for k, v in metadata or ():
        if k == key:
            return v.decode() if isinstance(v, bytes) else v
    return ""


class ServiceTokenInterceptor(_ServerInterceptor):
    """Refuses every call without the service token (UNAUTHENTICATED), except the standard health service."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        if handler is None or method.startswith(HEALTH_SERVICE):
            return handler
        presented = _metadata_value(handler_call_details.invocation_metadata, TOKEN_HEADER)  # type: ignore[attr-defined]
        if self.credentials.token_ok(presented):
            return handler
        return _refusal(handler)


_REFUSED = "missing or wrong service token"


def _refusal(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSED)

    async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSED)
        yield None  # pragma: no cover - abort raises

    h: Any = handler
    args = {"request_deserializer": h.request_deserializer, "response_serializer": h.response_serializer}
    if h.request_streaming and h.response_streaming:
        return grpc.stream_stream_rpc_method_handler(stream, **args)
    if h.request_streaming:
        return grpc.stream_unary_rpc_method_handler(unary, **args)
    if h.response_streaming:
        return grpc.unary_stream_rpc_method_handler(stream, **args)
    return grpc.unary_unary_rpc_method_handler(unary, **args)


class GrpcIdentity:
    """What a servicer needs: the server interceptor and the verified actor of each call."""

    def __init__(self, credentials: Credentials, audience: str) -> None:
        self.credentials = credentials
        self.audience = audience
        self.interceptor = ServiceTokenInterceptor(credentials)

    async def actor(self, context: Any) -> Actor:
        """The verified actor of this call; aborts UNAUTHENTICATED when the assertion is missing or bad."""
        assertion = _metadata_value(context.invocation_metadata(), ACTOR_HEADER)
        try:
            return self.credentials.verify(assertion, self.audience)
        except IdentityError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise  # unreachable: abort raises


class _Attach:
    """Adds the service token and the current actor's assertion to an outgoing call's metadata."""

    def __init__(self, credentials: Credentials, audience: str, default_actor: Actor | None) -> None:
        self.credentials = credentials
        self.audience = audience
        self.default_actor = default_actor

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(TOKEN_HEADER, self.credentials.bearer)
        actor = ACTOR.get() or self.default_actor
        if actor is not None:
            metadata.add(ACTOR_HEADER, self.credentials.sign(actor, self.audience))
        return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata, details.credentials,
                                          details.wait_for_ready)


# grpc.aio files each interceptor under one call type only, so unary and streaming calls need one each.
class _UnaryCredentials(_Attach, _UnaryUnary):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails,
                                    request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


class _StreamCredentials(_Attach, _UnaryStream):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails,
                                     request: Any) -> Any:
        return await continuation(self._details(client_call_details), request)


def channel(target: str, credentials: Credentials, audience: str, default_actor: Actor | None = None,
            options: Sequence[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """A channel whose calls carry the service token and the actor (`acting_as`, else `default_actor`)."""
    args = (credentials, audience, default_actor)
    return grpc.aio.insecure_channel(target, options=options,
                                     interceptors=[_UnaryCredentials(*args), _StreamCredentials(*args)])  # type: ignore[list-item]


# ---- HTTP ------------------------------------------------------------------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_middleware(credentials: Credentials, audience: str,
                    open_paths: frozenset[str] = OPEN_HTTP_PATHS) -> Middleware:
    """aiohttp middleware: every route but health and metrics needs the service token and an actor (401)."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in open_paths:
            return await handler(request)
        if not credentials.token_ok(request.headers.get("Authorization")):
            raise web.HTTPUnauthorized(text=f"{_REFUSED}: send Authorization: Bearer <service token>")
        try:
            actor = credentials.verify(request.headers.get(ACTOR_HEADER), audience)
        except IdentityError as exc:
            raise web.HTTPUnauthorized(text=f"{exc}: send {ACTOR_HEADER} with a signed assertion") from None
        request[HTTP_ACTOR] = actor
        return await handler(request)

    return authenticate


def request_actor(request: web.Request) -> Actor:
    """The verified actor of an HTTP request that passed `http_middleware`."""
    return request[HTTP_ACTOR]


def require_supervisor(actor: Actor) -> None:
    """403 unless the actor is a supervisor or admin."""
    if not actor.supervisor:
        raise web.HTTPForbidden(text="supervisors and admins only")
