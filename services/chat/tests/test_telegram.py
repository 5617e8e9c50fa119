"""Telegram channel: webhook secret, dedupe, attachments, outbound retry and failure mapping."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import barrier, eventually, read_events, read_messages

from .conftest import WEBHOOK_SECRET, RunningChat

TG = contact_pb2.CHANNEL_TELEGRAM


def update(update_id: int, **message: Any) -> dict[str, Any]:
    """A Telegram Update with a private message from user 42."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id + 100,
            "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "Li"},
            "from": {
                "id": 42,
                "is_bot": False,
                "first_name": "Li",
                "last_name": "Wei",
                "language_code": "zh",
            },
            **message,
        },
    }


async def post(chat: RunningChat, body: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{chat.base}/telegram/webhook", json=body, headers=headers) as resp,
    ):
        return resp.status


async def test_bad_or_missing_secret_is_403_and_publishes_nothing(chat: RunningChat, bus: Bus) -> None:
    assert await post(chat, update(1, text="hi"), secret="wrong") == 403
    assert await post(chat, update(2, text="hi"), secret=None) == 403
    assert await read_messages(bus, subjects.inbound(TG)) == []


async def test_duplicate_update_id_makes_one_message(chat: RunningChat, bus: Bus) -> None:
    for _ in range(3):
        assert await post(chat, update(10, text="hello")) == 200
    raw = await read_messages(bus, subjects.inbound(TG), count=1)
    assert len(raw) == 1
    msg = messaging_pb2.InboundMessage.FromString(raw[0].data)
    assert msg.text.text == "hello"
    assert msg.identity.source_id == "42"
    assert msg.provider_message_id == "10"
    assert msg.display_name == "Li Wei"
    assert msg.routing_hints.entry_point.startswith("bot:")


async def test_photo_document_start_and_edit_become_inbound(chat: RunningChat, bus: Bus) -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 10},
        {"file_id": "large", "file_unique_id": "l", "width": 800, "height": 600, "file_size": 900},
    ]
    doc = {
        "file_id": "doc1",
        "file_unique_id": "d",
        "file_name": "invoice.pdf",
        "mime_type": "application/pdf",
        "file_size": 1234,
    }
    assert await post(chat, update(20, photo=photo, caption="my router")) == 200
    assert await post(chat, update(21, document=doc)) == 200
    assert await post(chat, update(22, text="/start")) == 200
    edited = update(23, text="fixed typo")
    edited["edited_message"] = edited.pop("message")
    assert await post(chat, edited) == 200
    msgs = [
        messaging_pb2.InboundMessage.FromString(m.data) for m in await read_messages(bus, subjects.inbound(TG), count=4)
    ]
    assert len(msgs) == 4
    p, d, s, e = msgs
    assert p.text.text == "my router"
    assert [a.uri for a in p.text.attachments] == ["telegram-file://large"]
    assert p.text.attachments[0].content_type == "image/jpeg"
    assert d.text.attachments[0].uri == "telegram-file://doc1"
    assert d.text.attachments[0].file_name == "invoice.pdf"
    assert s.text.text == "/start"
    assert e.text.edited and e.text.text == "fixed typo"


def outbound(out_id: str, **extra: Any) -> messaging_pb2.OutboundMessage:
    return messaging_pb2.OutboundMessage(
        id=out_id,
        channel=TG,
        conversation_id="cnv_1",
        identity=contact_pb2.Identity(channel=TG, source_id="42"),
        text="hello from agent",
        kind=messaging_pb2.OUTBOUND_KIND_REPLY,
        **extra,
    )


async def test_outbound_429_is_retried_after_retry_after(chat: RunningChat, bus: Bus) -> None:
    api = chat.telegram
    api.fail("sendMessage", "rate_limited", retry_after=2)
    await bus.publish(subjects.outbound(TG), outbound("out_429"), msg_id="out_429")
    await eventually(lambda: len(api.calls("sendMessage")) >= 2, timeout=15)
    first, second = api.calls("sendMessage")[:2]
    assert second.time - first.time >= 1.9  # honoured retry_after, not the default backoff
    assert second.params["chat_id"] in ("42", 42)
    sent = await read_events(bus, "message_sent", count=1)
    assert [e.message_sent.message_id for e in sent] == ["out_429"]


async def test_outbound_network_error_is_retried(chat: RunningChat, bus: Bus) -> None:
    api = chat.telegram
    api.fail("sendMessage", "drop")
    await bus.publish(subjects.outbound(TG), outbound("out_net"), msg_id="out_net")
    await eventually(lambda: len(api.calls("sendMessage")) >= 2, timeout=15)
    sent = await read_events(bus, "message_sent", count=1)
    assert [e.message_sent.message_id for e in sent] == ["out_net"]


async def test_outbound_403_is_a_permanent_failure_event(chat: RunningChat, bus: Bus) -> None:
    api = chat.telegram
    api.fail("sendMessage", "forbidden", times=5)
    await bus.publish(subjects.outbound(TG), outbound("out_403"), msg_id="out_403")
    failed = await read_events(bus, "message_failed", count=1)
    assert len(failed) == 1
    f = failed[0].message_failed
    assert f.message_id == "out_403" and f.permanent and f.error_code == "403"
    assert "blocked" in f.error_message
    await barrier(bus, subjects.outbound_durable(TG), stream=subjects.STREAM_CONTACTS_OUT)
    assert len(api.calls("sendMessage")) == 1  # never retried


async def test_csat_inline_keyboard_and_button_answer(chat: RunningChat, bus: Bus) -> None:
    api = chat.telegram
    survey = outbound("out_svy", survey_id="svy_1", survey_question="csat")
    survey.kind = messaging_pb2.OUTBOUND_KIND_SURVEY
    survey.text = ""
    await bus.publish(subjects.outbound(TG), survey, msg_id="out_svy")
    await eventually(lambda: len(api.calls("sendMessage")) >= 1, timeout=15)
    markup = api.calls("sendMessage")[0].params["reply_markup"]
    buttons = [b for row in markup["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["1", "2", "3", "4", "5"]
    callback = {
        "update_id": 99,
        "callback_query": {
            "id": "cbq1",
            "chat_instance": "x",
            "data": buttons[3]["callback_data"],
            "from": {"id": 42, "is_bot": False, "first_name": "Li"},
            "message": {
                "message_id": 5,
                "date": 1_700_000_000,
                "chat": {"id": 42, "type": "private"},
                "text": "How satisfied?",
            },
        },
    }
    assert await post(chat, callback) == 200
    assert await post(chat, callback) == 200  # a retry by Telegram: still one answer
    raw = await read_events(bus, "survey_answered", count=1)
    assert len(raw) == 1
    answer = raw[0].survey_answered
    assert (answer.survey_id, answer.question, answer.score) == ("svy_1", "csat", 4)
    assert len(api.calls("answerCallbackQuery")) == 1


async def test_webhook_is_registered_with_its_secret(bus: Bus, telegram_api: Any, tmp_path: Any) -> None:
    from omnihub.chat.app import ChatService
    from omnihub.chat.config import ChatSettings

    settings = ChatSettings(
        var_dir=tmp_path,
        telegram_bot_token=telegram_api.token,
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_base_url=telegram_api.base_url,
        telegram_webhook_url="https://chat.example.com/telegram/webhook",
    )
    service = ChatService(settings, bus)
    await service.start()
    await service.stop()
    (call,) = telegram_api.calls("setWebhook")
    assert call.params["url"] == "https://chat.example.com/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET


async def test_outbound_attachments_use_send_photo_and_document(chat: RunningChat, bus: Bus) -> None:
    api = chat.telegram
    out = outbound("out_media")
    out.attachments.add(file_name="a.jpg", content_type="image/jpeg", uri="telegram-file://AgAC1")
    out.attachments.add(
        file_name="b.pdf", content_type="application/pdf", uri="https://files.example.com/b.pdf"
    )
    await bus.publish(subjects.outbound(TG), out, msg_id="out_media")
    await eventually(lambda: bool(api.calls("sendDocument")), timeout=15)
    assert api.calls("sendMessage")[0].params["text"] == "hello from agent"
    assert api.calls("sendPhoto")[0].params["photo"] == "AgAC1"
    assert api.calls("sendDocument")[0].params["document"] == "https://files.example.com/b.pdf"


async def test_files_follow_the_shared_rules_gif_as_document_svg_and_big_photos_refused(
        chat: RunningChat, bus: Bus) -> None:
    api = chat.telegram
    gif = outbound("out_gif")
    gif.text = ""
    gif.attachments.add(file_name="a.gif", content_type="image/gif", uri="telegram-file://GIF1", size_bytes=10)
    svg = outbound("out_svg")
    svg.attachments.add(file_name="a.svg", content_type="image/svg+xml", uri="telegram-file://SVG1", size_bytes=10)
    big = outbound("out_big")
    big.attachments.add(file_name="b.png", content_type="image/png", uri="telegram-file://PNG1",
                        size_bytes=5 * 1024 * 1024 + 1)
    for out in (gif, svg, big):
        await bus.publish(subjects.outbound(TG), out, msg_id=out.id)
    failed = await read_events(bus, "message_failed", count=2, timeout=15)
    codes = {e.message_failed.message_id: e.message_failed.error_code for e in failed}
    assert codes == {"out_svg": "channel_type", "out_big": "channel_limit"}
    assert "5 MB" in next(e for e in failed if e.message_failed.message_id == "out_big").message_failed.error_message
    await eventually(lambda: bool(api.calls("sendDocument")), timeout=15)
    assert [c.params["document"] for c in api.calls("sendDocument")] == ["GIF1"]  # a GIF is no photo
    assert not api.calls("sendPhoto") and not api.calls("sendMessage")


async def test_a_document_over_20_mb_is_uploaded_not_sent_by_url(chat: RunningChat, bus: Bus) -> None:
    big = b"%PDF-1.4\n" + b"0" * (25 * 1024 * 1024)  # Telegram fetches 20 MB by URL; uploads take 50 MB
    async def serve(_: web.Request) -> web.Response:
        return web.Response(body=big, content_type="application/pdf")

    app = web.Application()
    app.router.add_get("/files/big.pdf", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        out = outbound("out_big_doc")
        out.text = ""
        out.attachments.add(file_name="manual.pdf", content_type="application/pdf",
                            uri=f"http://127.0.0.1:{port}/files/big.pdf", size_bytes=len(big))
        await bus.publish(subjects.outbound(TG), out, msg_id="out_big_doc")
        sent = await read_events(bus, "message_sent", count=1, timeout=60)
        assert sent[0].message_sent.message_id == "out_big_doc"
        [call] = chat.telegram.calls("sendDocument")
        assert call.params["document"] == {"filename": "manual.pdf", "size": len(big)}  # multipart, not a URL
        assert chat.telegram.fetched == []
    finally:
        await runner.cleanup()


async def post_raw(chat: RunningChat, body: bytes, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{chat.base}/telegram/webhook", data=body, headers=headers) as resp,
    ):
        return resp.status


async def test_the_secret_header_name_is_matched_in_any_case(chat: RunningChat, bus: Bus) -> None:
    for n, name in enumerate(("x-telegram-bot-api-secret-token", "X-TELEGRAM-BOT-API-SECRET-TOKEN")):
        body = json.dumps(update(30 + n, text="via an HTTP/2 proxy")).encode()
        assert await post_raw(chat, body, {name: WEBHOOK_SECRET, "Content-Type": "application/json"}) == 200
    assert await post_raw(chat, body, {"x-telegram-bot-api-secret-token": WEBHOOK_SECRET.upper()}) == 403
    assert len(await read_messages(bus, subjects.inbound(TG), count=2)) == 2


HOSTILE_UPDATES = {
    "nested 2,000 levels": b'{"update_id": 1, "message": ' + b"[" * 2_000 + b"]" * 2_000 + b"}",
    "lone surrogate": b'{"update_id": 41, "message": {"message_id": 1, "date": 1700000000, '
                      b'"chat": {"id": 42, "type": "private"}, "text": "\\udc00"}}',
    "1e999": b'{"update_id": 1e999}',
    "NaN": b'{"update_id": NaN}',
    "update_id a string": json.dumps(update(1, text="x") | {"update_id": "abc"}).encode(),
    "update_id a bool": json.dumps(update(1, text="x") | {"update_id": True}).encode(),
    "update_id too large": json.dumps(update(1, text="x") | {"update_id": 2**70}).encode(),
    "chat id a string": json.dumps(update(42, text="x", chat={"id": "x" * 5_000, "type": "private"})).encode(),
    "message not an object": b'{"update_id": 43, "message": "abc"}',
    "not JSON": b"\xff\xfe",
    "an array": b"[1, 2]",
}


@pytest.mark.parametrize("body", HOSTILE_UPDATES.values(), ids=HOSTILE_UPDATES.keys())
async def test_a_hostile_update_with_the_right_secret_is_400_and_publishes_nothing(
        chat: RunningChat, bus: Bus, body: bytes) -> None:
    status = await post_raw(chat, body, {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert status == 400
    assert await read_messages(bus, subjects.inbound(TG)) == []
    assert await post(chat, update(50, text="still fine")) == 200
