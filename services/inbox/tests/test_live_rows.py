"""The supervisor's live list: how a router conversation becomes a row."""

from __future__ import annotations

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.routing.v1 import routing_pb2 as R
from omnihub.inbox.supervision import live_row

NOW = 1_764_000_000.0


def waiting(channel: contact_pb2.Channel.ValueType, source_id: str, name: str = "") -> R.Conversation:
    conv = R.Conversation(id="cnv_1", channel=channel, queue="support", customer_display_name=name,
                          identity=contact_pb2.Identity(channel=channel, source_id=source_id),
                          routing_state=R.ROUTING_STATE_QUEUED)
    conv.create_time.FromSeconds(int(NOW) - 30)
    conv.enqueue_time.FromSeconds(int(NOW) - 20)
    return conv


def test_a_customer_reads_as_the_desktop_shows_them() -> None:
    row = live_row(waiting(contact_pb2.CHANNEL_WHATSAPP, "whatsapp:+447700900123"), {}, NOW)
    assert (row.customer, row.channel, row.state, row.wait_seconds) == ("+447700900123", "whatsapp", "queued", 20.0)
    assert live_row(waiting(contact_pb2.CHANNEL_SMS, "+8613800138000"), {}, NOW).customer == "+8613800138000"
    named = waiting(contact_pb2.CHANNEL_WHATSAPP, "whatsapp:+447700900123", "Maria Garcia")
    assert live_row(named, {}, NOW).customer == "Maria Garcia"
