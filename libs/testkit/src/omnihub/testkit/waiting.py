"""Waiting on facts in tests: eventually(), read_messages()/read_events() and barrier(), never fixed sleeps."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar, overload

import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import api

from omnihub.api.event.v1 import event_pb2
from omnihub.common import subjects

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
_FETCH_BATCH = 256


class HasNats(Protocol):
    """Anything holding a NATS connection as `.nc` (omnihub.common.bus.Bus does)."""

    nc: NATS


Source = HasNats | NATS


def _nc(source: Source) -> NATS:
    return source if isinstance(source, NATS) else source.nc


@overload
async def eventually(
    predicate: Callable[[], Awaitable[T]], *, timeout: float = ..., interval: float = ..., message: str = ...
) -> T: ...


@overload
async def eventually(
    predicate: Callable[[], T], *, timeout: float = ..., interval: float = ..., message: str = ...
) -> T: ...


async def eventually(
    predicate: Callable[[], object],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    message: str = "",
) -> object:
    """Poll `predicate` (sync or async) until it returns something truthy, and return that value.

    An AssertionError raised by the predicate counts as "not yet"; any other exception propagates.
    After `timeout` seconds this fails with `message`, the last value and the last assertion.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    failure: AssertionError | None = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
        except AssertionError as exc:
            failure, last = exc, None
        else:
            if value:
                return value
            failure, last = None, value
        if loop.time() >= deadline:
            what = message or getattr(predicate, "__qualname__", repr(predicate))
            detail = f"; last assertion: {failure}" if failure is not None else ""
            raise AssertionError(f"{what}: not true within {timeout}s; last value: {last!r}{detail}")
        await asyncio.sleep(interval)


async def _streams_for(nc: NATS, subject: str) -> list[str]:
    """The JetStream streams storing `subject` (a filter may span several, e.g. "contacts.>")."""
    resp = await nc.request("$JS.API.STREAM.NAMES", json.dumps({"subject": subject}).encode(), timeout=5)
    body = json.loads(resp.data)
    if "error" in body:
        raise RuntimeError(f"stream names for {subject!r}: {body['error']}")
    return list(body.get("streams") or [])


async def _drain(js: nats.js.JetStreamContext, stream: str, filters: list[str]) -> list[Msg]:
    """Every message of `stream` matching `filters`, from an ephemeral consumer deleted afterwards."""
    config = api.ConsumerConfig(
        ack_policy=api.AckPolicy.NONE,
        deliver_policy=api.DeliverPolicy.ALL,
        inactive_threshold=30.0,
        filter_subjects=filters if len(filters) > 1 else None,
    )
    psub = await js.pull_subscribe(filters[0], stream=stream, config=config)
    out: list[Msg] = []
    try:
        if (await psub.consumer_info()).num_pending == 0:
            return out
        while True:
            try:
                batch = await psub.fetch(_FETCH_BATCH, timeout=5)
            except nats.errors.TimeoutError:
                raise AssertionError(f"stream {stream} stopped delivering {filters} after {len(out)} messages") from None
            out.extend(batch)
            if batch[-1].metadata.num_pending == 0:
                return out
    finally:
        info = await psub.consumer_info()
        await psub.unsubscribe()
        await js.delete_consumer(stream, info.name)


async def _snapshot(nc: NATS, filters: Sequence[str], stream: str | None) -> list[Msg]:
    js = nc.jetstream()
    by_stream: dict[str, list[str]] = {}
    for subject in filters:
        for name in [stream] if stream else await _streams_for(nc, subject):
            by_stream.setdefault(name, []).append(subject)
    out: list[Msg] = []
    for name, subs in by_stream.items():
        try:
            out.extend(await _drain(js, name, subs))
        except nats.js.errors.NotFoundError:
            continue  # the stream does not exist (yet): nothing stored
    return out


async def read_messages(
    source: Source,
    *filters: str,
    count: int | None = None,
    until: Callable[[list[Msg]], object] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stream: str | None = None,
) -> list[Msg]:
    """Every JetStream message stored on the subject `filters`, read without disturbing any consumer.

    With neither `count` nor `until`, returns what is stored now. Otherwise reads again until at
    least `count` messages are stored, or `until(messages)` is truthy, and returns everything stored
    at that moment; after `timeout` seconds it fails, naming what it did read.
    """
    if not filters:
        raise ValueError("read_messages needs at least one subject filter")
    nc = _nc(source)
    if count is None and until is None:
        return await _snapshot(nc, filters, stream)

    def met(msgs: list[Msg]) -> bool:
        return (count is None or len(msgs) >= count) and (until is None or bool(until(msgs)))

    got: list[Msg] = []

    async def check() -> bool:
        nonlocal got
        got = await _snapshot(nc, filters, stream)
        return met(got)

    want = " and ".join(
        part for part in (f"{count} messages" if count is not None else "", "until()" if until else "") if part
    )
    try:
        await eventually(check, timeout=timeout, interval=0.05, message=f"read_messages {list(filters)}: {want}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; read {len(got)}: {[m.subject for m in got][:20]}") from None
    return got


def _event_filter(kind: str) -> str:
    """An Event oneof name ("message_sent") or a subject ("contacts.events.message.>") as a filter."""
    return kind if "." in kind else subjects.event_kind_subject(kind)


async def read_events(
    source: Source,
    *kinds: str,
    count: int | None = None,
    until: Callable[[list[event_pb2.Event]], object] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[event_pb2.Event]:
    """Decoded events of the given kinds (oneof names or subjects; every event when none) from EVENTS.

    Same waiting as read_messages(): none of `count`/`until` reads what is stored now.
    """
    filters = [_event_filter(k) for k in kinds] or [subjects.EVENTS_ALL]

    def decode(msgs: list[Msg]) -> list[event_pb2.Event]:
        return [event_pb2.Event.FromString(m.data) for m in msgs]

    pred = None if until is None else (lambda msgs: until(decode(msgs)))
    msgs = await read_messages(
        source, *filters, count=count, until=pred, timeout=timeout, stream=subjects.STREAM_EVENTS
    )
    return decode(msgs)


async def barrier(
    source: Source, durable: str, *, stream: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Wait until the JetStream consumer `durable` has acked everything its stream held when called.

    The stream's last sequence at the call is the marker, so no service sees a foreign message:
    the barrier passes once the consumer's ack floor reaches it, or it has nothing pending or
    unacknowledged. Use it before asserting that something did NOT happen.
    """
    nc = _nc(source)
    js = nc.jetstream()
    if stream is None:
        stream = await _stream_of_consumer(nc, durable)
    mark = (await js.stream_info(stream)).state.last_seq

    async def caught_up() -> bool:
        try:
            info = await js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            return False
        if int(info.ack_floor.stream_seq or 0) >= mark:
            return True
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await eventually(caught_up, timeout=timeout, message=f"consumer {durable} on {stream} to process up to seq {mark}")


async def _stream_of_consumer(nc: NATS, durable: str) -> str:
    """The one stream that has a consumer named `durable`."""
    js = nc.jetstream()
    found = []
    for info in await js.streams_info():
        name = str(info.config.name)
        try:
            await js.consumer_info(name, durable)
        except nats.js.errors.NotFoundError:
            continue
        found.append(name)
    if len(found) != 1:
        raise ValueError(f"consumer {durable!r} found on streams {found}; pass stream=")
    return found[0]
