"""Back-pressure: when CONTACTS_IN is full, an edge answers 503 with Retry-After and every 200 was stored."""

from __future__ import annotations

import contextlib

from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.config import ServiceSettings
from omnihub.common.service import ServiceContext
from omnihub.sms.app import build_app
from omnihub.sms.handlers import SmsChannel
from omnihub.sms.twilio_gateway import TwilioMessaging
from omnihub.testkit.fakes.twilio_api import FakeTwilio
from omnihub.testkit.ports import free_port
from omnihub.testkit.waiting import read_messages

OUR_NUMBER = "+15550001111"


async def test_a_full_inbound_stream_gives_503_and_loses_nothing_acknowledged(nats_url: str) -> None:
    settings = ServiceSettings(nats_url=nats_url, stream_inbound_max_msgs=3)
    fake = FakeTwilio()
    await fake.start()
    async with contextlib.AsyncExitStack() as stack:
        svc = ServiceContext("sms", settings, stack)
        bus = await svc.connect_bus()  # CONTACTS_IN limited to 3 messages, discard new
        info = await bus.js.stream_info(subjects.STREAM_CONTACTS_IN)
        assert info.config.max_msgs == 3
        gateway = TwilioMessaging(fake.account_sid, fake.auth_token, fake.base_url)
        stack.push_async_callback(gateway.close)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        channel = SmsChannel(bus, gateway, fake.auth_token, url, OUR_NUMBER,
                             await bus.kv(subjects.KV_SMS_OPTOUT), await bus.kv(subjects.KV_SMS_SURVEYS))
        await svc.start_http(build_app(channel), "127.0.0.1", port)
        sent = [fake.inbound_sms(OUR_NUMBER, f"+861380013800{i}", f"message {i}") for i in range(5)]
        answers = [await fake.post_webhook(f"{url}/twilio/sms", params) for params in sent]
        assert [a.status for a in answers] == [200, 200, 200, 503, 503]
        assert all(a.headers["Retry-After"] == "5" for a in answers[3:])
        stored = [messaging_pb2.InboundMessage.FromString(m.data).provider_message_id
                  for m in await read_messages(bus, "contacts.inbound.sms")]
        assert stored == [p["MessageSid"] for p in sent[:3]]  # every acknowledged one, nothing else
        await bus.js.purge_stream(subjects.STREAM_CONTACTS_IN)  # the router caught up
        retried = await fake.post_webhook(f"{url}/twilio/sms", sent[3])
        assert retried.status == 200  # the provider's retry gets through
        stored = [messaging_pb2.InboundMessage.FromString(m.data).provider_message_id
                  for m in await read_messages(bus, "contacts.inbound.sms")]
        assert stored == [sent[3]["MessageSid"]]
    await fake.stop()
