"""Router state in JetStream KV: changes are batched and written before inbound messages are acked."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.js import api

from omnihub.common import subjects
from omnihub.common.bus import Bus, kv_key
from omnihub.common.outgoing import Outgoing

KV_DEL = {"KV-Operation": "DEL"}
Value = dict[str, Any] | Callable[[], dict[str, Any]]
Staged = Value | bytes | None  # bytes: already encoded (a failed write kept for the next flush)


def _encode(value: Staged) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return json.dumps(value() if callable(value) else value, separators=(",", ":")).encode()


class StateStore:
    """Key-value state with a write-behind buffer, written by `flush()` through `Bus.publish_many`."""

    def __init__(self, bus: Bus, bucket: str = subjects.KV_ROUTER_STATE) -> None:
        self._bus = bus
        self.bucket = bucket
        self._dirty: dict[str, Staged] = {}

    async def open(self) -> None:
        """Create the bucket if needed (file storage, one revision per key), taking fast batches."""
        await self._bus.kv(self.bucket)
        await self._bus.enable_batched(f"KV_{self.bucket}")

    def put(self, key: str, value: Value) -> None:
        """Stage a JSON value, or a function giving it, called at write time: a record changed several
        times before one flush is encoded once."""
        self._dirty[kv_key(key)] = value

    def delete(self, key: str) -> None:
        """Stage a deletion."""
        self._dirty[kv_key(key)] = None

    @property
    def pending(self) -> int:
        """Staged changes not yet written."""
        return len(self._dirty)

    def take(self) -> dict[str, bytes | None]:
        """Hand over the staged changes, encoded (to `write`), leaving the buffer empty."""
        dirty, self._dirty = self._dirty, {}
        return {key: _encode(value) for key, value in dirty.items()}

    async def flush(self) -> None:
        """Write every staged change and wait for all acks together."""
        await self.write(self.take())

    async def write(self, dirty: dict[str, bytes | None]) -> None:
        """Write the given changes: as a fast batch when there are many, else with an ack each
        (`Bus.publish_many`). On failure they stay staged for the next flush."""
        if not dirty:
            return
        prefix = f"$KV.{self.bucket}."
        messages = [Outgoing(prefix + key, b"", KV_DEL) if value is None else Outgoing(prefix + key, value)
                    for key, value in dirty.items()]
        try:
            await self._bus.publish_many(f"KV_{self.bucket}", messages)
        except Exception:
            for key, value in dirty.items():  # keep them for the next flush; newer values win
                self._dirty.setdefault(key, value)
            raise

    async def load(self) -> dict[str, dict[str, Any]]:
        """Every live key and its JSON value (latest revision, deletes dropped)."""
        js = self._bus.js
        stream = f"KV_{self.bucket}"
        out: dict[str, dict[str, Any]] = {}
        try:
            info = await js.stream_info(stream)
        except Exception:
            return out
        if info.state.messages == 0:
            return out
        sub = await js.subscribe(
            f"$KV.{self.bucket}.>",
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.LAST_PER_SUBJECT,
        )
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except nats.errors.TimeoutError:
                    break
                key = msg.subject[len(f"$KV.{self.bucket}.") :]
                op = (msg.headers or {}).get("KV-Operation")
                if op in ("DEL", "PURGE") or not msg.data:
                    out.pop(key, None)
                else:
                    out[key] = json.loads(msg.data)
                if msg.metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return out
