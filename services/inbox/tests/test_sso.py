"""OpenID Connect login against the local provider double: each role signs in through real redirects (PKCE, state,
nonce), and a wrong audience, expired token, missing role, forged signature, bad state or nonce are refused with a
message code for the login page, audited, and never give a session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import grpc
import pytest
import pytest_asyncio
from aiohttp import web
from argon2 import PasswordHasher
from yarl import URL

from omnihub.api.routing.v1 import routing_pb2_grpc
from omnihub.inbox import teams
from omnihub.inbox.api import Inbox
from omnihub.inbox.app import build_app
from omnihub.inbox.auth import COOKIE, Session, SessionStore
from omnihub.inbox.config import User, role_values
from omnihub.inbox.directory import Directory, SsoMembers
from omnihub.inbox.sso import CALLBACK, OidcConfig, Refused, SingleSignOn, map_user
from omnihub.inbox.store import InboxStore
from omnihub.testkit.fakes.oidc_provider import FakeOidcProvider
from omnihub.testkit.ports import free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")
_hash = PasswordHasher().hash
USERS = {u.id: u for u in (User("alice", "Alice", "agent", _hash("alice-pw")),
                           User("ada", "Ada", "admin", _hash("ada-pw")))}


@dataclass
class Site:
    base: str
    provider: FakeOidcProvider
    inbox: Inbox


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(mongo_url: str) -> AsyncIterator[Site]:
    """One inbox with SSO pointed at the provider double (the router is never asked)."""
    provider = await FakeOidcProvider().start()
    store = InboxStore(mongo_url, f"t_{uuid.uuid4().hex[:12]}")
    await store.setup()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{free_port()}")
    sessions = SessionStore(store.db["sessions"], b"k" * 32, USERS)
    await sessions.setup()
    inbox = Inbox(USERS, sessions, store, None, routing_pb2_grpc.RouterStub(channel),  # type: ignore[arg-type]
                  "http://127.0.0.1:1")
    await inbox.audit.setup()
    port = free_port()
    inbox.sso = SingleSignOn(OidcConfig(provider.issuer, provider.client_id, provider.client_secret,
                                        f"http://127.0.0.1:{port}{CALLBACK}", team_claim="groups"),
                             store.db["sso_pending"])
    await inbox.sso.setup()
    runner = web.AppRunner(build_app(inbox))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Site(f"http://127.0.0.1:{port}", provider, inbox)
    await runner.cleanup()
    await channel.close(None)
    await provider.stop()
    await store.close()


async def walk(site: Site, http: aiohttp.ClientSession) -> str:
    """Inbox -> provider -> callback by hand (each redirect checked); the callback's Location."""
    start = await http.get(f"{site.base}/api/sso/login", allow_redirects=False)
    assert start.status == 302, await start.text()
    to_provider = start.headers["Location"]
    assert to_provider.startswith(f"{site.provider.issuer}/authorize?")
    at_provider = await http.get(to_provider, allow_redirects=False)
    assert at_provider.status == 302, await at_provider.text()
    back = at_provider.headers["Location"]
    assert back.startswith(f"{site.base}{CALLBACK}?")
    done = await http.get(back, allow_redirects=False)
    assert done.status == 302, await done.text()
    return done.headers["Location"]


def session_cookie(http: aiohttp.ClientSession) -> str | None:
    return next((c.value for c in http.cookie_jar if c.key == COOKIE), None)


async def trail(site: Site, action: str) -> list[dict[str, Any]]:
    return await site.inbox.audit._records.find({"action": action}).to_list(None)


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
async def test_each_role_signs_in_through_the_redirects(site: Site, role: str) -> None:
    user = f"{role}-sso"
    site.provider.login(user, role, groups=["north"] if role == "supervisor" else [])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await walk(site, http) == "/"
        assert session_cookie(http)
        me = await (await http.get(f"{site.base}/api/me")).json()
        assert (me["id"], me["role"], me["name"]) == (user, role, user.title())
        # Like a password session: state changes need the CSRF token, logout ends it.
        assert (await http.post(f"{site.base}/api/logout")).status == 403
        if role != "agent":  # an agent's logout also logs out of the router, which this test has not
            assert (await http.post(f"{site.base}/api/logout", headers={"X-CSRF-Token": me["csrf"]})).status == 200
            assert (await http.get(f"{site.base}/api/me")).status == 401
    asked = site.provider.authorize_requests[-1]
    assert asked["code_challenge_method"] == "S256" and asked["nonce"] and asked["state"]
    assert site.provider.token_requests[-1]["code_verifier"]  # PKCE: the provider checked it against the challenge
    logins = [r for r in await trail(site, "auth.login") if r["actor"] == user]
    assert logins[-1]["role"] == role and logins[-1]["after"]["method"] == "sso"
    if role == "supervisor":
        assert logins[-1]["after"]["teams"] == ["north"]


@pytest.mark.parametrize(("fault", "code", "reason"), [
    ("audience", "audience", "'aud'"),
    ("expired", "expired", "expired"),
    ("no_role", "role", "omnihub_role"),
    ("signature", "signature", "signature"),
    ("nonce", "nonce", "'nonce'"),
    ("issuer", "issuer", "'iss'"),
    ("deny", "denied", "access_denied"),
])
async def test_bad_tokens_are_refused_with_a_reason(site: Site, fault: str, code: str, reason: str) -> None:
    user = f"mallory-{fault}"
    site.provider.login(user, "admin", fault=fault)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await walk(site, http) == f"/?sso_error={code}"
        assert session_cookie(http) is None
        assert (await http.get(f"{site.base}/api/me")).status == 401
    failed = [r for r in await trail(site, "auth.login_failed") if reason in r["after"]["reason"]]
    assert failed and failed[-1]["outcome"] == "refused" and failed[-1]["after"]["method"] == "sso"
    # A forged token's claims are never believed, not even to name the actor.
    assert failed[-1]["actor"] == ("sso" if fault in ("deny", "signature") else user)


async def test_state_must_match_the_browser_and_is_single_use(site: Site) -> None:
    site.provider.login("eve", "admin")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        start = await http.get(f"{site.base}/api/sso/login", allow_redirects=False)
        back = (await http.get(start.headers["Location"], allow_redirects=False)).headers["Location"]
        query = parse_qs(urlsplit(back).query)
        forged = f"{site.base}{CALLBACK}?code={query['code'][0]}&state=forged-state"
        refused = await http.get(forged, allow_redirects=False)
        assert refused.headers["Location"] == "/?sso_error=state"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:  # a stranger's browser
        stolen = await other.get(back, allow_redirects=False)
        assert stolen.headers["Location"] == "/?sso_error=state" and session_cookie(other) is None
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        start = await http.get(f"{site.base}/api/sso/login", allow_redirects=False)
        back = (await http.get(start.headers["Location"], allow_redirects=False)).headers["Location"]
        assert (await http.get(back, allow_redirects=False)).headers["Location"] == "/"
        http.cookie_jar.update_cookies({"omnihub_sso": parse_qs(urlsplit(back).query)["state"][0]},
                                       URL(f"{site.base}/api/sso/"))
        replay = await http.get(back, allow_redirects=False)
        assert replay.headers["Location"] == "/?sso_error=state"  # used once: a replayed callback is refused


async def test_status_and_local_login_for_admins_only(site: Site) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await (await http.get(f"{site.base}/api/sso")).json() == {"enabled": True,
                                                                        "local_login_admins_only": False}
        site.inbox.admins_only = True
        try:
            refused = await http.post(f"{site.base}/api/login", json={"username": "alice", "password": "alice-pw"})
            assert refused.status == 403 and "SSO" in await refused.text()
            wrong = await http.post(f"{site.base}/api/login", json={"username": "alice", "password": "guess"})
            assert wrong.status == 401  # a wrong password says nothing about the account's role
            ada = await http.post(f"{site.base}/api/login", json={"username": "ada", "password": "ada-pw"})
            assert ada.status == 200  # break-glass admin
        finally:
            site.inbox.admins_only = False
        failed = [r for r in await trail(site, "auth.login_failed") if r["actor"] == "alice"]
        assert any("administrators only" in r["after"]["reason"] for r in failed)
        sso, site.inbox.sso = site.inbox.sso, None
        try:
            assert (await (await http.get(f"{site.base}/api/sso")).json())["enabled"] is False
            assert (await http.get(f"{site.base}/api/sso/login", allow_redirects=False)).status == 404
        finally:
            site.inbox.sso = sso


async def test_unreachable_provider_is_a_message_not_a_500(site: Site) -> None:
    assert site.inbox.sso is not None
    good = site.inbox.sso
    site.inbox.sso = SingleSignOn(replace(good.config, issuer=f"http://127.0.0.1:{free_port()}"), good.pending)
    try:
        async with aiohttp.ClientSession() as http:
            resp = await http.get(f"{site.base}/api/sso/login", allow_redirects=False)
            assert resp.status == 302 and resp.headers["Location"] == "/?sso_error=provider"
    finally:
        site.inbox.sso = good


async def test_claim_mapping() -> None:  # async only because the module marks every test
    config = OidcConfig("https://idp", "c", "s", "https://inbox/cb", role_claim="realm_access.roles",
                        role_values=tuple(role_values("cc-agents=agent, cc-leads=supervisor").items()),
                        agent_claim="email", name_claim="given_name", team_claim="team")
    user = map_user(config, {"email": "li@example.com", "given_name": "李", "team": "north",
                             "realm_access": {"roles": ["offline_access", "cc-agents", "cc-leads"]}})
    assert (user.id, user.display_name, user.role, user.teams) == ("li@example.com", "李", "supervisor", ("north",))
    with pytest.raises(Refused) as missing:
        map_user(config, {"email": "li@example.com", "realm_access": {"roles": ["admin"]}})  # not a mapped value
    assert missing.value.code == "role"
    with pytest.raises(Refused) as agent:
        map_user(config, {"email": "not an id", "realm_access": {"roles": ["cc-agents"]}})
    assert agent.value.code == "agent"
    with pytest.raises(ValueError, match="role one of"):
        role_values("cc-agents=boss")


async def test_an_sso_agents_team_claim_puts_them_in_their_supervisors_team(site: Site) -> None:
    """The team claim of an agent's SSO sign-in is kept (MongoDB) after the session ends: a supervisor of that team
    sees the agent, another team's does not; a later sign-in with another claim moves the agent."""
    north = Session("sup-n", "supervisor", "N", "", 0.0, ("north",), True)
    south = Session("sup-s", "supervisor", "S", "", 0.0, ("south",), True)
    site.provider.login("carol-sso", "agent", groups=["north"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await walk(site, http) == "/"
    await site.inbox.sessions.sessions.delete_many({"user": "carol-sso"})  # her session is over (expired)
    assert site.inbox.users.knows("carol-sso") and "carol-sso" not in site.inbox.users  # no password login
    assert "carol-sso" in (teams.team_agents(site.inbox.users, north) or ())
    assert "carol-sso" not in (teams.team_agents(site.inbox.users, south) or ())
    replica = Directory(USERS)  # another replica, or a restart: read from MongoDB
    await SsoMembers(site.inbox.store.db["sso_members"], replica).load()
    assert "carol-sso" in (teams.team_agents(replica, north) or ())
    site.provider.login("carol-sso", "agent", groups=["south"])  # moved to the south team at the provider
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await walk(site, http) == "/"
    assert "carol-sso" not in (teams.team_agents(site.inbox.users, north) or ())
    assert "carol-sso" in (teams.team_agents(site.inbox.users, south) or ())
    stored = await site.inbox.store.db["sso_members"].find_one({"_id": "carol-sso"})
    assert stored is not None and stored["teams"] == ["south"] and stored["role"] == "agent"


async def test_logout_of_an_sso_session_continues_at_the_provider(site: Site) -> None:
    """RP-Initiated Logout 1.0: the inbox ends its session and sends the browser to the provider's
    end_session_endpoint with id_token_hint and post_logout_redirect_uri; the provider ends its own and comes back."""
    site.provider.login("sup-out", "supervisor", groups=["north"])
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert await walk(site, http) == "/"
        me = await (await http.get(f"{site.base}/api/me")).json()
        resp = await http.post(f"{site.base}/api/logout", headers={"X-CSRF-Token": me["csrf"]})
        assert resp.status == 200
        redirect = (await resp.json())["redirect"]
        assert (await http.get(f"{site.base}/api/me")).status == 401  # ours is over before the provider's
        assert redirect.startswith(f"{site.provider.issuer}/logout?")
        query = parse_qs(urlsplit(redirect).query)
        assert query["post_logout_redirect_uri"] == [f"{site.base}/"] and query["client_id"] == ["omnihub-inbox"]
        assert len(query["id_token_hint"][0].split(".")) == 3  # the ID token of this sign-in
        at_provider = await http.get(redirect, allow_redirects=False)
        assert at_provider.status == 302 and at_provider.headers["Location"] == f"{site.base}/"
    assert site.provider.logged_out[-1] == "sub-sup-out"
    # A forged hint is refused by the provider (the double checks what a real one does).
    bad = redirect.replace(query["id_token_hint"][0], "x.y.z")
    async with aiohttp.ClientSession() as http:
        assert (await http.get(bad, allow_redirects=False)).status == 400
    # A password session, or a provider without end_session_endpoint: the inbox's logout only.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await http.post(f"{site.base}/api/login", json={"username": "ada", "password": "ada-pw"})).status == 200
        me = await (await http.get(f"{site.base}/api/me")).json()
        body = await (await http.post(f"{site.base}/api/logout", headers={"X-CSRF-Token": me["csrf"]})).json()
        assert body == {"ok": True}
    assert site.inbox.sso is not None
    site.provider.end_session = False
    site.inbox.sso.provider._metadata = None  # the inbox reads the discovery document again (normally hourly)
    try:
        site.provider.login("sup-out", "supervisor")
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            assert await walk(site, http) == "/"
            me = await (await http.get(f"{site.base}/api/me")).json()
            body = await (await http.post(f"{site.base}/api/logout", headers={"X-CSRF-Token": me["csrf"]})).json()
            assert body == {"ok": True} and (await http.get(f"{site.base}/api/me")).status == 401
    finally:
        site.provider.end_session = True
        site.inbox.sso.provider._metadata = None
