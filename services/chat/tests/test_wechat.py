"""WeChat Official Account: signatures (plain and safe mode), dedupe, media, the 48-hour window, errcodes, tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.chat.app import ChatService
from omnihub.chat.config import ChatSettings
from omnihub.chat.wechat_api import WeChatApi
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.common.errors import ConfigError
from omnihub.testkit.fakes.wechat_api import FakeWeChatApi, message_xml
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import eventually, read_events, read_messages

WX = contact_pb2.CHANNEL_WECHAT
OPENID = "oWx_customer_0001"


class RunningWeChat:
    """A chat service with WeChat configured, and the WeChat API double."""

    def __init__(self, service: ChatService, port: int, api: FakeWeChatApi, safe: bool) -> None:
        self.service, self.port, self.api, self.safe = service, port, api, safe

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.port}/wechat/callback"

    async def push(self, xml: str) -> tuple[int, str]:
        return await self.api.push(self.callback, xml, safe=self.safe)


@pytest.fixture
async def wechat_api() -> AsyncIterator[FakeWeChatApi]:
    api = await FakeWeChatApi().start()
    yield api
    await api.stop()


async def start_chat(bus: Bus, api: FakeWeChatApi, var_dir: Path, *, safe: bool) -> tuple[ChatService, web.AppRunner, int]:
    settings = ChatSettings(
        nats_url="unused", var_dir=var_dir, widget_signing_key="k",  # type: ignore[arg-type]
        telegram_enabled=False, wechat_app_id=api.app_id, wechat_app_secret=api.app_secret,  # type: ignore[arg-type]
        wechat_token=api.callback_token,  # type: ignore[arg-type]
        wechat_encoding_aes_key=api.encoding_aes_key if safe else None,  # type: ignore[arg-type]
        wechat_api_base_url=api.base_url,
    )
    service = ChatService(settings, bus)
    try:
        app = await service.start()
    except BaseException:
        await service.stop()  # its consumers would keep the bus from closing
        raise
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return service, runner, port


async def _running(bus: Bus, api: FakeWeChatApi, var_dir: Path, safe: bool) -> AsyncIterator[RunningWeChat]:
    service, runner, port = await start_chat(bus, api, var_dir, safe=safe)
    yield RunningWeChat(service, port, api, safe)
    await service.stop()
    await runner.cleanup()


@pytest.fixture(params=["plain", "safe"])
async def wechat_modes(request: pytest.FixtureRequest, bus: Bus, wechat_api: FakeWeChatApi,
                       tmp_path: Path) -> AsyncIterator[RunningWeChat]:
    """The service in plain mode, then in safe mode (AES-encrypted callbacks)."""
    async for running in _running(bus, wechat_api, tmp_path, request.param == "safe"):
        yield running


@pytest.fixture
async def wechat(bus: Bus, wechat_api: FakeWeChatApi, tmp_path: Path) -> AsyncIterator[RunningWeChat]:
    """The service in plain mode (the outbound path is the same in both)."""
    async for running in _running(bus, wechat_api, tmp_path, False):
        yield running


async def inbound(bus: Bus) -> list[messaging_pb2.InboundMessage]:
    return [messaging_pb2.InboundMessage.FromString(m.data) for m in await read_messages(bus, subjects.inbound(WX))]


async def events(bus: Bus, entity: str, verb: str) -> list[event_pb2.Event]:
    return await read_events(bus, f"{entity}_{verb}")


async def eventually_events(bus: Bus, entity: str, verb: str, count: int = 1) -> list[event_pb2.Event]:
    return await read_events(bus, f"{entity}_{verb}", count=count, timeout=30)


def text(content: str, msg_id: int, openid: str = OPENID) -> str:
    return message_xml("text", openid, msg_id=msg_id, Content=content)


def reply(out_id: str, text: str = "您好，我是客服小李", **extra: Any) -> messaging_pb2.OutboundMessage:
    return messaging_pb2.OutboundMessage(
        id=out_id, channel=WX, identity=contact_pb2.Identity(channel=WX, source_id=OPENID),
        conversation_id="conv_1", thread_key=f"wechat:{OPENID}", text=text, **extra)


async def post_raw(url: str, params: dict[str, str], body: bytes) -> int:
    async with aiohttp.ClientSession() as http, http.post(f"{url}?{urlencode(params)}", data=body) as resp:
        return resp.status


# ---- inbound ------------------------------------------------------------------------------------


async def test_url_verification_echoes_only_with_a_good_signature(wechat_modes: RunningWeChat) -> None:
    params = wechat_modes.api.verification("echo-42")
    async with aiohttp.ClientSession() as http:
        async with http.get(wechat_modes.callback, params=params) as resp:
            assert (resp.status, await resp.text()) == (200, "echo-42")
        async with http.get(wechat_modes.callback, params={**params, "signature": "0" * 40}) as resp:
            assert resp.status == 403
        async with http.get(wechat_modes.callback, params={"echostr": "x"}) as resp:
            assert resp.status == 403


async def test_bad_and_missing_signatures_are_403_and_publish_nothing(wechat_modes: RunningWeChat, bus: Bus) -> None:
    good = wechat_modes.api.sign(text("hi", 1), safe=wechat_modes.safe)
    without = {k: v for k, v in good.params.items() if k != "signature"}
    assert await post_raw(wechat_modes.callback, without, good.body) == 403
    assert await post_raw(wechat_modes.callback, {**good.params, "signature": "f" * 40}, good.body) == 403
    assert await post_raw(wechat_modes.callback, {**good.params, "timestamp": "1"}, good.body) == 403
    if wechat_modes.safe:
        no_msg_sig = {k: v for k, v in good.params.items() if k != "msg_signature"}
        assert await post_raw(wechat_modes.callback, no_msg_sig, good.body) == 403
        assert await post_raw(wechat_modes.callback, {**good.params, "msg_signature": "a" * 40}, good.body) == 403
        # A correctly signed plaintext body is refused in safe mode: only encrypted callbacks are WeChat's.
        plain = wechat_modes.api.sign(text("hi", 2), safe=False)
        assert await post_raw(wechat_modes.callback, plain.params, plain.body) == 403
        # Another payload under the same msg_signature (tampered ciphertext) is refused too.
        other = wechat_modes.api.sign(text("tampered", 3), safe=True)
        assert await post_raw(wechat_modes.callback, good.params, other.body) == 403
    assert await inbound(bus) == []
    assert await post_raw(wechat_modes.callback, good.params, good.body) == 200  # the same request, intact, is fine
    assert len(await inbound(bus)) == 1


async def test_a_retried_msgid_makes_one_message_and_the_answer_is_success(wechat_modes: RunningWeChat, bus: Bus) -> None:
    for _ in range(3):  # WeChat retries three times when it has no answer within 5 s
        assert await wechat_modes.push(text("我的订单还没到", 9_001)) == (200, "success")
    got = await inbound(bus)
    assert len(got) == 1
    msg = got[0]
    assert msg.channel == WX and msg.identity.source_id == OPENID
    assert msg.text.text == "我的订单还没到"
    assert msg.provider_message_id == "9001"
    assert msg.thread_key == f"wechat:{OPENID}"
    assert msg.routing_hints.entry_point == "wechat:gh_omnihub"


async def test_message_kinds_and_the_subscribe_event_become_inbound(wechat_modes: RunningWeChat, bus: Bus) -> None:
    api = wechat_modes.api
    api.media["IMG_1"] = (b"\xff\xd8jpeg-bytes", "image/jpeg")
    api.media["VOICE_1"] = (b"#!AMR", "audio/amr")
    pushes = [
        message_xml("image", OPENID, msg_id=1, PicUrl="http://mmbiz.example/x.jpg", MediaId="IMG_1"),
        message_xml("voice", OPENID, msg_id=2, MediaId="VOICE_1", Format="amr", Recognition="我要退款"),
        message_xml("video", OPENID, msg_id=3, MediaId="VID_1", ThumbMediaId="T"),
        message_xml("location", OPENID, msg_id=4, Location_X="31.2304", Location_Y="121.4737", Scale="15",
                    Label="上海市黄浦区"),
        message_xml("link", OPENID, msg_id=5, Title="订单详情", Description="订单 123", Url="https://shop.example/o/123"),
        message_xml("event", "oWx_newcomer", create_time=1_700_000_000, Event="subscribe"),
        message_xml("event", "oWx_newcomer", create_time=1_700_000_000, Event="subscribe"),  # retried event
        message_xml("event", OPENID, create_time=1_700_000_001, Event="VIEW", EventKey="https://x"),
    ]
    for xml in pushes:
        assert await wechat_modes.push(xml) == (200, "success")
    got = await inbound(bus)
    assert len(got) == 6  # the retried subscribe is one message; a VIEW event is none
    image, voice, video, location, link, subscribe = got
    assert image.text.attachments[0].uri == "wechat-media://IMG_1"
    assert image.text.attachments[0].content_type == "image/jpeg"
    assert voice.text.text == "我要退款" and voice.text.attachments[0].content_type == "audio/amr"
    assert video.text.attachments[0].uri == "wechat-media://VID_1"
    assert location.text.text == "📍 上海市黄浦区 (31.2304, 121.4737)"
    assert link.text.text == "🔗 订单详情\n订单 123\nhttps://shop.example/o/123"
    assert subscribe.identity.source_id == "oWx_newcomer" and subscribe.provider_message_id == "oWx_newcomer:1700000000"
    # Media are downloaded through media/get (WeChat keeps them three days) and served from here.
    await eventually(lambda: {c.params["media_id"] for c in api.calls("media/get")} >= {"IMG_1", "VOICE_1"})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{wechat_modes.port}/wechat/media/IMG_1") as resp:
            assert resp.status == 200 and await resp.read() == b"\xff\xd8jpeg-bytes"
            assert resp.headers["Content-Type"] == "image/jpeg"
        async with http.get(f"http://127.0.0.1:{wechat_modes.port}/wechat/media/NEVER_RECEIVED") as resp:
            assert resp.status == 404


async def test_bad_messages_are_400_and_publish_nothing(wechat: RunningWeChat, bus: Bus) -> None:
    bad = [
        "<xml><FromUserName>o</FromUserName>",  # not XML
        '<!DOCTYPE x [<!ENTITY e "boom">]><xml><FromUserName>&e;</FromUserName></xml>',  # entities refused
        message_xml("text", "not an openid!", msg_id=1, Content="x"),
        message_xml("text", OPENID, msg_id=None, Content="no MsgId"),
        message_xml("text", OPENID, msg_id=2, Content="x" * 5000),
        message_xml("image", OPENID, msg_id=3),  # no MediaId
    ]
    for xml in bad:
        status, _ = await wechat.push(xml)
        assert status == 400, xml
    assert await inbound(bus) == []


# ---- outbound -----------------------------------------------------------------------------------


async def test_a_reply_within_48_hours_is_a_customer_service_message(wechat: RunningWeChat, bus: Bus) -> None:
    await wechat.push(text("在吗", 100))
    await bus.publish(subjects.outbound(WX), reply("out_1"), msg_id="out_1")
    sent = await eventually_events(bus, "message", "sent")
    assert [e.message_sent.message_id for e in sent] == ["out_1"]
    assert wechat.api.texts_to(OPENID) == ["您好，我是客服小李"]
    assert len(wechat.api.calls("token")) == 1


async def test_outside_the_48_hour_window_the_reply_fails_clearly(wechat: RunningWeChat, bus: Bus) -> None:
    await bus.publish(subjects.outbound(WX), reply("out_never"), msg_id="out_never")  # never wrote to us
    adapter = wechat.service.wechat
    assert adapter is not None
    await wechat.push(text("hello", 101, openid="oWx_old_customer"))
    real = adapter.clock
    adapter.clock = lambda: real() + 48 * 3600 + 1  # two days and a second later
    old = reply("out_old")
    old.identity.source_id = "oWx_old_customer"
    await bus.publish(subjects.outbound(WX), old, msg_id="out_old")
    failed = await eventually_events(bus, "message", "failed", 2)
    assert sorted(e.message_failed.message_id for e in failed) == ["out_never", "out_old"]
    for evt in failed:
        assert evt.message_failed.permanent and evt.message_failed.error_code == "window_closed"
        assert "48 hours" in evt.message_failed.error_message
    assert wechat.api.sent == []  # refused before reaching WeChat


async def test_unsubscribing_is_an_opt_out_and_closes_the_window(wechat: RunningWeChat, bus: Bus) -> None:
    await wechat.push(text("hi", 150))
    for _ in range(2):  # a retried event is one opt-out
        assert await wechat.push(message_xml("event", OPENID, create_time=1_700_000_500, Event="unsubscribe")) == (
            200, "success")
    [evt] = await read_events(bus, "customer_opt_out", count=1)
    assert evt.customer_opt_out.opted_out and evt.customer_opt_out.identity.source_id == OPENID
    assert evt.channel == WX
    await bus.publish(subjects.outbound(WX), reply("out_gone"), msg_id="out_gone")
    failed = await eventually_events(bus, "message", "failed")
    assert failed[0].message_failed.error_code == "window_closed" and wechat.api.sent == []
    assert len(await read_events(bus, "customer_opt_out")) == 1


@pytest.mark.parametrize("errcode", [45015, 40003])
async def test_window_and_unknown_user_errcodes_are_permanent(wechat: RunningWeChat, bus: Bus, errcode: int) -> None:
    await wechat.push(text("hi", 200))
    wechat.api.fail("message/custom/send", errcode)
    await bus.publish(subjects.outbound(WX), reply("out_perm"), msg_id="out_perm")
    failed = await eventually_events(bus, "message", "failed")
    assert failed[0].message_failed.error_code == str(errcode) and failed[0].message_failed.permanent
    assert len(wechat.api.calls("message/custom/send")) == 1  # never retried
    assert await events(bus, "message", "sent") == []


@pytest.mark.parametrize("errcode", [45047, -1])
async def test_busy_errcodes_are_retried_with_backoff(wechat: RunningWeChat, bus: Bus, errcode: int) -> None:
    await wechat.push(text("hi", 300))
    wechat.api.fail("message/custom/send", errcode, errcode)
    await bus.publish(subjects.outbound(WX), reply("out_busy"), msg_id="out_busy")
    sent = await eventually_events(bus, "message", "sent")
    assert [e.message_sent.message_id for e in sent] == ["out_busy"]
    calls = wechat.api.calls("message/custom/send")
    assert len(calls) == 3
    assert calls[2].time - calls[1].time > calls[1].time - calls[0].time  # backing off
    assert wechat.api.texts_to(OPENID) == ["您好，我是客服小李"]


async def test_an_expired_token_is_refreshed_once_and_the_send_retried(wechat: RunningWeChat, bus: Bus) -> None:
    await wechat.push(text("hi", 400))
    await bus.publish(subjects.outbound(WX), reply("out_a"), msg_id="out_a")
    await eventually_events(bus, "message", "sent")
    wechat.api.expire_tokens()  # WeChat answers 40001 for the token we hold
    await bus.publish(subjects.outbound(WX), reply("out_b", "第二条"), msg_id="out_b")
    sent = await eventually_events(bus, "message", "sent", 2)
    assert [e.message_sent.message_id for e in sent] == ["out_a", "out_b"]
    assert len(wechat.api.calls("token")) == 2
    codes = [c.params["access_token"] for c in wechat.api.calls("message/custom/send")]
    assert len(codes) == 3 and codes[0] == codes[1] != codes[2]  # the rejected token, then the new one


async def test_images_and_files_go_out_as_image_and_link_messages(wechat: RunningWeChat, bus: Bus) -> None:
    await wechat.push(text("send me the invoice", 500))
    wechat.api.media["IMG_X"] = (b"\xff\xd8 a photo", "image/jpeg")  # a media_id WeChat gave us (the customer's)
    out = reply("out_media", "")
    out.attachments.add(file_name="photo.jpg", content_type="image/jpeg", uri="wechat-media://IMG_X")
    out.attachments.add(file_name="invoice.pdf", content_type="application/pdf", uri="https://files.example/i.pdf")
    await bus.publish(subjects.outbound(WX), out, msg_id="out_media")
    await eventually_events(bus, "message", "sent")
    kinds = [(m["msgtype"], m.get("image", {}).get("media_id") or m.get("text", {}).get("content")) for m in wechat.api.sent]
    assert kinds == [("image", "IMG_X"), ("text", "📎 invoice.pdf: https://files.example/i.pdf")]


async def test_files_follow_the_shared_rules_webp_as_a_link_svg_and_big_images_refused(
        wechat: RunningWeChat, bus: Bus) -> None:
    await wechat.push(text("send me the pictures", 550))
    webp = reply("out_webp", "")  # WeChat's image messages take PNG/JPEG/GIF: a WebP goes as its link
    webp.attachments.add(file_name="a.webp", content_type="image/webp", uri="https://files.example/a.webp",
                         size_bytes=10)
    svg = reply("out_svg", "")
    svg.attachments.add(file_name="a.svg", content_type="image/svg+xml", uri="https://files.example/a.svg",
                        size_bytes=10)
    big = reply("out_big", "")
    big.attachments.add(file_name="b.png", content_type="image/png", uri="wechat-media://IMG_BIG",
                        size_bytes=10 * 1024 * 1024 + 1)
    for out in (webp, svg, big):
        await bus.publish(subjects.outbound(WX), out, msg_id=out.id)
    failed = await eventually_events(bus, "message", "failed", 2)
    codes = {e.message_failed.message_id: e.message_failed.error_code for e in failed}
    assert codes == {"out_svg": "channel_type", "out_big": "channel_limit"}
    await eventually_events(bus, "message", "sent")
    assert wechat.api.texts_to(OPENID) == ["📎 a.webp: https://files.example/a.webp"]


async def test_csat_by_a_reply_from_1_to_5(wechat: RunningWeChat, bus: Bus) -> None:
    await wechat.push(text("thanks", 600))
    survey = reply("out_svy", "", kind=messaging_pb2.OUTBOUND_KIND_SURVEY, survey_id="svy_9", survey_question="csat")
    await bus.publish(subjects.outbound(WX), survey, msg_id="out_svy")
    await eventually_events(bus, "message", "sent")
    assert "1（很差）到 5（很好）" in wechat.api.texts_to(OPENID)[0]
    assert await wechat.push(text("5", 601)) == (200, "success")
    answers = await eventually_events(bus, "survey", "answered")
    assert len(answers) == 1
    answer = answers[0]
    assert (answer.survey_answered.survey_id, answer.survey_answered.score) == ("svy_9", 5)
    assert answer.conversation_id == "conv_1" and answer.identity.source_id == OPENID
    assert [m.provider_message_id for m in await inbound(bus)] == ["600"]  # the score is no new message
    await wechat.push(text("5", 602))  # a later "5" is an ordinary message again
    assert len(await inbound(bus)) == 2


# ---- the shared access token --------------------------------------------------------------------


async def test_two_replicas_refreshing_at_once_end_with_one_valid_token(bus: Bus, wechat_api: FakeWeChatApi) -> None:
    kv = await bus.kv(subjects.KV_WECHAT)
    replicas = [WeChatApi(wechat_api.base_url, wechat_api.app_id, wechat_api.app_secret, kv) for _ in range(2)]
    try:
        first = await asyncio.gather(*(r.tokens.get() for r in replicas))
        assert first[0] == first[1] and len(wechat_api.calls("token")) == 1
        assert list(wechat_api.valid_tokens) == [first[0]]
        # Both see WeChat reject the token at once: one refresh, and both use the new token.
        wechat_api.expire_tokens()
        second = await asyncio.gather(*(r.tokens.get(stale=first[0]) for r in replicas))
        assert second[0] == second[1] != first[0]
        assert len(wechat_api.calls("token")) == 2
        assert list(wechat_api.valid_tokens) == [second[0]]
        # Near expiry (inside the 5-minute margin) one replica refreshes before WeChat expires it.
        for r in replicas:
            r.tokens.clock = lambda: 10.0**10  # far past the token's expires_at
        entry = json.loads((await kv.get(replicas[0].tokens.key)).value or b"{}")
        assert entry["token"] == second[0] and entry["expires_at"] > 0
        third = await asyncio.gather(*(r.tokens.get() for r in replicas))
        assert third[0] == third[1] != second[0] and len(wechat_api.calls("token")) == 3
    finally:
        for r in replicas:
            await r.close()


def test_half_configured_wechat_is_a_config_error(tmp_path: Path) -> None:
    from omnihub.chat.config import wechat_configured

    base: dict[str, Any] = {"nats_url": "unused", "var_dir": tmp_path}
    assert not wechat_configured(ChatSettings(**base))
    with pytest.raises(ConfigError, match="OMNIHUB_WECHAT_APP_SECRET"):
        wechat_configured(ChatSettings(**base, wechat_app_id="wx1", wechat_token="tok123"))
    with pytest.raises(ConfigError, match="ENCODING_AES_KEY"):
        wechat_configured(ChatSettings(**base, wechat_app_id="wx1", wechat_token="tok123", wechat_app_secret="s",
                                       wechat_encoding_aes_key="short"))
