"""The one outbound delivery path: send, classify the result (sent, retry later, failed for good), publish it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.event.v1 import event_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common.bus import Bus, Delivery, Retry, new_event
from omnihub.common.errors import ChannelError, ErrorMap, PermanentChannelError, TransientChannelError, map_exceptions
from omnihub.common.logging import get_logger
from omnihub.common.retry import RetryPolicy

log = get_logger("omnihub.outbound")

T = TypeVar("T")
DEFAULT_RETRY = RetryPolicy(first=0.5, cap=30.0)


async def attempt(delivery: Delivery[Any], send: Callable[[], Awaitable[T]], *, policy: RetryPolicy = DEFAULT_RETRY,
                  errors: ErrorMap | None = None) -> T:
    """Run one attempt of `send` for a JetStream delivery and classify how it ended.

    Returns what `send` returned. A TransientChannelError (or a library error `errors` maps to one) raises
    `Retry`, so the consumer naks the message and JetStream redelivers it after the policy's delay (a
    provider's Retry-After wins); after `max_deliver` attempts it is dead-lettered. Any other ChannelError
    is re-raised as a PermanentChannelError: no retry can help.
    """
    try:
        with map_exceptions(errors or {}):
            return await send()
    except TransientChannelError as exc:
        delay = policy.delay(delivery.num_delivered, exc.retry_after)
        log.info("outbound.retry", subject=delivery.subject, code=exc.code, attempt=delivery.num_delivered, delay=delay)
        raise Retry(str(exc), delay=delay) from exc
    except PermanentChannelError:
        raise
    except ChannelError as exc:
        raise PermanentChannelError(exc.message, code=exc.code) from exc


async def deliver_outbound(
    bus: Bus,
    delivery: Delivery[messaging_pb2.OutboundMessage],
    send: Callable[[], Awaitable[str]],
    *,
    source: str,
    policy: RetryPolicy = DEFAULT_RETRY,
    errors: ErrorMap | None = None,
    on_sent: Callable[[str], Awaitable[None]] | None = None,
    channel: contact_pb2.Channel.ValueType | None = None,
    identity: contact_pb2.Identity | None = None,
    thread_key: str | None = None,
) -> str | None:
    """Deliver one OutboundMessage: `send` returns the provider's message id.

    Sent: `on_sent` runs (bookkeeping that must precede the event), then message.sent is published.
    Retry later: see `attempt`. Failed for good: message.failed (permanent) is published and the message is
    acked. Both events have the id `evt_<kind>_<message id>`, so a redelivery never publishes one twice.
    Returns the provider's id, or None when the message failed for good.
    """
    out = delivery.message
    fields: dict[str, Any] = {
        "conversation_id": out.conversation_id,
        "channel": out.channel if channel is None else channel,
        "identity": out.identity if identity is None else identity,
        "thread_key": out.thread_key if thread_key is None else thread_key,
    }
    try:
        provider_id = await attempt(delivery, send, policy=policy, errors=errors)
    except PermanentChannelError as exc:
        log.warning("outbound.failed", source=source, id=out.id, code=exc.code, reason=exc.message[:300])
        await _publish(bus, source, out.id, fields, message_failed=event_pb2.MessageFailed(
            message_id=out.id, error_code=exc.code, error_message=exc.message, permanent=True))
        return None
    if on_sent is not None:
        await on_sent(provider_id)
    await _publish(bus, source, out.id, fields, message_sent=event_pb2.MessageSent(
        message_id=out.id, provider_message_id=provider_id))
    log.info("outbound.sent", source=source, id=out.id, provider_id=provider_id)
    return provider_id


async def _publish(bus: Bus, source: str, message_id: str, fields: dict[str, Any], **kind: Any) -> None:
    evt = new_event(source, **fields, **kind)
    evt.id = f"evt_{next(iter(kind))}_{message_id}"
    await bus.publish_event(evt)
