"""Web chat over a raw WebSocket: tokens, history, resume, limits, uploads, abandonment."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.fakes.telegram_api import FakeTelegramApi
from omnihub.testkit.waiting import eventually, read_events, read_messages

from .conftest import RunningChat, running_chat

WEB = contact_pb2.CHANNEL_WEBCHAT


async def hello(
    http: aiohttp.ClientSession, chat: RunningChat, **fields: Any
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await http.ws_connect(f"{chat.base}/ws/chat")
    await ws.send_json({"type": "hello", **fields})
    return ws, await ws.receive_json(timeout=5)


async def frames_until(ws: aiohttp.ClientWebSocketResponse, kind: str) -> list[dict[str, Any]]:
    out = []
    while True:
        frame = await ws.receive_json(timeout=5)
        out.append(frame)
        if frame["type"] == kind:
            return out


def reply(out_id: str, visitor: str, text: str, **extra: Any) -> messaging_pb2.OutboundMessage:
    return messaging_pb2.OutboundMessage(
        id=out_id,
        channel=WEB,
        conversation_id="cnv_w",
        identity=contact_pb2.Identity(channel=WEB, source_id=visitor),
        thread_key=visitor,
        text=text,
        agent_id="alice",
        agent_display_name="Alice",
        **extra,
    )


async def test_token_history_and_bad_token(chat: RunningChat, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        ws, welcome = await hello(http, chat, name="Ann", topic="billing")
        assert welcome["type"] == "welcome"
        token, visitor = welcome["token"], welcome["visitor_id"]
        await ws.send_json({"type": "message", "client_id": "c1", "text": "first"})
        echo = await frames_until(ws, "msg")
        assert echo[-1]["text"] == "first" and echo[-1]["seq"] == 1
        await ws.close()
        ws2, again = await hello(http, chat, token=token, ack=0)
        assert again["visitor_id"] == visitor
        history = await ws2.receive_json(timeout=5)
        assert (history["seq"], history["text"]) == (1, "first")
        await ws2.close()
        tampered = visitor + "x." + token.rpartition(".")[2]
        ws3, err = await hello(http, chat, token=tampered)
        assert err == {"type": "error", "code": "bad_token", "message": "invalid visitor token"}
        await ws3.close()
    raw = await read_messages(bus, subjects.inbound(WEB), count=1)
    msg = messaging_pb2.InboundMessage.FromString(raw[0].data)
    assert msg.routing_hints.topic == "billing" and msg.display_name == "Ann"
    assert msg.identity.source_id == visitor


async def test_resume_delivers_offline_messages_in_order_once(chat: RunningChat, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        ws, welcome = await hello(http, chat)
        token, visitor = welcome["token"], welcome["visitor_id"]
        await bus.publish(subjects.outbound(WEB), reply("out_1", visitor, "one"), msg_id="out_1")
        first = await frames_until(ws, "msg")
        assert first[-1]["text"] == "one"
        await ws.close()  # visitor goes away; two replies arrive meanwhile (one redelivered)
        for i, (n, text) in enumerate(((2, "two"), (3, "three"), (2, "two"))):
            # distinct NATS ids: the third is a redelivery only our outbox can catch
            await bus.publish(subjects.outbound(WEB), reply(f"out_{n}", visitor, text), msg_id=f"pub-{i}")
        hub = chat.service.hub
        assert hub is not None
        await eventually(lambda: hub.sessions[visitor].seq == 3, timeout=15)
        ws2, _ = await hello(http, chat, token=token, ack=first[-1]["seq"])
        got = [await ws2.receive_json(timeout=5) for _ in range(2)]
        assert [(f["seq"], f["text"]) for f in got] == [(2, "two"), (3, "three")]
        await ws2.send_json({"type": "ack", "seq": 3})
        await ws2.send_json({"type": "read", "seq": 3})
        await ws2.send_json({"type": "queue"})  # a round trip: the acks above were handled
        assert all(f["type"] != "msg" for f in await frames_until(ws2, "queue"))
        await ws2.close()
    delivered = await read_events(bus, "message_delivered", count=6)
    assert len(delivered) == 6  # three messages, DELIVERED and READ once each
    sent = await read_events(bus, "message_sent", count=3)
    assert len(sent) == 3


async def test_size_and_rate_limits_send_error_frames(chat: RunningChat, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        ws, _ = await hello(http, chat)
        await ws.send_json({"type": "message", "client_id": "big", "text": "x" * 201})
        err = await frames_until(ws, "error")
        assert err[-1]["code"] == "too_large" and "200" in err[-1]["message"]
        codes = []
        for n in range(7):
            await ws.send_json({"type": "message", "client_id": f"r{n}", "text": f"m{n}"})
        for _ in range(20):
            frame = await ws.receive_json(timeout=5)
            if frame["type"] == "error":
                codes.append(frame["code"])
            if len(codes) == 2:
                break
        assert codes == ["rate_limited", "rate_limited"]  # 5 per minute allowed
        await ws.close()
    assert len(await read_messages(bus, subjects.inbound(WEB), count=5)) == 5


async def test_close_while_queued_publishes_session_ended(chat: RunningChat, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        ws, welcome = await hello(http, chat, topic="support")
        await ws.send_json({"type": "message", "client_id": "c1", "text": "anyone?"})
        await frames_until(ws, "queue")
        await ws.send_json({"type": "close"})
        await ws.send_json({"type": "close"})  # a double click: one end
        await ws.send_json({"type": "queue"})
        await frames_until(ws, "queue")
        await ws.close()
    msgs = [
        messaging_pb2.InboundMessage.FromString(m.data) for m in await read_messages(bus, subjects.inbound(WEB), count=2)
    ]
    assert [m.WhichOneof("payload") for m in msgs] == ["text", "session_ended"]
    assert msgs[1].session_ended.reason == "closed"
    assert msgs[1].identity.source_id == welcome["visitor_id"]


async def test_queue_position_from_router_request_reply(chat: RunningChat, bus: Bus) -> None:
    from omnihub.api.routing.v1 import routing_pb2

    async def answer(msg: Any) -> None:
        req = routing_pb2.GetQueueStatsRequest.FromString(msg.data)
        stats = routing_pb2.QueueStats(queue=req.queues[0], waiting=3)
        stats.longest_wait.FromSeconds(120)
        await msg.respond(routing_pb2.GetQueueStatsResponse(stats=[stats]).SerializeToString())

    sub = await bus.nc.subscribe(subjects.QUEUE_STATS_REQUEST, cb=answer)
    try:
        async with aiohttp.ClientSession() as http:
            ws, _ = await hello(http, chat, topic="sales")
            await ws.send_json({"type": "queue"})
            frame = (await frames_until(ws, "queue"))[-1]
            assert frame == {"type": "queue", "known": True, "position": 3, "estimated_wait_seconds": 120}
            await ws.close()
    finally:
        await sub.unsubscribe()


async def test_upload_limits_and_attachment_message(chat: RunningChat, bus: Bus) -> None:
    async with aiohttp.ClientSession() as http:
        ws, welcome = await hello(http, chat)
        headers = {"X-Visitor-Token": welcome["token"]}

        async def upload(data: bytes, ctype: str, token: dict[str, str]) -> tuple[int, Any]:
            form = aiohttp.FormData()
            form.add_field("file", data, filename="f", content_type=ctype)
            async with http.post(f"{chat.base}/widget/upload", data=form, headers=token) as r:
                return r.status, await r.json()

        assert (await upload(b"x", "image/png", {}))[0] == 403
        status, body = await upload(b"<svg onload=alert(1)>", "image/svg+xml", headers)
        assert status == 415 and "allowed" in body["error"]
        limit = chat.service.settings.widget_max_upload_bytes
        assert (await upload(b"0" * (limit + 1), "application/pdf", headers))[0] == 413
        status, ref = await upload(b"%PDF-1.4 hello", "application/pdf", headers)
        assert status == 200 and ref["uri"].startswith("/widget/uploads/")
        await ws.send_json({"type": "message", "client_id": "a1", "text": "", "attachments": [ref]})
        await frames_until(ws, "msg")
        await ws.send_json(
            {"type": "message", "client_id": "a2", "text": "", "attachments": [{"uri": "http://evil/x"}]}
        )
        assert (await frames_until(ws, "error"))[-1]["code"] == "bad_request"
        async with http.get(f"{chat.base}{ref['uri']}") as r:
            assert r.headers["Content-Disposition"] == "attachment"
            assert await r.read() == b"%PDF-1.4 hello"
        await ws.close()
    msg = messaging_pb2.InboundMessage.FromString((await read_messages(bus, subjects.inbound(WEB), count=1))[0].data)
    assert msg.text.attachments[0].uri == ref["uri"]
    assert msg.text.attachments[0].size_bytes == len(b"%PDF-1.4 hello")


async def test_history_survives_a_service_restart(chat: RunningChat, bus: Bus) -> None:
    from aiohttp import web

    from omnihub.chat.app import ChatService
    from omnihub.testkit.ports import free_port

    async with aiohttp.ClientSession() as http:
        ws, welcome = await hello(http, chat)
        await ws.send_json({"type": "message", "client_id": "c1", "text": "\u4f60\u597d"})
        await frames_until(ws, "msg")
        await ws.close()
    await chat.service.stop()  # the old instance's memory is gone; KV keeps the outbox
    visitor = welcome["visitor_id"]
    await bus.publish(subjects.outbound(WEB), reply("out_r", visitor, "while down"), msg_id="out_r")
    fresh = ChatService(chat.service.settings, bus)
    app = await fresh.start()
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        restarted = RunningChat(fresh, port, chat.telegram)
        async with aiohttp.ClientSession() as http:
            ws, again = await hello(http, restarted, token=welcome["token"], ack=0)
            assert again["visitor_id"] == visitor
            got = [await ws.receive_json(timeout=10) for _ in range(2)]
            assert [(f["seq"], f["text"]) for f in got] == [(1, "\u4f60\u597d"), (2, "while down")]
            await ws.close()
    finally:
        await fresh.stop()
        await runner.cleanup()


HOSTILE_FRAMES = {
    "ack not a number": '{"type": "ack", "seq": "abc"}',
    "ack 1e999": '{"type": "ack", "seq": 1e999}',
    "read a float": '{"type": "read", "seq": 1.5}',
    "ack huge": '{"type": "ack", "seq": 100000000000000000000000}',
    "bare 1e999": "1e999",
    "NaN": '{"type": "ack", "seq": NaN}',
    "nested 2,000 levels": '{"type": "message", "text": ' + "[" * 2_000 + "]" * 2_000 + "}",
    "lone surrogate": '{"type": "message", "client_id": "c9", "text": "\\udc00"}',
    "survey score a string": '{"type": "survey", "survey_id": "s1", "score": "abc"}',
    "not JSON": "{",
}


@pytest.mark.parametrize("frame", HOSTILE_FRAMES.values(), ids=HOSTILE_FRAMES.keys())
async def test_a_hostile_frame_gets_an_error_frame_and_the_socket_stays_open(
        chat: RunningChat, bus: Bus, frame: str) -> None:
    async with aiohttp.ClientSession() as http:
        ws, welcome = await hello(http, chat)
        assert welcome["type"] == "welcome"
        await ws.send_str(frame)
        error = await ws.receive_json(timeout=5)
        assert error["type"] == "error" and error["code"] == "bad_request", error
        await ws.send_json({"type": "message", "client_id": "ok1", "text": "still connected"})
        echo = await frames_until(ws, "msg")
        assert echo[-1]["text"] == "still connected"
        assert not ws.closed
        await ws.close()
    raw = await read_messages(bus, subjects.inbound(WEB), count=1)
    assert [messaging_pb2.InboundMessage.FromString(m.data).text.text for m in raw] == ["still connected"]


HOSTILE_HELLOS = {
    "ack not a number": '{"type": "hello", "ack": "abc"}',
    "ack 1e999": '{"type": "hello", "ack": 1e999}',
    "lone-surrogate token": '{"type": "hello", "token": "\\udc00"}',
    "nested 2,000 levels": '{"type": "hello", "name": ' + "[" * 2_000 + "]" * 2_000 + "}",
    "not an object": "[]",
}


@pytest.mark.parametrize("frame", HOSTILE_HELLOS.values(), ids=HOSTILE_HELLOS.keys())
async def test_a_hostile_hello_gets_an_error_frame_and_a_good_hello_still_works(chat: RunningChat, frame: str) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{chat.base}/ws/chat")
        await ws.send_str(frame)
        error = await ws.receive_json(timeout=5)
        assert error["type"] == "error" and error["code"] == "bad_hello", error
        await ws.send_json({"type": "hello"})
        welcome = await ws.receive_json(timeout=5)
        assert welcome["type"] == "welcome"
        await ws.close()


async def test_a_token_that_is_not_ascii_is_refused_as_a_bad_token(chat: RunningChat) -> None:
    async with aiohttp.ClientSession() as http:
        ws, err = await hello(http, chat, token="v_1.é" + "0" * 63)
        assert err["code"] == "bad_token"
        await ws.close()


async def connect_status(http: aiohttp.ClientSession, chat: RunningChat, forwarded: str = "") -> tuple[int, str]:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    try:
        ws = await http.ws_connect(f"{chat.base}/ws/chat", headers=headers)
    except aiohttp.WSServerHandshakeError as exc:
        answer: Mapping[str, str] = exc.headers if isinstance(exc.headers, Mapping) else {}
        return exc.status, str(answer.get("Retry-After", ""))
    await ws.close()
    return 101, ""


async def test_opening_sockets_is_limited_per_client_address_with_retry_after(
        bus: Bus, telegram_api: FakeTelegramApi, tmp_path: Path) -> None:
    async with running_chat(bus, telegram_api, tmp_path, widget_connects_per_address="5/minute") as chat, \
            aiohttp.ClientSession() as http:
        statuses = [await connect_status(http, chat) for _ in range(40)]
        assert [s for s, _ in statuses[:5]] == [101] * 5
        assert {s for s, _ in statuses[5:]} == {429}
        assert 1 <= int(statuses[-1][1]) <= 60
        # no proxy is trusted: a forged X-Forwarded-For does not buy a fresh budget
        assert (await connect_status(http, chat, "203.0.113.9"))[0] == 429


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
        bus: Bus, telegram_api: FakeTelegramApi, tmp_path: Path) -> None:
    async with running_chat(bus, telegram_api, tmp_path, widget_connects_per_address="2/minute",
                            chat_trusted_proxies="127.0.0.0/8") as chat, aiohttp.ClientSession() as http:
        one = [await connect_status(http, chat, "198.51.100.7, 127.0.0.1") for _ in range(3)]
        two = [await connect_status(http, chat, "198.51.100.8") for _ in range(3)]
        assert [s for s, _ in one] == [s for s, _ in two] == [101, 101, 429]  # a budget per client behind it


async def test_new_visitors_are_limited_per_address_but_returning_ones_are_not(
        bus: Bus, telegram_api: FakeTelegramApi, tmp_path: Path) -> None:
    async with running_chat(bus, telegram_api, tmp_path, widget_new_visitors_per_address="3/minute") as chat, \
            aiohttp.ClientSession() as http:
        tokens = []
        for _ in range(3):
            ws, welcome = await hello(http, chat)
            tokens.append(welcome["token"])
            await ws.close()
        ws, refused = await hello(http, chat)
        assert refused["code"] == "rate_limited" and 1 <= refused["retry_after"] <= 60
        assert "秒后再试" in refused["message"]
        await ws.receive(timeout=5)
        assert ws.close_code == 4429
        ws, welcome = await hello(http, chat, token=tokens[0])
        assert welcome["type"] == "welcome"
        await ws.close()
