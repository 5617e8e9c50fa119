"""A message to publish and its HPUB protocol frame, for publishers that write many at once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from omnihub.common.errors import BusError

_UNSAFE_SUBJECT = re.compile(r"\s")
_UNSAFE_VALUE = re.compile(r"[\r\n]")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a batch: subject, payload and optional headers (Nats-Msg-Id among them)."""

    subject: str
    payload: bytes
    headers: dict[str, str] | None = None


def _header_line(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:  # a value cannot end the header block early
        value = _UNSAFE_VALUE.sub(" ", value)  # as nats-py does for the messages it frames
    return f"{name}: {value}\r\n"


def frame(out: Outgoing, max_payload: int, reply: str = "") -> bytes:
    """One HPUB protocol frame (what nats-py's publish writes, without its per-call overhead)."""
    if _UNSAFE_SUBJECT.search(out.subject) or not out.subject:
        raise BusError(f"invalid subject {out.subject!r}")
    if len(out.payload) > max_payload:
        raise BusError(f"a {len(out.payload)}-byte message exceeds the server's {max_payload}-byte limit")
    rendered = "".join([_header_line(k, v) for k, v in out.headers.items()]) if out.headers else ""
    hdr = f"NATS/1.0\r\n{rendered}\r\n".encode()
    reply_token = f" {reply}" if reply else ""
    head = f"HPUB {out.subject}{reply_token} {len(hdr)} {len(hdr) + len(out.payload)}\r\n"
    return head.encode() + hdr + out.payload + b"\r\n"
