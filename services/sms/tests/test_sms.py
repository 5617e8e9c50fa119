"""The SMS channel against real NATS and the Twilio API double, with real Twilio signatures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, new_id
from omnihub.common.health import Readiness, install_health
from omnihub.sms.app import build_app
from omnihub.sms.handlers import SMS, SmsChannel
from omnihub.sms.twilio_gateway import TwilioMessaging
from omnihub.testkit.fakes.twilio_api import Failure, FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import read_events, read_messages

OUR_NUMBER = "+15550001111"
CUSTOMER = "+8613800138000"


@dataclass
class Harness:
    fake: FakeTwilio
    bus: Bus
    url: str
    channel: SmsChannel


@pytest.fixture
async def sms(bus: Bus) -> AsyncIterator[Harness]:
    fake = FakeTwilio()
    await fake.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = TwilioMessaging(fake.account_sid, fake.auth_token, fake.base_url)
    channel = SmsChannel(bus, gateway, fake.auth_token, url, OUR_NUMBER,
                         await bus.kv(subjects.KV_SMS_OPTOUT), await bus.kv(subjects.KV_SMS_SURVEYS))
    consumer = await bus.consume(
        stream=subjects.STREAM_CONTACTS_OUT, durable=subjects.outbound_durable(SMS),
        subjects=[subjects.outbound(SMS)], message_type=messaging_pb2.OutboundMessage,
        handler=channel.deliver, max_deliver=5)
    app = build_app(channel)
    install_health(app, Readiness(), "sms")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Harness(fake, bus, url, channel)
    await consumer.stop()
    await runner.cleanup()
    await gateway.close()
    await fake.stop()


async def test_signed_inbound_sms_is_published_once_even_when_retried(sms: Harness) -> None:
    params = sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "我的订单在哪里？",
                                  media=[("https://api.twilio.com/media/ME1", "image/jpeg")])
    first = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", params)
    retry = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", params)
    assert first.status == retry.status == 200
    assert first.content_type == "application/xml"
    msgs = [messaging_pb2.InboundMessage.FromString(m.data) for m in await read_messages(sms.bus, "contacts.inbound.sms")]
    assert len(msgs) == 1
    msg = msgs[0]
    assert msg.text.text == "我的订单在哪里？" and msg.identity.source_id == CUSTOMER
    assert msg.provider_message_id == params["MessageSid"]
    assert msg.text.attachments[0].content_type == "image/jpeg"


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", "tampered"])
async def test_bad_or_missing_signature_is_403_and_nothing_published(sms: Harness, signature: str) -> None:
    params = sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "hi")
    if signature == "tampered":
        signature = sms.fake.sign(f"{sms.url}/twilio/sms", params)
        params["Body"] = "hi, changed in flight"
    resp = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", params, signature=signature)
    assert resp.status == 403
    status = await sms.fake.post_webhook(f"{sms.url}/twilio/sms/status", {"MessageSid": "SM1"}, signature=signature or "x")
    assert status.status == 403
    assert await read_messages(sms.bus, "contacts.>") == []


async def test_signature_uses_the_public_url_behind_a_proxy(bus: Bus, sms: Harness) -> None:
    sms.channel.public_base_url = "https://hub.example.com"
    params = sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "via proxy")
    ok = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", params, public_url="https://hub.example.com/twilio/sms")
    assert ok.status == 200
    wrong = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "x"))
    assert wrong.status == 403


def outbound(text: str, to: str = CUSTOMER, kind: int = messaging_pb2.OUTBOUND_KIND_REPLY) -> messaging_pb2.OutboundMessage:
    return messaging_pb2.OutboundMessage(
        id=new_id("out"), channel=SMS, identity=contact_pb2.Identity(channel=SMS, source_id=to),
        conversation_id="cnv_1", text=text, kind=kind)  # type: ignore[arg-type]


async def send(bus: Bus, out: messaging_pb2.OutboundMessage) -> None:
    await bus.publish(subjects.outbound(SMS), out, msg_id=out.id)


async def test_outbound_success_then_delivery_callback(sms: Harness) -> None:
    out = outbound("Your parcel ships today.")
    await send(sms.bus, out)
    sent = await read_events(sms.bus, "message_sent", count=1)
    assert sent[0].message_sent.message_id == out.id
    sid = sent[0].message_sent.provider_message_id
    assert sms.fake.messages[sid]["body"] == "Your parcel ships today."
    assert sms.fake.messages[sid]["from"] == OUR_NUMBER
    resp = await sms.fake.deliver(sid)
    assert resp.status == 204
    delivered = await read_events(sms.bus, "message_delivered", count=1)
    assert delivered[0].message_delivered.message_id == out.id
    assert delivered[0].conversation_id == "cnv_1"


async def test_unsubscribed_number_is_a_permanent_failure_without_retry(sms: Harness) -> None:
    sms.fake.unsubscribed.add("+15559990000")
    await send(sms.bus, outbound("hello", to="+15559990000"))
    failed = await read_events(sms.bus, "message_failed", count=1)
    assert failed[0].message_failed.permanent and failed[0].message_failed.error_code == "21610"
    attempts = [r for r in sms.fake.requests if r[2].get("To") == "+15559990000"]
    assert len(attempts) == 1


async def test_429_and_500_are_retried_with_backoff_then_succeed(sms: Harness) -> None:
    sms.fake.fail_next += [Failure(429, 20429, "Too Many Requests"), Failure(500, 20500, "Internal Server Error")]
    out = outbound("retry me")
    await send(sms.bus, out)
    sent = await read_events(sms.bus, "message_sent", count=1, timeout=20)
    assert sent and sent[0].message_sent.message_id == out.id
    assert len([r for r in sms.fake.requests if r[2].get("Body") == "retry me"]) == 3


async def test_body_over_1600_is_refused_with_a_clear_error(sms: Harness) -> None:
    await send(sms.bus, outbound("x" * 1601))
    failed = await read_events(sms.bus, "message_failed", count=1)
    assert "1601 characters" in failed[0].message_failed.error_message
    assert not sms.fake.requests


async def test_a_file_mms_cannot_carry_fails_with_its_rule_before_twilio(sms: Harness) -> None:
    text = outbound("notes")  # Twilio MMS takes no text/plain
    text.attachments.add(file_name="a.txt", content_type="text/plain", uri="https://files.example/a.txt", size_bytes=3)
    heavy = outbound("photos")  # 5 MB for the whole message
    for name in ("a.png", "b.png"):
        heavy.attachments.add(file_name=name, content_type="image/png", uri=f"https://files.example/{name}",
                              size_bytes=3 * 1024 * 1024)
    await send(sms.bus, text)
    await send(sms.bus, heavy)
    failed = await read_events(sms.bus, "message_failed", count=2)
    codes = {e.message_failed.message_id: e.message_failed.error_code for e in failed}
    assert codes == {text.id: "channel_type", heavy.id: "channel_total"}
    assert all(e.message_failed.permanent for e in failed)
    assert not sms.fake.requests


async def test_stop_opts_out_and_start_opts_back_in(sms: Harness) -> None:
    stop = sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, " stop ")
    assert (await sms.fake.post_webhook(f"{sms.url}/twilio/sms", stop)).status == 200
    await send(sms.bus, outbound("promo"))
    failed = await read_events(sms.bus, "message_failed", count=1)
    assert failed[0].message_failed.error_code == "opted_out"
    assert not sms.fake.requests
    start = sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "START")
    await sms.fake.post_webhook(f"{sms.url}/twilio/sms", start)
    await send(sms.bus, outbound("welcome back"))
    assert (await read_events(sms.bus, "message_sent", count=1))
    opts = await read_events(sms.bus, "customer_opt_out", count=2)
    assert [e.customer_opt_out.opted_out for e in opts] == [True, False]


async def test_survey_reply_becomes_an_answer_not_a_message(sms: Harness) -> None:
    survey = outbound("", kind=messaging_pb2.OUTBOUND_KIND_SURVEY)
    survey.survey_id, survey.survey_question = "srv_1", "csat"
    await send(sms.bus, survey)
    sent = await read_events(sms.bus, "message_sent", count=1)
    assert "Reply 1" in sms.fake.messages[sent[0].message_sent.provider_message_id]["body"]
    reply = sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "5")
    await sms.fake.post_webhook(f"{sms.url}/twilio/sms", reply)
    answered = await read_events(sms.bus, "survey_answered", count=1)
    assert answered[0].survey_answered.score == 5 and answered[0].conversation_id == "cnv_1"
    assert await read_messages(sms.bus, "contacts.inbound.sms") == []


HOSTILE_FIELDS = [
    {"From": "+1" + "5" * 4_999},  # the 5,000-character From that cut the service off from NATS
    {"From": "+1234567890123456"},  # 16 digits: E.164 allows 15
    {"From": ""},
    {"To": "tel:" + "9" * 300},
    {"MessageSid": "SM1"},
    {"MessageSid": "XX" + "0" * 32},
    {"MessageSid": "SM" + "g" * 32},
    {"NumMedia": "abc"},
    {"NumMedia": "11"},
    {"NumMedia": "-1"},
    {"NumMedia": "1", "MediaUrl0": "javascript:alert(1)"},
    {"NumMedia": "1", "MediaUrl0": ""},
    {"NumMedia": "1", "MediaUrl0": "https://api.twilio.com/m", "MediaContentType0": "x" * 300},
    {"Body": "x" * 5_000},
    {"Body": "nul \x00 inside"},
]


@pytest.mark.parametrize("bad", HOSTILE_FIELDS, ids=lambda bad: ",".join(f"{k}:{v[:12]!r}" for k, v in bad.items()))
async def test_a_signed_sms_with_a_hostile_field_is_400_and_the_service_stays_connected(
        bus: Bus, sms: Harness, bad: dict[str, str]) -> None:
    sms.channel.senders = await bus.kv(subjects.KV_SMS_SENDERS)  # as in the service: From becomes a KV key
    params = {**sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "hi"), **bad}
    resp = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", params)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["field"] in bad
    assert await read_messages(bus, "contacts.>") == []
    assert bus.connected and not bus.lost
    good = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", sms.fake.inbound_sms(OUR_NUMBER, CUSTOMER, "still here"))
    assert good.status == 200
    assert len(await read_messages(bus, "contacts.inbound.sms")) == 1


async def test_whatsapp_numbers_and_short_codes_are_accepted(sms: Harness) -> None:
    for from_, to in (("whatsapp:+8613800138000", "whatsapp:+15550001111"), ("+8613800138000", "72345")):
        resp = await sms.fake.post_webhook(f"{sms.url}/twilio/sms", sms.fake.inbound_sms(to, from_, "hello"))
        assert resp.status == 200, await resp.text()


@pytest.mark.parametrize("bad", [{"MessageSid": "SM" + "1" * 300}, {"MessageStatus": "d" * 100},
                                 {"ErrorCode": "3" * 5_000}])
async def test_a_signed_status_callback_with_a_hostile_field_is_400(bus: Bus, sms: Harness, bad: dict[str, str]) -> None:
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "failed", **bad}
    resp = await sms.fake.post_webhook(f"{sms.url}/twilio/sms/status", params)
    assert resp.status == 400
    assert await read_messages(bus, "contacts.>") == []


async def test_a_hostile_id_in_the_signed_status_url_is_400(bus: Bus, sms: Harness) -> None:
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered"}
    resp = await sms.fake.post_webhook(f"{sms.url}/twilio/sms/status?omnihub_id=" + "m" * 5_000, params)
    assert resp.status == 400
    assert await read_messages(bus, "contacts.>") == []


async def test_a_reply_queued_for_an_erased_conversation_is_never_sent(sms: Harness) -> None:
    """Erased while the reply waited in the stream: the consumer drops it (the tombstone's conversation rule, which
    needs no key), so nothing reaches Twilio or the sms service's KV; the next conversation's reply goes out."""
    import contextlib
    import time

    from omnihub.common import tombstones

    erased = tombstones.Tombstones(b"")  # the sms service holds no digest key in Kubernetes
    async with contextlib.AsyncExitStack() as stack:
        await tombstones.watch(sms.bus, erased, stack, only=(messaging_pb2.OutboundMessage,))
        await tombstones.put(sms.bus, tombstones.Tombstones(b"other"), {
            "customer_id": "cus_gone", "time": time.time(), "identities": [], "conversations": ["cnv_1"]})
        late = outbound("Dear customer, about your order")
        await send(sms.bus, late)
        fresh = outbound("Hello again", to="+8613800138001")
        fresh.conversation_id = "cnv_2"
        await send(sms.bus, fresh)
        sent = await read_events(sms.bus, "message_sent", count=1)
        assert [e.message_sent.message_id for e in sent] == [fresh.id]  # in order: the late one was handled first
        assert [m["body"] for m in sms.fake.messages.values()] == ["Hello again"]
    sms.bus.scrub = None
