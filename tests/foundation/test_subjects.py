"""Subject naming rules."""

from __future__ import annotations

import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects


@pytest.mark.parametrize(
    ("channel", "token"),
    [
        (contact_pb2.CHANNEL_VOICE, "voice"),
        (contact_pb2.CHANNEL_SMS, "sms"),
        (contact_pb2.CHANNEL_EMAIL, "email"),
        (contact_pb2.CHANNEL_WEBCHAT, "webchat"),
        (contact_pb2.CHANNEL_TELEGRAM, "telegram"),
        (contact_pb2.CHANNEL_WHATSAPP, "whatsapp"),
        (contact_pb2.CHANNEL_WECHAT, "wechat"),
    ],
)
def test_channel_tokens(channel: int, token: str) -> None:
    assert subjects.channel_token(channel) == token
    assert subjects.channel_from_token(token) == channel
    assert subjects.inbound(channel) == f"contacts.inbound.{token}"
    assert subjects.outbound(channel) == f"contacts.outbound.{token}"
    assert subjects.outbound_durable(channel) == f"{token}-outbound"


def test_unspecified_channel_is_refused() -> None:
    with pytest.raises(ValueError):
        subjects.channel_token(contact_pb2.CHANNEL_UNSPECIFIED)


def test_every_event_kind_maps_to_entity_verb() -> None:
    kinds = event_pb2.Event.DESCRIPTOR.oneofs_by_name["kind"].fields
    seen = set()
    for field in kinds:
        subject = subjects.event_kind_subject(field.name)
        parts = subject.split(".")
        assert parts[:2] == ["contacts", "events"] and len(parts) == 4, subject
        seen.add(subject)
    assert "contacts.events.conversation.assigned" in seen
    assert "contacts.events.routing.decided" in seen
    assert "contacts.events.agent.state_changed" in seen
    assert len(seen) == len(kinds)


def test_deadletter_subject() -> None:
    assert subjects.deadletter(subjects.STREAM_CONTACTS_IN) == "deadletter.contacts_in"
