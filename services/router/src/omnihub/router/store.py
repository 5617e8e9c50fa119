"""Router state in JetStream KV: changes are batched and written before inbound messages are acked."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import nats.errors
from nats.js import api

from omnihub.common import subjects
from omnihub.common.bus import Bus, kv_key

KV_DEL = {"KV-Operation": "DEL"}


class StateStore:
    """Key-value state with a write-behind buffer flushed by `flush()` (publish_async, one ack wait)."""

    def __init__(self, bus: Bus, bucket: str = subjects.KV_ROUTER_STATE) -> None:
        self._bus = bus
        self.bucket = bucket
        self._dirty: dict[str, bytes | None] = {}

    async def open(self) -> None:
        """Create the bucket if needed (file storage, one revision per key)."""
        await self._bus.kv(self.bucket)

    def put(self, key: str, value: dict[str, Any]) -> None:
        """Stage a JSON value; written on the next flush."""
        self._dirty[kv_key(key)] = json.dumps(value, separators=(",", ":")).encode()

    def delete(self, key: str) -> None:
        """Stage a deletion."""
        self._dirty[kv_key(key)] = None

    @property
    def pending(self) -> int:
        """Staged changes not yet written."""
        return len(self._dirty)

    def take(self) -> dict[str, bytes | None]:
        """Hand over the staged changes (to `write`), leaving the buffer empty."""
        dirty, self._dirty = self._dirty, {}
        return dirty

    async def flush(self) -> None:
        """Write every staged change and wait for all acks together."""
        await self.write(self.take())

    async def write(self, dirty: dict[str, bytes | None]) -> None:
        """Write the given changes with publish_async and one wait for all acks."""
        if not dirty:
            return
        js = self._bus.js
        futures = []
        for key, value in dirty.items():
            subject = f"$KV.{self.bucket}.{key}"
            if value is None:
                futures.append(await js.publish_async(subject, b"", headers=KV_DEL))
            else:
                futures.append(await js.publish_async(subject, value))
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = [k for k, r in zip(dirty, results, strict=True) if isinstance(r, BaseException)]
        for key in failed:  # re-stage and retry synchronously: the last value wins in KV
            value = dirty[key]
            subject = f"$KV.{self.bucket}.{key}"
            for attempt in range(5):
                try:
                    await js.publish(subject, value or b"", headers=KV_DEL if value is None else None)
                    break
                except (TimeoutError, nats.errors.TimeoutError):
                    await asyncio.sleep(0.2 * (attempt + 1))
            else:
                self._dirty.setdefault(key, value)
                raise RuntimeError(f"cannot persist router state key {key}")

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
