"""Voice webhooks against real NATS and the Twilio API double, with real Twilio signatures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import read_messages
from omnihub.voice import twiml
from omnihub.voice.app import build_app
from omnihub.voice.config import Menu, MenuOption, VoiceConfig
from omnihub.voice.handlers import VoiceChannel

OURS = "+15550002222"
CALLER = "+8613900139000"
MENU = VoiceConfig(menus={OURS: Menu(greeting="Welcome.", default_queue="support", options=[
    MenuOption(digit="1", words=["sales"], label="sales", queue="sales"),
    MenuOption(digit="9", words=["chinese"], label="Chinese", queue="support", language="zh-CN")])})
ENDPOINTS = ["", "/gather", "/wait", "/callback", "/queue-result", "/status", "/recording", "/voicemail", "/transcription"]

def sid(prefix: str, n: int) -> str:
    """A Twilio SID of the real shape: two letters and 32 hex digits."""
    return f"{prefix}{n:032d}"


@dataclass
class Harness:
    fake: FakeTwilio
    bus: Bus
    url: str
    channel: VoiceChannel

    async def post(self, path: str, **params: str) -> tuple[int, str]:
        resp = await self.fake.post_webhook(f"{self.url}/twilio/voice{path}", params)
        return resp.status, (await resp.text())


@pytest.fixture
async def voice(bus: Bus) -> AsyncIterator[Harness]:
    fake = FakeTwilio()
    await fake.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    channel = VoiceChannel(bus, MENU, fake.account_sid, fake.auth_token, url, OURS,
                           await bus.kv(subjects.KV_VOICE_CALLS), fake.base_url)
    runner = web.AppRunner(build_app(channel))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Harness(fake, bus, url, channel)
    await runner.cleanup()
    await channel.close()
    await fake.stop()


async def inbound(bus: Bus) -> list[messaging_pb2.InboundMessage]:
    """What the webhooks published (each publishes before it answers Twilio)."""
    return [messaging_pb2.InboundMessage.FromString(m.data) for m in await read_messages(bus, "contacts.inbound.voice")]


def verbs(doc: str) -> set[str]:
    root = ET.fromstring(doc)
    assert root.tag == "Response"
    return {el.tag for el in root.iter()}


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_every_endpoint_refuses_a_bad_or_missing_signature(voice: Harness, path: str) -> None:
    for signature in ("", "bm9wZQ=="):
        resp = await voice.fake.post_webhook(f"{voice.url}/twilio/voice{path}", {"CallSid": "CA" + "1" * 32}, signature=signature)
        assert resp.status == 403
    assert await inbound(voice.bus) == []


async def test_ivr_choice_becomes_routing_hints_and_enqueues(voice: Harness) -> None:
    status, doc = await voice.post("", CallSid=sid("CA", 100), From=CALLER, To=OURS)
    assert status == 200 and {"Gather", "Say", "Redirect"} <= verbs(doc)
    assert "press 1" in doc and 'input="dtmf speech"' in doc
    status, doc = await voice.post("/gather", CallSid=sid("CA", 100), Digits="9", From=CALLER, To=OURS)
    assert "Enqueue" in verbs(doc)
    status, _again = await voice.post("/gather", CallSid=sid("CA", 100), Digits="9", From=CALLER, To=OURS)  # Twilio retry
    msgs = await inbound(voice.bus)
    events = [m.voice.event for m in msgs]
    assert events == [messaging_pb2.CALL_EVENT_TYPE_RINGING, messaging_pb2.CALL_EVENT_TYPE_IVR_CHOICE,
                      messaging_pb2.CALL_EVENT_TYPE_QUEUED]
    queued = msgs[-1]
    assert queued.routing_hints.queue == "support" and queued.routing_hints.language_code == "zh-CN"
    assert queued.routing_hints.entry_point == f"ivr:{OURS}" and queued.thread_key == sid("CA", 100)


async def test_speech_choice_and_wait_music_with_callback_offer(voice: Harness) -> None:
    await voice.post("", CallSid=sid("CA", 200), From=CALLER, To=OURS)
    _, doc = await voice.post("/gather", CallSid=sid("CA", 200), SpeechResult="I want to talk to Sales", From=CALLER, To=OURS)
    assert "sales</Enqueue>" in doc
    _, wait = await voice.post("/wait", CallSid=sid("CA", 200), QueuePosition="3", QueueTime="40")
    assert "number 3 in line" in wait and "press 1" in wait and {"Gather", "Play"} <= verbs(wait)


async def test_hang_up_while_queued_is_an_abandon_with_the_wait(voice: Harness) -> None:
    await voice.post("", CallSid=sid("CA", 300), From=CALLER, To=OURS)
    await voice.post("/gather", CallSid=sid("CA", 300), Digits="1", From=CALLER, To=OURS)
    await voice.post("/queue-result", CallSid=sid("CA", 300), QueueResult="hangup", QueueTime="37")
    await voice.post("/status", CallSid=sid("CA", 300), CallStatus="completed", CallDuration="50")
    abandoned = [m for m in await inbound(voice.bus) if m.voice.event == messaging_pb2.CALL_EVENT_TYPE_ABANDONED]
    assert len(abandoned) == 1 and abandoned[0].voice.wait_duration.seconds == 37


async def test_closed_hours_go_to_voicemail(voice: Harness) -> None:
    async def closed(msg: object) -> None:
        resp = routing_pb2.GetQueueStatsResponse(stats=[routing_pb2.QueueStats(queue="support", open_now=False)])
        await msg.respond(resp.SerializeToString())  # type: ignore[attr-defined]

    sub = await voice.bus.nc.subscribe(subjects.QUEUE_STATS_REQUEST, cb=closed)
    await voice.post("", CallSid=sid("CA", 400), From=CALLER, To=OURS)
    _, doc = await voice.post("/gather", CallSid=sid("CA", 400), Digits="2", From=CALLER, To=OURS)
    await sub.unsubscribe()
    assert "Record" in verbs(doc) and 'transcribe="true"' in doc
    await voice.post("/voicemail", CallSid=sid("CA", 400), RecordingUrl="https://api.twilio.com/RE400")
    await voice.post("/transcription", CallSid=sid("CA", 400), TranscriptionText="Please call me about my bill")
    vm = [m for m in await inbound(voice.bus) if m.voice.event == messaging_pb2.CALL_EVENT_TYPE_VOICEMAIL]
    assert vm[0].voice.recording_uri.endswith("RE400") and vm[1].voice.transcript.startswith("Please call")


async def test_a_call_recording_is_stored_on_the_conversation(voice: Harness) -> None:
    await voice.post("", CallSid=sid("CA", 500), From=CALLER, To=OURS)
    status, _ = await voice.post("/recording?conversation_id=cnv_5", CallSid=sid("CA", 500), RecordingSid=sid("RE", 500),
                                 RecordingUrl="https://api.twilio.com/RE500", RecordingDuration="61")
    assert status == 204
    recs = [m for m in await inbound(voice.bus) if m.voice.recording_uri]
    assert recs and recs[0].voice.recording_uri.endswith("RE500") and recs[0].thread_key == sid("CA", 500)


def test_every_twiml_document_parses_and_uses_only_twilio_verbs() -> None:
    menu = MENU.menu_for(OURS)
    docs = [twiml.greeting(menu, "https://hub"), twiml.enqueue("support", "https://hub", "en-US"),
            twiml.waiting(2, 90, "https://hub", "1", "en-US"), twiml.callback_confirmed("en-US"),
            twiml.voicemail("https://hub", "en-US"), twiml.empty()]
    docs += [twiml.join_conference("cnv_1", "https://hub", "thread=CA1&conversation_id=cnv_1"), twiml.play_digits("12#w")]
    for doc in docs:
        assert verbs(doc) <= twiml.TWILIO_VERBS, doc


HOSTILE = [
    ("/wait", {"QueuePosition": "abc"}),
    ("/wait", {"QueuePosition": "1e999"}),
    ("/recording", {"RecordingSid": sid("RE", 7), "RecordingDuration": "abc"}),
    ("/recording", {"RecordingSid": sid("RE", 7), "RecordingDuration": "nan"}),
    ("/recording", {"RecordingSid": "RE" + "7" * 5_000}),
    ("/recording", {"RecordingSid": sid("RE", 7), "RecordingUrl": "file:///etc/passwd"}),
    ("/queue-result", {"QueueResult": "hangup", "QueueTime": "-5"}),
    ("", {"From": "+1" + "5" * 4_999}),
    ("", {"To": "+1234567890123456"}),
    ("/gather", {"Digits": "1" * 100}),
    ("/voicemail", {"RecordingUrl": "x" * 3_000}),
]


@pytest.mark.parametrize(("path", "bad"), HOSTILE, ids=lambda v: str(v)[:30])
async def test_a_signed_webhook_with_a_hostile_field_is_400_and_nothing_is_published(
        voice: Harness, path: str, bad: dict[str, str]) -> None:
    status, text = await voice.post(path, **{"CallSid": sid("CA", 700), "From": CALLER, "To": OURS, **bad})
    assert status == 400, text
    assert await inbound(voice.bus) == []
    assert voice.bus.connected and not voice.bus.lost


@pytest.mark.parametrize("call", ["CA1", "CA" + "1" * 5_000, "SM" + "1" * 32, ""])
async def test_every_endpoint_refuses_a_call_sid_of_the_wrong_shape(voice: Harness, call: str) -> None:
    for path in ENDPOINTS:
        status, _ = await voice.post(path, CallSid=call, From=CALLER, To=OURS)
        assert status == 400, path
    status, _ = await voice.post(f"/status?thread={'CA' + '2' * 3_000}", CallSid=sid("CA", 701), CallStatus="completed")
    assert status == 400
    assert await inbound(voice.bus) == []


async def test_client_sip_and_anonymous_callers_are_accepted(voice: Harness) -> None:
    for n, caller in enumerate(("client:alice", "sip:bob@example.com", "anonymous", "+266696687")):
        status, _ = await voice.post("", CallSid=sid("CA", 800 + n), From=caller, To=OURS)
        assert status == 200, caller
