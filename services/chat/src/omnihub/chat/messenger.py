"""The Messenger adapter interface: inbound normalisation, outbound delivery, error mapping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2


@dataclass(frozen=True, slots=True)
class Normalised:
    """What one provider update became: an inbound message, a survey answer, or nothing."""

    inbound: messaging_pb2.InboundMessage | None = None
    survey: event_pb2.SurveyAnswered | None = None
    msg_id: str = ""
    thread_key: str = ""
    identity_source: str = ""
    conversation_id: str = ""  # of the survey being answered, when the channel knows it
    opted_out: bool = False  # the customer left the channel (WeChat's unsubscribe): no more messages to them


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider's id for a delivered outbound message."""

    provider_message_id: str


class Messenger(Protocol):
    """A social messenger channel (Telegram and WeChat; others beside them).

    `normalise` turns a provider webhook payload into our protos; `send` delivers an
    OutboundMessage and raises omnihub.common.errors ChannelError subclasses on failure.
    """

    channel: int

    def verify(self, meta: Mapping[str, str], body: bytes) -> bool:
        """True when the webhook request is authentic; `meta` is what the provider signs beside the body
        (Telegram: the headers, names in any case; WeChat: the query string)."""
        ...

    def normalise(self, payload: dict[str, Any]) -> Normalised:
        """Turn one provider update into a Normalised result."""
        ...

    async def acknowledge(self, payload: dict[str, Any]) -> None:
        """Provider-side acknowledgement after publishing (e.g. answerCallbackQuery)."""
        ...

    async def send(self, message: messaging_pb2.OutboundMessage) -> SendResult:
        """Deliver one outbound message."""
        ...
