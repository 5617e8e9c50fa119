"""WeChat and WhatsApp through the real hub: customer -> channel service -> router -> agent's reply -> provider double."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from omnihub.testkit.fakes.twilio_api import TEMPLATE_SID, FakeTwilio
from omnihub.testkit.fakes.wechat_api import FakeWeChatApi, message_xml
from omnihub.testkit.hub import wechat_env
from omnihub.testkit.waiting import eventually
from tests.e2e.hub import PASSWORDS, ROUTING, Hub, new_hub

pytestmark = pytest.mark.slow
OPENID = "oWx_e2e_customer"
WA_CUSTOMER = "whatsapp:+8613900139000"
WA_OURS = "whatsapp:+15550001111"


@dataclass
class SocialHub:
    hub: Hub
    twilio: FakeTwilio
    wechat: FakeWeChatApi


@asynccontextmanager
async def social_hub(tmp_path: Path, nats_url: str, mongo_url: str,
                     configure: Callable[[Hub], None]) -> AsyncIterator[SocialHub]:
    """Router, sms, chat (a WeChat Official Account in safe mode) and inbox against a Twilio and a WeChat double;
    `configure` changes the hub's configuration before it starts."""
    twilio, wechat = FakeTwilio(), FakeWeChatApi()
    await twilio.start()
    await wechat.start()
    h = new_hub(tmp_path, nats_url, mongo_url, twilio)
    h.extra["chat"] = wechat_env(wechat, tmp_path / "chat-var")
    configure(h)
    try:
        h.start("router", "sms", "chat", "inbox")
        yield SocialHub(h, twilio, wechat)
    finally:
        h.stop()
        await twilio.stop()
        await wechat.stop()


def _auto_accept(h: Hub) -> None:
    routing = json.loads(json.dumps(ROUTING))
    routing["agents"] = [{**routing["agents"][0], "auto_accept": True}]  # alice takes what she is offered
    (h.config_dir / "routing.yaml").write_text(yaml.safe_dump(routing))


@pytest.fixture
async def social(tmp_path: Path, nats_url: str, mongo_url: str) -> AsyncIterator[SocialHub]:
    async with social_hub(tmp_path, nats_url, mongo_url, _auto_accept) as hub:
        yield hub


async def agent(hub: Hub, http: aiohttp.ClientSession) -> dict[str, str]:
    """Log alice in and make her available; returns the CSRF header."""
    async with http.post(hub.url("inbox") + "/api/login", json={"username": "alice", "password": PASSWORDS["alice"]}) as r:
        assert r.status == 200, await r.text()
        csrf = {"X-CSRF-Token": (await r.json())["csrf"]}
    async with http.post(hub.url("inbox") + "/api/state", json={"state": "AVAILABLE"}, headers=csrf) as r:
        assert r.status == 200, await r.text()
    return csrf


async def held(hub: Hub, http: aiohttp.ClientSession, channel: str) -> dict[str, Any]:
    """alice's conversation on `channel`, once the router has assigned it to her."""
    async def find() -> dict[str, Any]:
        async with http.get(hub.url("inbox") + "/api/conversations") as r:
            return next((c for c in await r.json() if c.get("channel") == channel), {})
    found: dict[str, Any] = await eventually(find, timeout=30, message=f"alice holds a {channel} conversation")
    return found


async def test_wechat_and_whatsapp_conversations_go_round_the_hub(social: SocialHub) -> None:
    """One hub for both (starting four services is most of the time here)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await agent(social.hub, http)
        await wechat_round_trip(social, http, csrf)
        await whatsapp_round_trip(social, http, csrf)


async def wechat_round_trip(social: SocialHub, http: aiohttp.ClientSession, csrf: dict[str, str]) -> None:
    h, wechat = social.hub, social.wechat
    # The customer writes to the Official Account; WeChat posts it encrypted (safe mode).
    status = await wechat.push(h.url("chat") + "/wechat/callback",
                               message_xml("text", OPENID, msg_id=777, Content="你好，我的快递丢了"), safe=True)
    assert status == (200, "success")
    conv = await held(h, http, "CHANNEL_WECHAT")
    assert conv["identity"]["source_id"] == OPENID
    async with http.post(f"{h.url('inbox')}/api/conversations/{conv['id']}/reply",
                         json={"text": "您好，我们马上为您查询。"}, headers=csrf) as r:
        assert r.status == 200, await r.text()
    await eventually(lambda: wechat.texts_to(OPENID) == ["您好，我们马上为您查询。"], timeout=30)
    # Templates are WhatsApp's: the inbox refuses one here before anything is sent.
    async with http.post(f"{h.url('inbox')}/api/conversations/{conv['id']}/reply",
                         json={"template_id": TEMPLATE_SID}, headers=csrf) as r:
        assert r.status == 400 and "WhatsApp" in await r.text()


async def whatsapp_round_trip(social: SocialHub, http: aiohttp.ClientSession, csrf: dict[str, str]) -> None:
    h, twilio = social.hub, social.twilio
    resp = await twilio.post_webhook(h.url("sms") + "/twilio/whatsapp",
                                     twilio.inbound_sms(WA_OURS, WA_CUSTOMER, "Where is my order?"))
    assert resp.status == 200
    conv = await held(h, http, "CHANNEL_WHATSAPP")
    base = f"{h.url('inbox')}/api/conversations/{conv['id']}/reply"
    async with http.post(base, json={"text": "It ships today."}, headers=csrf) as r:
        assert r.status == 200, await r.text()
    async with http.post(base, json={"template_id": TEMPLATE_SID, "template_variables": {"1": "Li", "2": "C-7"}},
                         headers=csrf) as r:
        assert r.status == 200, await r.text()

    def sent() -> list[dict[str, Any]]:
        return [m for m in twilio.messages.values() if m["to"] == WA_CUSTOMER]

    await eventually(lambda: len(sent()) == 2, timeout=30)
    free, template = sorted(sent(), key=lambda m: m["content_sid"] or "")
    assert (free["body"], free["from"]) == ("It ships today.", WA_OURS)
    assert template["content_sid"] == TEMPLATE_SID
    assert json.loads(template["content_variables"]) == {"1": "Li", "2": "C-7"}
