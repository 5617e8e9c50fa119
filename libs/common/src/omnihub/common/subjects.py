"""Every NATS subject, stream, durable and KV bucket name; nothing else builds subject strings."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2

Channel = contact_pb2.Channel

# Streams.
STREAM_CONTACTS_IN = "CONTACTS_IN"
STREAM_CONTACTS_OUT = "CONTACTS_OUT"
STREAM_EVENTS = "EVENTS"
STREAM_DEADLETTER = "DEADLETTER"

# Subject roots.
INBOUND_ROOT = "contacts.inbound"
OUTBOUND_ROOT = "contacts.outbound"
EVENTS_ROOT = "contacts.events"
DEADLETTER_ROOT = "deadletter"

INBOUND_ALL = f"{INBOUND_ROOT}.>"
OUTBOUND_ALL = f"{OUTBOUND_ROOT}.>"
EVENTS_ALL = f"{EVENTS_ROOT}.>"
DEADLETTER_ALL = f"{DEADLETTER_ROOT}.>"

# Durable consumer names.
DURABLE_ROUTER = "router"
DURABLE_QUALITY = "quality"
DURABLE_INBOX = "inbox"
DURABLE_VOICE_ASSIGNED = "voice-assigned"

# Headers.
HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_DLQ_REASON = "Omnihub-Deadletter-Reason"
HEADER_DLQ_SUBJECT = "Omnihub-Original-Subject"
HEADER_DLQ_STREAM = "Omnihub-Original-Stream"
HEADER_DLQ_DELIVERIES = "Omnihub-Deliveries"

# JetStream key-value buckets.
KV_ROUTER_STATE = "router_state"
KV_ROUTER_LEADER = "router_leader"
KV_SMS_OPTOUT = "sms_optout"
KV_CHAT_SESSIONS = "chat_sessions"
KV_SMS_SURVEYS = "sms_surveys"
KV_SMS_SENDERS = "sms_senders"
KV_WHATSAPP_WINDOWS = "whatsapp_windows"  # WhatsApp address -> its last message (the 24-hour window)
KV_VOICE_CALLS = "voice_calls"
KV_WECHAT = "wechat"  # access token, 48-hour windows, pending surveys, received media ids
KV_CHAT_RETENTION = "chat_retention"  # the chat service's retention runs (it has no database)

# Core (non-JetStream) request subjects for live, ephemeral data.
QUEUE_STATS_REQUEST = "omnihub.router.queue_stats"
VOICE_CONTROL_REQUEST = "omnihub.voice.control"  # CallControlRequest -> CallControlReply (voice_pb2)
VOICE_CONTROL_QUEUE = "voice"  # the voice replicas share the requests
# Core request subjects of privacy requests (omnihub.common.privacy): JSON in and out, one answer per service.
PRIVACY_ERASE = "omnihub.privacy.erase"
PRIVACY_RETENTION = "omnihub.privacy.retention"
PRIVACY_EXPORT = "omnihub.privacy.export"


# Channel value -> subject token, e.g. CHANNEL_SMS -> "sms" (every channel but CHANNEL_UNSPECIFIED).
CHANNEL_TOKENS: dict[int, str] = {int(value): name.removeprefix("CHANNEL_").lower()
                                  for name, value in Channel.items() if value != Channel.CHANNEL_UNSPECIFIED}


def channel_token(channel: int) -> str:
    """Return the subject token of a Channel value: CHANNEL_SMS -> "sms"."""
    token = CHANNEL_TOKENS.get(channel)
    if token is None:
        if channel == Channel.CHANNEL_UNSPECIFIED:
            raise ValueError("channel is unspecified")
        raise ValueError(f"unknown channel {channel}")
    return token


def channel_from_token(token: str) -> int:
    """Inverse of channel_token: "sms" -> CHANNEL_SMS."""
    return Channel.Value("CHANNEL_" + token.upper())


def inbound(channel: int) -> str:
    """Subject for inbound messages on one channel: contacts.inbound.<channel>."""
    return f"{INBOUND_ROOT}.{channel_token(channel)}"


def outbound(channel: int) -> str:
    """Subject for outbound messages on one channel: contacts.outbound.<channel>."""
    return f"{OUTBOUND_ROOT}.{channel_token(channel)}"


def outbound_durable(channel: int) -> str:
    """Durable consumer name of a channel's outbound worker: "<channel>-outbound"."""
    return f"{channel_token(channel)}-outbound"


def event(entity: str, verb: str) -> str:
    """Subject for a lifecycle event: contacts.events.<entity>.<verb>."""
    return f"{EVENTS_ROOT}.{entity}.{verb}"


@functools.cache
def event_kind_subject(kind: str) -> str:
    """Subject for an Event oneof field name: "conversation_assigned" -> ...conversation.assigned."""
    entity, _, verb = kind.partition("_")
    if not verb:
        raise ValueError(f"event kind {kind!r} is not <entity>_<verb>")
    return event(entity, verb)


def event_subject(evt: event_pb2.Event) -> str:
    """Subject for a populated Event envelope."""
    kind = evt.WhichOneof("kind")
    if kind is None:
        raise ValueError("event has no kind set")
    return event_kind_subject(kind)


def deadletter(stream: str) -> str:
    """Dead-letter subject for a stream: deadletter.<stream>."""
    return f"{DEADLETTER_ROOT}.{stream.lower()}"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A JetStream stream omnihub owns."""

    name: str
    subjects: tuple[str, ...]
    duplicate_window_seconds: float
    max_age_seconds: float
    max_msg_size: int
    batched: bool = False  # takes JetStream fast batches (the router's group commits)
    max_msgs: int = -1  # -1: no limit
    max_bytes: int = -1
    discard_new: bool = False  # at a limit, refuse new messages (the publisher sees it) instead of dropping old ones


DAY = 86_400.0

# Twilio retries webhooks for up to ~24 h only with custom retry settings; a
# 2-day window covers every provider's retry horizon (SMTP queues retry up to 5 days,
# but email dedupes on Message-ID in MongoDB as the backstop).
STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(STREAM_CONTACTS_IN, (INBOUND_ALL,), 2 * DAY, 30 * DAY, 4 * 1024 * 1024, max_bytes=10 * 1024**3,
               discard_new=True),
    StreamSpec(STREAM_CONTACTS_OUT, (OUTBOUND_ALL,), 2 * DAY, 30 * DAY, 4 * 1024 * 1024),
    StreamSpec(STREAM_EVENTS, (EVENTS_ALL,), 2 * DAY, 90 * DAY, 1024 * 1024, batched=True),
    StreamSpec(STREAM_DEADLETTER, (DEADLETTER_ALL,), 2 * DAY, 90 * DAY, 16 * 1024 * 1024),
)


# Core (non-JetStream) typing indicators of web chat, per visitor: live, never stored.
CHAT_TYPING_VISITOR_ROOT = "omnihub.chat.typing.visitor"
CHAT_TYPING_AGENT_ROOT = "omnihub.chat.typing.agent"


def chat_typing_visitor(visitor_id: str) -> str:
    """Subject on which the chat service announces that a web visitor is typing."""
    return f"{CHAT_TYPING_VISITOR_ROOT}.{visitor_id}"


def chat_typing_agent(visitor_id: str) -> str:
    """Subject on which the inbox announces that an agent is typing to a web visitor."""
    return f"{CHAT_TYPING_AGENT_ROOT}.{visitor_id}"


# Core read receipts from the inbox for web chat: JSON {"message_ids": [...]} (inbound ids).
CHAT_READ_AGENT_ROOT = "omnihub.chat.read.agent"


def chat_read_agent(visitor_id: str) -> str:
    """Subject on which the inbox reports that an agent has read a web visitor's messages."""
    return f"{CHAT_READ_AGENT_ROOT}.{visitor_id}"
