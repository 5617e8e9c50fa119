"""The one outbound path: send, retry later through JetStream redelivery, or fail for good; one event each."""

from __future__ import annotations

import pytest

from omnihub.api.contact.v1 import contact_pb2
from omnihub.api.messaging.v1 import messaging_pb2
from omnihub.common import subjects
from omnihub.common.bus import Bus, Consumer, Delivery
from omnihub.common.errors import (
    ChannelError,
    ErrorMap,
    PermanentChannelError,
    TransientChannelError,
    map_exceptions,
)
from omnihub.common.outbound import deliver_outbound
from omnihub.common.retry import RetryPolicy
from omnihub.testkit.waiting import barrier, read_events

SMS = contact_pb2.CHANNEL_SMS
FAST = RetryPolicy(first=0.05, cap=0.2)  # the test's policy: the real ones wait seconds


class ProviderDown(Exception):
    """What a provider library raises while it is unreachable."""


class ProviderRefused(Exception):
    """What a provider library raises for an address it will never deliver to."""


ERRORS: ErrorMap = {ProviderDown: TransientChannelError, ProviderRefused: PermanentChannelError}


class FlakyProvider:
    """A provider double: fails `failures` times with `error`, then accepts and returns a message id."""

    def __init__(self, failures: int, error: type[Exception]) -> None:
        self.failures = failures
        self.error = error
        self.attempts = 0

    async def send(self) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error(f"attempt {self.attempts} failed")
        return f"PM{self.attempts}"


async def run(bus: Bus, provider: FlakyProvider, durable: str) -> Consumer[messaging_pb2.OutboundMessage]:
    async def handler(d: Delivery[messaging_pb2.OutboundMessage]) -> None:
        await deliver_outbound(bus, d, provider.send, source="test", policy=FAST, errors=ERRORS)

    consumer = await bus.consume(stream=subjects.STREAM_CONTACTS_OUT, durable=durable, subjects=[subjects.outbound(SMS)],
                      message_type=messaging_pb2.OutboundMessage, handler=handler, max_deliver=5)
    out = messaging_pb2.OutboundMessage(id="out_1", conversation_id="cnv_1", channel=SMS, text="hi",
                                        identity=contact_pb2.Identity(channel=SMS, source_id="+15550001111"))
    await bus.publish(subjects.outbound(SMS), out, msg_id=out.id)
    return consumer


async def test_two_retryable_failures_then_one_sent_event_after_three_attempts(bus: Bus) -> None:
    provider = FlakyProvider(failures=2, error=ProviderDown)
    consumer = await run(bus, provider, "flaky")
    sent = await read_events(bus, "message_sent", count=1)
    await barrier(bus, "flaky")
    await consumer.stop()
    assert provider.attempts == 3
    assert [(e.message_sent.message_id, e.message_sent.provider_message_id) for e in sent] == [("out_1", "PM3")]
    assert sent[0].id == "evt_message_sent_out_1" and sent[0].conversation_id == "cnv_1"
    assert await read_events(bus, "message_sent", "message_failed") == sent


async def test_a_permanent_error_is_one_failed_event_and_no_retry(bus: Bus) -> None:
    provider = FlakyProvider(failures=5, error=ProviderRefused)
    consumer = await run(bus, provider, "refused")
    failed = await read_events(bus, "message_failed", count=1)
    await barrier(bus, "refused")
    await consumer.stop()
    assert provider.attempts == 1
    assert failed[0].message_failed.permanent and failed[0].message_failed.message_id == "out_1"
    assert "attempt 1 failed" in failed[0].message_failed.error_message
    assert await read_events(bus, "message_sent", "message_failed") == failed


@pytest.mark.parametrize(
    ("policy", "old"),
    [
        (RetryPolicy(0.5, 30.0), lambda n: min(30.0, 0.5 * 2 ** (n - 1))),  # bus.py's backoff(), chat
        (RetryPolicy(5.0, 300.0), lambda n: min(300.0, 5.0 * 2 ** (n - 1))),  # email/outbound.py
        (RetryPolicy(2.0, 60.0), lambda n: min(60.0, 2.0**n)),  # sms/handlers.py
        (RetryPolicy(2.0, 30.0), lambda n: min(30.0, 2.0**n)),  # voice/handlers.py
        (RetryPolicy(0.2, 2.0), lambda n: min(2.0, 0.2 * 2 ** (n - 1))),  # acked.py
    ],
)
def test_the_policy_waits_what_each_hand_written_formula_waited(policy: RetryPolicy, old: object) -> None:
    assert callable(old)
    assert [policy.delay(n) for n in range(1, 13)] == [pytest.approx(old(n)) for n in range(1, 13)]
    assert policy.delay(3, retry_after=7.0) == 7.0  # a provider's Retry-After wins


def test_map_exceptions_takes_a_class_or_a_function_that_reads_the_error() -> None:
    def by_status(exc: KeyError) -> ChannelError:
        return TransientChannelError("busy", code=str(exc.args[0]))

    with pytest.raises(TransientChannelError) as caught, map_exceptions({KeyError: by_status}):
        raise KeyError(503)
    assert caught.value.code == "503" and isinstance(caught.value.__cause__, KeyError)
    with pytest.raises(PermanentChannelError, match="nope"), map_exceptions(ERRORS):
        raise ProviderRefused("nope")
    with pytest.raises(ValueError), map_exceptions(ERRORS):
        raise ValueError("not a provider error: left alone")
