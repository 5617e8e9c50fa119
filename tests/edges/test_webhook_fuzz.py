"""Property-based fuzz of every provider webhook with VALID signatures: never a 5xx, nothing published on a 4xx.

Twilio SMS (inbound, status), Twilio Voice (every webhook, status and recording included) and Telegram, each
against real NATS and the provider doubles, which sign exactly as Twilio and Telegram do. Hypothesis draws the
fields from valid values, near misses (too long, wrong shape, not a number) and arbitrary text; the examples are
bounded so the module runs in seconds. Set FUZZ_EXAMPLES to draw more.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnihub.chat.app import ChatService
from omnihub.chat.config import ChatSettings
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.sms.app import build_app as sms_app
from omnihub.sms.handlers import SmsChannel
from omnihub.sms.twilio_gateway import TwilioMessaging
from omnihub.testkit.fakes.telegram_api import FakeTelegramApi
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.voice.app import build_app as voice_app
from omnihub.voice.config import Menu, MenuOption, VoiceConfig
from omnihub.voice.handlers import VoiceChannel

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
OURS = "+15550004444"
SECRET = "fuzz-webhook-secret"
T = TypeVar("T")

# ---- field values: valid, near misses and noise --------------------------------------------------------
HEX32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
NOISE = st.one_of(st.text(max_size=40), st.text(min_size=300, max_size=6_000), st.binary(max_size=30).map(
    lambda b: b.decode("latin-1")))
NUMBERS = st.one_of(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True), st.from_regex(r"\+?[0-9]{10,40}",
                                                                                       fullmatch=True))
PHONE = st.one_of(NUMBERS, st.sampled_from(["whatsapp:+8613800138000", "72345", "client:alice", "anonymous",
                                            "+" + "5" * 5_000, ""]), NOISE)
INTEGERS = st.one_of(st.integers(min_value=-5, max_value=20).map(str), st.sampled_from(
    ["abc", "1e999", "nan", "inf", "-0", "1.5", " 3", "9" * 400, "", "0x10"]), NOISE)
SECONDS = st.one_of(st.floats(min_value=-10, max_value=1e6).map(str), INTEGERS)
URLS = st.one_of(st.just("https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"),
                 st.sampled_from(["javascript:alert(1)", "file:///etc/passwd", "https://x/" + "a" * 3_000]), NOISE)
STATUS = st.one_of(st.sampled_from(["queued", "sent", "delivered", "read", "failed", "undelivered", "completed",
                                    "busy", "no-answer", "canceled", "hangup", "leave", "x" * 200]), NOISE)


def sid(prefix: str) -> st.SearchStrategy[str]:
    """A SID of the right prefix, or of another, or of the wrong length, or noise."""
    right = HEX32.map(lambda h: prefix + h)
    return st.one_of(right, right, HEX32.map(lambda h: "XX" + h), st.from_regex(prefix + r"[0-9a-f]{0,40}",
                                                                                   fullmatch=True), NOISE)


def form(fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[dict[str, str]]:
    """A form holding any subset of `fields`, each drawn from its strategy."""
    return st.fixed_dictionaries({}, optional=fields)


SMS_FIELDS = {"MessageSid": sid("SM"), "From": PHONE, "To": PHONE, "Body": st.one_of(st.text(max_size=200), NOISE),
              "NumMedia": INTEGERS, "MediaUrl0": URLS, "MediaContentType0": st.one_of(st.just("image/jpeg"), NOISE),
              "MediaUrl1": URLS, "AccountSid": NOISE}
SMS_STATUS_FIELDS = {"MessageSid": sid("SM"), "MessageStatus": STATUS, "ErrorCode": INTEGERS}
VOICE_FIELDS = {"CallSid": sid("CA"), "From": PHONE, "To": PHONE, "Digits": st.one_of(INTEGERS, st.just("1")),
                "SpeechResult": NOISE, "QueuePosition": INTEGERS, "QueueTime": SECONDS, "QueueResult": STATUS,
                "CallStatus": STATUS, "CallDuration": INTEGERS, "RecordingSid": sid("RE"), "RecordingUrl": URLS,
                "RecordingDuration": SECONDS, "TranscriptionText": NOISE, "ConferenceSid": sid("CF"),
                "StatusCallbackEvent": STATUS}
VOICE_PATHS = ["", "/gather", "/wait", "/callback", "/queue-result", "/status", "/recording", "/voicemail",
               "/transcription", "/conference", "/conference-recording", "/dtmf"]
QUERY = st.one_of(st.just(""), st.builds(lambda k, v: f"?{k}={v}", st.sampled_from(
    ["thread", "conversation_id", "omnihub_id", "digits"]), st.one_of(HEX32.map(lambda h: "CA" + h),
                                                            st.text(alphabet="abc_", min_size=1, max_size=3_000))))

# Telegram: JSON of any shape, and updates whose every field may be wrong.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
TG_ID = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=20), st.booleans(), st.none(),
                  st.floats(allow_nan=False))
TG_USER = st.fixed_dictionaries({"id": TG_ID, "is_bot": st.booleans(), "first_name": st.text(max_size=300)},
                                optional={"language_code": st.text(max_size=10), "last_name": JSON})
TG_MESSAGE = st.fixed_dictionaries(
    {"message_id": TG_ID, "date": st.one_of(st.integers(min_value=0, max_value=2**40), JSON),
     "chat": st.fixed_dictionaries({"id": TG_ID, "type": st.sampled_from(["private", "group", "x"])})},
    optional={"text": st.one_of(st.text(max_size=200), JSON), "from": st.one_of(TG_USER, JSON),
              "caption": st.text(max_size=50), "photo": st.lists(JSON, max_size=3), "document": JSON})
TG_UPDATE = st.one_of(
    st.fixed_dictionaries({"update_id": TG_ID}, optional={"message": st.one_of(TG_MESSAGE, JSON),
                                                          "edited_message": st.one_of(TG_MESSAGE, JSON),
                                                          "callback_query": JSON}),
    JSON)
TG_BODY = st.one_of(TG_UPDATE.map(lambda u: json.dumps(u).encode()),
                    st.sampled_from([b"[" * 2_000 + b"]" * 2_000, b'{"update_id": 1e999}', b'{"update_id": NaN}',
                                     b'{"update_id": 5, "message": {"text": "\\udc00"}}', b"\xff\xfe", b""]),
                    st.binary(max_size=64))


# ---- the services under fuzz ---------------------------------------------------------------------------
@dataclass
class Edges:
    bus: Bus
    twilio: FakeTwilio
    sms: str
    voice: str
    chat: str
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
async def edges(bus: Bus, tmp_path: Path) -> AsyncIterator[Edges]:
    twilio = FakeTwilio()
    await twilio.start()
    telegram = await FakeTelegramApi().start()
    gateway = TwilioMessaging(twilio.account_sid, twilio.auth_token, twilio.base_url)
    runners: list[web.AppRunner] = []

    async def serve(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    sms_port, voice_port = free_port(), free_port()
    sms_url, voice_url = f"http://127.0.0.1:{sms_port}", f"http://127.0.0.1:{voice_port}"
    sms = SmsChannel(bus, gateway, twilio.auth_token, sms_url, OURS, await bus.kv(subjects.KV_SMS_OPTOUT),
                     await bus.kv(subjects.KV_SMS_SURVEYS), senders=await bus.kv(subjects.KV_SMS_SENDERS))
    menu = VoiceConfig(menus={OURS: Menu(greeting="Hi.", default_queue="support", options=[
        MenuOption(digit="1", words=["sales"], label="sales", queue="sales")])})
    voice = VoiceChannel(bus, menu, twilio.account_sid, twilio.auth_token, voice_url, OURS,
                         await bus.kv(subjects.KV_VOICE_CALLS), twilio.base_url)
    chat = ChatService(ChatSettings(
        nats_url="unused", var_dir=tmp_path, widget_signing_key="fuzz-key",  # type: ignore[arg-type]
        telegram_bot_token=telegram.token, telegram_webhook_secret=SECRET,  # type: ignore[arg-type]
        telegram_base_url=telegram.base_url, telegram_base_file_url=telegram.base_file_url), bus)
    for url, app in ((sms_url, sms_app(sms)), (voice_url, voice_app(voice))):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", int(url.rsplit(":", 1)[1])).start()
        runners.append(runner)
    chat_url = await serve(await chat.start())
    yield Edges(bus, twilio, sms_url, voice_url, chat_url)
    await chat.stop()
    for runner in runners:
        await runner.cleanup()
    await voice.close()
    await gateway.close()
    await telegram.stop()
    await twilio.stop()


async def stored(bus: Bus) -> tuple[int, int]:
    """Messages in the streams an edge publishes to (inbound contacts, events)."""
    counts = []
    for stream in (subjects.STREAM_CONTACTS_IN, subjects.STREAM_EVENTS):
        counts.append(int((await bus.js.stream_info(stream)).state.messages))
    return counts[0], counts[1]


async def check(edges: Edges, post: Callable[[], Awaitable[tuple[int, str]]]) -> None:
    """One request: never a 5xx; when refused with a 4xx, nothing new is stored; the bus stays connected."""
    before = await stored(edges.bus)
    status, text = await post()
    edges.statuses.append(status)
    assert status < 500, (status, text[:300])
    if 400 <= status < 500:
        assert await stored(edges.bus) == before, (status, text[:300])
    assert edges.bus.connected and not edges.bus.lost


def fuzz(edges: Edges, strategy: st.SearchStrategy[T],
         post: Callable[[T], Awaitable[tuple[int, str]]]) -> Callable[[], None]:
    """A hypothesis run for a worker thread; each example's request runs on the test's event loop."""
    loop = asyncio.get_running_loop()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def example(value: T) -> None:
        asyncio.run_coroutine_threadsafe(check(edges, lambda: post(value)), loop).result(timeout=60)

    return example


async def twilio_post(edges: Edges, url: str, params: dict[str, str]) -> tuple[int, str]:
    resp = await edges.twilio.post_webhook(url, params)
    return resp.status, await resp.text()


async def test_twilio_sms_inbound_and_status(edges: Edges) -> None:
    base = {"MessageSid": "SM" + "a" * 32, "From": "+8613800138000", "To": OURS, "Body": "hi", "NumMedia": "0"}
    inbound = form(SMS_FIELDS).map(lambda f: {**base, **f})
    await asyncio.to_thread(fuzz(edges, inbound, lambda f: twilio_post(edges, f"{edges.sms}/twilio/sms", f)))
    status = st.tuples(QUERY, form(SMS_STATUS_FIELDS))
    await asyncio.to_thread(fuzz(edges, status, lambda qf: twilio_post(
        edges, f"{edges.sms}/twilio/sms/status{qf[0]}", qf[1])))
    report(edges, "sms")


async def test_twilio_voice_every_webhook(edges: Edges) -> None:
    base = {"CallSid": "CA" + "b" * 32, "From": "+8613900139000", "To": OURS}
    requests = st.tuples(st.sampled_from(VOICE_PATHS), QUERY, form(VOICE_FIELDS).map(lambda f: {**base, **f}))
    await asyncio.to_thread(fuzz(edges, requests, lambda r: twilio_post(
        edges, f"{edges.voice}/twilio/voice{r[0]}{r[1]}", r[2])))
    report(edges, "voice")


async def test_telegram_webhook(edges: Edges) -> None:
    async with aiohttp.ClientSession() as http:
        async def post(body: bytes) -> tuple[int, str]:
            headers = {"x-telegram-bot-api-secret-token": SECRET, "Content-Type": "application/json"}
            async with http.post(f"{edges.chat}/telegram/webhook", data=body, headers=headers) as resp:
                return resp.status, await resp.text()

        await asyncio.to_thread(fuzz(edges, TG_BODY, post))
    report(edges, "telegram")


def report(edges: Edges, what: str) -> None:
    """Printed with -s: the request count and what came back (the notes quote it)."""
    counts = {s: edges.statuses.count(s) for s in sorted(set(edges.statuses))}
    print(f"fuzz {what}: {len(edges.statuses)} requests, statuses {counts}")
    assert not any(s >= 500 for s in edges.statuses)
