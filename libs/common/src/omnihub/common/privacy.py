"""Privacy requests over core NATS: every service erases its part of one customer, or reports its retention runs."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import nats.errors
import nats.js.errors

from omnihub.common import retention, subjects
from omnihub.common.bus import Bus, kv_key
from omnihub.common.logging import get_logger
from omnihub.common.tombstones import Tombstones

log = get_logger("omnihub.privacy")

# Request {customer_id, identities: ["channel:source id"], names: [...]}; each service answers
# {service, ok, removed: {what: count}} or {service, ok: false, error}. Erasing twice removes nothing more.
ERASE = subjects.PRIVACY_ERASE
# Request {}; each service with a retention job answers {service, ok, runs: [log entries, newest first]}.
RETENTION = subjects.PRIVACY_RETENTION
# Request {customer_id}; a service holding more of a customer's data than the inbox answers {service, ok, data}.
EXPORT = subjects.PRIVACY_EXPORT
# The services that answer erasure requests (the inbox erases its own part in process).
ERASERS = ("router", "quality", "email", "chat", "sms", "voice")
# The services that run a retention job of their own besides the inbox.
RETAINERS = ("quality", "email", "chat")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SETTLE_SECONDS = 8.0  # how long an erasure waits for batches decoded before its tombstone (the inbox asks for 20 s)


def responder(service: str, subject: str, handler: Handler) -> Callable[[Any], Awaitable[None]]:
    """A NATS message callback that runs `handler` on the JSON request and answers for `service`."""

    async def answer(msg: Any) -> None:
        try:
            body = json.loads(msg.data or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the request is not a JSON object")
            out = {"service": service, "ok": True, **await handler(body)}
        except Exception as exc:  # the asker shows the failure for this service; a retry is safe
            log.warning("privacy.failed", service=service, subject=subject, error=repr(exc))
            out = {"service": service, "ok": False, "error": str(getattr(exc, "message", "") or repr(exc))[:500]}
        with contextlib.suppress(Exception):
            await msg.respond(json.dumps(out, default=str).encode())

    return answer


async def serve(bus: Bus, service: str, handlers: dict[str, Handler], stack: contextlib.AsyncExitStack) -> None:
    """Answer privacy requests on the given subjects, one replica of the service per request (queue group)."""
    for subject, handler in handlers.items():
        sub = await bus.nc.subscribe(subject, queue=service, cb=responder(service, subject, handler))
        stack.push_async_callback(sub.unsubscribe)


async def ask(bus: Bus, subject: str, body: dict[str, Any], services: Iterable[str],
              timeout: float = 15.0) -> dict[str, dict[str, Any]]:
    """Publish one request and gather the answers of `services` until all answered or `timeout`; a service that
    did not answer is missing from the result."""
    expected = set(services)
    reply = bus.nc.new_inbox()
    sub = await bus.nc.subscribe(reply)
    answers: dict[str, dict[str, Any]] = {}
    try:
        await bus.nc.publish(subject, json.dumps(body).encode(), reply=reply)
        deadline = time.monotonic() + timeout
        while expected - answers.keys():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            with contextlib.suppress(ValueError, KeyError, TypeError):
                data = json.loads(msg.data)
                answers[str(data["service"])] = data
    finally:
        await sub.unsubscribe()
    return answers


async def install(bus: Bus, service: str, stack: contextlib.AsyncExitStack, *, job: retention.DailyJob | None = None,
                  erase: Handler | None = None, export: Handler | None = None,
                  tombstones: Tombstones | None = None) -> None:
    """Start a service's daily retention job and answer its privacy requests (retention log, erase, export).
    With `tombstones`, an erasure request's tombstone is applied before the service erases its part (its watcher
    of the shared bucket may not have seen it yet), so nothing erased is re-created meanwhile."""
    handlers: dict[str, Handler] = {}
    if job is not None:
        retention.start(job, stack)

        async def runs(_body: dict[str, Any]) -> dict[str, Any]:
            return {"runs": await job.recent()}

        handlers[RETENTION] = runs
    if erase is not None:
        handlers[ERASE] = erase if tombstones is None else tombstone_first(bus, tombstones, erase)
    if export is not None:
        handlers[EXPORT] = export
    await serve(bus, service, handlers, stack)


def tombstone_first(bus: Bus, tombstones: Tombstones, erase: Handler) -> Handler:
    """An erase handler that first applies the request's tombstone, then waits for the service's consumers to
    finish what they decoded before it (a late event already in a batch), so erasing comes after any such write."""

    async def run(body: dict[str, Any]) -> dict[str, Any]:
        if isinstance(body.get("tombstone"), dict):
            tombstones.add(body["tombstone"])
            await settle(bus)
        return await erase(body)

    return run


async def settle(bus: Bus, timeout: float = SETTLE_SECONDS) -> None:
    """`Bus.settled` with a bound: an erasure goes on after `timeout` (logged), never waits for ever."""
    if not await bus.settled(timeout):
        log.warning("privacy.unsettled", timeout=timeout, reason="a consumer's batch was still being handled")


def sources(body: dict[str, Any], *channels: str) -> list[str]:
    """The source ids of an erasure request's identities on these channels ("sms:+8613..." -> "+8613...")."""
    out = []
    for ident in body.get("identities", []):
        channel, _, source = str(ident).partition(":")
        if channel in channels and source:
            out.append(source)
    return out


async def forget_keys(bus: Bus, bucket: str, raw_keys: Iterable[str]) -> int:
    """Remove these keys from a KV bucket with their whole history, delete markers included (a marker's subject
    names the key, which may be a phone number); how many held a value. A missing bucket holds nothing."""
    try:
        kv = await bus.js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        return 0
    found = 0
    for key in {kv_key(k) for k in raw_keys if k}:
        try:
            await kv.get(key)
            found += 1
        except nats.js.errors.KeyNotFoundError:
            pass
        await bus.js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}")
    return found


async def forget_values(bus: Bus, bucket: str, needles: Iterable[str]) -> int:
    """Remove every key of a KV bucket whose value mentions one of `needles` (small buckets only: each value is
    read); how many."""
    wanted = [n.encode() for n in needles if n]
    if not wanted:
        return 0
    try:
        kv = await bus.js.key_value(bucket)
        keys = await kv.keys()
    except (nats.js.errors.BucketNotFoundError, nats.js.errors.NoKeysError):
        return 0
    hits = []
    for key in keys:
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            entry = await kv.get(key)
            if entry.value and any(n in entry.value for n in wanted):
                hits.append(key)
    for key in hits:
        await bus.js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{key}")
    return len(hits)
