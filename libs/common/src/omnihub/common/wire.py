"""Protobuf encoding by hand for hot paths.

Protobuf parses concatenated encodings as one merged message, so an `Event` can be assembled from
parts: envelope fields encoded once per conversation, then the id, time, source and kind encoded here,
without building an `Event` object and copying the kind message into it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from google.protobuf.message import Message

from omnihub.api.event.v1 import event_pb2
from omnihub.common.bus import new_id

_LEN = 2  # the wire type of strings, bytes and embedded messages
_ONE_BYTE = [bytes((i,)) for i in range(128)]


def varint(n: int) -> bytes:
    """An unsigned base-128 varint."""
    if n < 128:
        return _ONE_BYTE[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    """A field's tag: number and wire type."""
    return varint(field << 3 | wire_type)


def length_delimited(tag: bytes, data: bytes) -> bytes:
    """A string, bytes or embedded-message field, given its tag (`key(n, 2)`)."""
    return tag + varint(len(data)) + data


def timestamp(ns: int) -> bytes:
    """A google.protobuf.Timestamp's body for nanoseconds since the epoch."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return b"\x08" + varint(seconds) + (b"\x10" + varint(nanos) if nanos else b"")


class _Clock:
    """The clock's time as an encoded Timestamp field, to the millisecond: made once per millisecond."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._ms = -1
        self._field = b""

    def field(self) -> bytes:
        ms = math.floor(self._now() * 1000)
        if ms != self._ms:
            self._ms, self._field = ms, length_delimited(_TIME, timestamp(ms * 1_000_000))
        return self._field


_FIELDS = event_pb2.Event.DESCRIPTOR.fields_by_name
_ID, _TIME, _SOURCE = (key(_FIELDS[n].number, _LEN) for n in ("id", "time", "source"))
_KINDS = {f.name: key(f.number, _LEN) for f in event_pb2.Event.DESCRIPTOR.oneofs_by_name["kind"].fields}


class EventEncoder:
    """Encodes `Event`s of one source: `encode(kind, message)` gives (event id, bytes), the same
    message `new_event(source, **{kind: message})` would build, to put after envelope bytes. The
    event's time is `clock()` (seconds since the epoch, to the millisecond): a service passes its own
    clock, so events and the state they describe tell the same time."""

    def __init__(self, source: str, clock: Callable[[], float] = time.time) -> None:
        self._source = length_delimited(_SOURCE, source.encode())
        self._clock = _Clock(clock)

    def encode(self, kind: str, body: Message | bytes, event_id: str = "") -> tuple[str, bytes]:
        """A fresh id (unless given) and the clock's time, the source and the kind (a message, or
        one already serialized)."""
        data = body if isinstance(body, bytes) else body.SerializeToString()
        event_id = event_id or new_id("evt")
        return event_id, b"".join((
            length_delimited(_ID, event_id.encode()), self._clock.field(),
            self._source, length_delimited(_KINDS[kind], data)))
