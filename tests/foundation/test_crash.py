"""A nats-server killed with SIGKILL mid-flow loses no acked publish and duplicates none."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Delivery
from omnihub.common.errors import BusError
from omnihub.testkit.servers import NatsServer
from omnihub.testkit.waiting import eventually

SMS = contact_pb2.CHANNEL_SMS
TOTAL = 600


def message(i: int) -> messaging_pb2.InboundMessage:
    return messaging_pb2.InboundMessage(id=f"msg_{i}", channel=SMS, provider_message_id=f"SM{i}")


async def test_sigkill_restart_keeps_every_acked_publish_once(tmp_path: Path) -> None:
    server = NatsServer(data_dir=tmp_path / "nats")
    server.start()
    bus = await Bus.connect(server.url, name="crash-test")
    await bus.ensure_streams()
    processed: list[str] = []

    async def handler(d: Delivery[messaging_pb2.InboundMessage]) -> None:
        processed.append(d.msg_id)

    consumer = await bus.consume(
        stream=subjects.STREAM_CONTACTS_IN,
        durable="crash",
        subjects=[subjects.INBOUND_ALL],
        message_type=messaging_pb2.InboundMessage,
        handler=handler,
    )
    acked: set[str] = set()

    async def publish_all() -> None:
        i = 0
        while i < TOTAL:
            msg_id = f"sms:SM{i}"
            try:
                await bus.publish(subjects.inbound(SMS), message(i), msg_id=msg_id)
            except BusError:
                continue  # the server is down: retry the same id, as a webhook retry would
            acked.add(msg_id)
            i += 1

    publisher = asyncio.create_task(publish_all())
    await eventually(lambda: len(acked) >= TOTAL // 3, timeout=60, interval=0.01)
    server.kill()
    await asyncio.sleep(1.0)  # the server stays down a while: publishes fail and are retried meanwhile
    server.start()
    await asyncio.wait_for(publisher, timeout=120)
    await eventually(lambda: len(set(processed)) >= TOTAL, timeout=20)
    await consumer.stop()
    info = await bus.js.stream_info(subjects.STREAM_CONTACTS_IN)
    await bus.close()
    with contextlib.suppress(Exception):
        server.cleanup()
    assert acked == {f"sms:SM{i}" for i in range(TOTAL)}
    assert info.state.messages == TOTAL  # no duplicate stored despite retries across the crash
    assert set(processed) == acked  # every acked publish delivered
