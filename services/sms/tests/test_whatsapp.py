"""WhatsApp through Twilio: its own channel, the 24-hour window, Content API templates, media, read receipts, opt-out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus
from omnihub.common.health import Readiness, install_health
from omnihub.sms.app import build_app
from omnihub.sms.handlers import SMS, WHATSAPP, SmsChannel
from omnihub.sms.twilio_gateway import TwilioMessaging
from omnihub.testkit.fakes.twilio_api import TEMPLATE_SID, FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import read_events, read_messages

OUR = "whatsapp:+15550001111"
CUSTOMER = "whatsapp:+8613800138000"


@dataclass
class Harness:
    fake: FakeTwilio
    bus: Bus
    url: str
    channel: SmsChannel

    async def inbound(self, body: str, media: list[tuple[str, str]] | None = None, sid: str | None = None) -> int:
        form = self.fake.inbound_sms(OUR, CUSTOMER, body, sid=sid, media=media)
        resp = await self.fake.post_webhook(f"{self.url}/twilio/whatsapp", form)
        return resp.status

    def sent(self) -> list[dict[str, object]]:
        return list(self.fake.messages.values())


@pytest.fixture
async def wa(bus: Bus) -> AsyncIterator[Harness]:
    fake = FakeTwilio()
    await fake.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = TwilioMessaging(fake.account_sid, fake.auth_token, fake.base_url)
    channel = SmsChannel(bus, gateway, fake.auth_token, url, "+15550001111",
                         await bus.kv(subjects.KV_SMS_OPTOUT), await bus.kv(subjects.KV_SMS_SURVEYS),
                         senders=await bus.kv(subjects.KV_SMS_SENDERS),
                         windows=await bus.kv(subjects.KV_WHATSAPP_WINDOWS))
    consumers = [await bus.consume(
        stream=subjects.STREAM_CONTACTS_OUT, durable=subjects.outbound_durable(ch),
        subjects=[subjects.outbound(ch)], message_type=messaging_pb2.OutboundMessage,
        handler=channel.deliver, max_deliver=5) for ch in (SMS, WHATSAPP)]
    app = build_app(channel)
    install_health(app, Readiness(), "sms")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield Harness(fake, bus, url, channel)
    for consumer in consumers:
        await consumer.stop()
    await runner.cleanup()
    await gateway.close()
    await fake.stop()


def reply(out_id: str, text: str = "Hi, this is Alice from support", **extra: object) -> messaging_pb2.OutboundMessage:
    return messaging_pb2.OutboundMessage(
        id=out_id, channel=WHATSAPP, identity=contact_pb2.Identity(channel=WHATSAPP, source_id=CUSTOMER),
        conversation_id="conv_wa", thread_key=CUSTOMER, text=text, **extra)  # type: ignore[arg-type]


async def test_whatsapp_inbound_is_its_own_channel_with_media(wa: Harness) -> None:
    media = [("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")]
    for _ in range(2):  # Twilio retries: one message
        assert await wa.inbound("my parcel", media=media, sid="MM" + "a" * 32) == 200
    raw = await read_messages(wa.bus, subjects.inbound(WHATSAPP))
    assert len(raw) == 1
    msg = messaging_pb2.InboundMessage.FromString(raw[0].data)
    assert msg.channel == WHATSAPP and msg.identity.channel == WHATSAPP
    assert msg.identity.source_id == CUSTOMER and msg.thread_key == CUSTOMER
    assert msg.routing_hints.entry_point == "whatsapp:+15550001111"
    assert msg.text.attachments[0].uri == media[0][0] and msg.text.attachments[0].content_type == "image/jpeg"
    assert await read_messages(wa.bus, subjects.inbound(SMS)) == []


async def test_a_reply_inside_24_hours_goes_out_free_form_with_media(wa: Harness) -> None:
    await wa.inbound("hello")
    out = reply("out_wa1")
    out.attachments.add(file_name="guide.pdf", content_type="application/pdf", uri="https://files.example/guide.pdf",
                        size_bytes=16 * 1024 * 1024)
    await wa.bus.publish(subjects.outbound(WHATSAPP), out, msg_id="out_wa1")
    sent = await read_events(wa.bus, "message_sent", count=1, timeout=20)
    assert sent[0].message_sent.message_id == "out_wa1" and sent[0].channel == WHATSAPP
    [msg] = wa.sent()
    assert (msg["to"], msg["from"], msg["body"]) == (CUSTOMER, OUR, "Hi, this is Alice from support")
    assert msg["media_url"] == ["https://files.example/guide.pdf"] and msg["content_sid"] is None


async def test_a_file_whatsapp_cannot_carry_fails_with_its_rule_before_twilio(wa: Harness) -> None:
    await wa.inbound("hello")
    gif = reply("out_gif")  # WhatsApp takes JPEG/PNG images only
    gif.attachments.add(file_name="a.gif", content_type="image/gif", uri="https://files.example/a.gif", size_bytes=10)
    two = reply("out_two")  # one file per message
    for name in ("a.pdf", "b.pdf"):
        two.attachments.add(file_name=name, content_type="application/pdf", uri=f"https://files.example/{name}",
                            size_bytes=10)
    for out in (gif, two):
        await wa.bus.publish(subjects.outbound(WHATSAPP), out, msg_id=out.id)
    failed = await read_events(wa.bus, "message_failed", count=2, timeout=20)
    codes = {e.message_failed.message_id: e.message_failed.error_code for e in failed}
    assert codes == {"out_gif": "channel_type", "out_two": "channel_count"}
    assert all(e.message_failed.permanent and "whatsapp" in e.message_failed.error_message for e in failed)
    assert wa.sent() == []


async def test_outside_24_hours_a_free_form_reply_is_refused_before_twilio(wa: Harness) -> None:
    await wa.inbound("hello")
    real = wa.channel.clock
    wa.channel.clock = lambda: real() + 24 * 3600 + 1
    await wa.bus.publish(subjects.outbound(WHATSAPP), reply("out_late"), msg_id="out_late")
    stranger = reply("out_never")
    stranger.identity.source_id = "whatsapp:+4915112345678"  # never wrote to us
    await wa.bus.publish(subjects.outbound(WHATSAPP), stranger, msg_id="out_never")
    failed = await read_events(wa.bus, "message_failed", count=2, timeout=20)
    assert sorted(e.message_failed.message_id for e in failed) == ["out_late", "out_never"]
    for evt in failed:
        assert evt.message_failed.permanent and evt.message_failed.error_code == "window_closed"
        assert "24 hours" in evt.message_failed.error_message and "template" in evt.message_failed.error_message
    assert wa.sent() == [] and not [r for r in wa.fake.requests if r[1].endswith("/Messages.json")]


async def test_outside_24_hours_an_approved_template_goes_out_with_its_variables(wa: Harness) -> None:
    out = reply("out_tpl", "", template_id=TEMPLATE_SID)
    out.template_variables.update({"1": "李伟", "2": "C-1042"})
    await wa.bus.publish(subjects.outbound(WHATSAPP), out, msg_id="out_tpl")
    sent = await read_events(wa.bus, "message_sent", count=1, timeout=20)
    assert sent[0].message_sent.message_id == "out_tpl"
    [msg] = wa.sent()
    assert msg["content_sid"] == TEMPLATE_SID
    assert json.loads(str(msg["content_variables"])) == {"1": "李伟", "2": "C-1042"}
    assert msg["body"] == "Hello 李伟, your case C-1042 has an update. Reply to continue. / 您好 李伟，您的工单 C-1042 有新进展。"
    # An unknown template is Twilio's permanent 21655.
    await wa.bus.publish(subjects.outbound(WHATSAPP), reply("out_bad_tpl", "", template_id="HX" + "9" * 32),
                         msg_id="out_bad_tpl")
    failed = await read_events(wa.bus, "message_failed", count=1, timeout=20)
    assert failed[0].message_failed.error_code == "21655"


async def test_delivered_and_read_callbacks_become_delivery_events(wa: Harness) -> None:
    await wa.inbound("hello")
    await wa.bus.publish(subjects.outbound(WHATSAPP), reply("out_rd"), msg_id="out_rd")
    await read_events(wa.bus, "message_sent", count=1, timeout=20)
    [sid] = list(wa.fake.messages)
    for status in ("delivered", "read"):
        resp = await wa.fake.deliver(sid, status)
        assert resp.status == 204
    events = await read_events(wa.bus, "message_delivered", count=2)
    assert [(e.message_delivered.status, e.channel) for e in events] == [
        (messaging_pb2.DELIVERY_STATUS_DELIVERED, WHATSAPP), (messaging_pb2.DELIVERY_STATUS_READ, WHATSAPP)]
    assert {e.message_delivered.message_id for e in events} == {"out_rd"}


async def test_stop_on_whatsapp_opts_out_like_sms(wa: Harness) -> None:
    await wa.inbound("STOP")
    [evt] = await read_events(wa.bus, "customer_opt_out", count=1)
    assert evt.customer_opt_out.opted_out and evt.channel == WHATSAPP
    await wa.bus.publish(subjects.outbound(WHATSAPP), reply("out_stop"), msg_id="out_stop")
    failed = await read_events(wa.bus, "message_failed", count=1, timeout=20)
    assert failed[0].message_failed.error_code == "opted_out" and wa.sent() == []
