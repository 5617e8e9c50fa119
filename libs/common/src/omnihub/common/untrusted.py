"""Checks for what providers and visitors send to the edges: bounded fields and bounded JSON, before any of it
reaches a NATS subject, a header or a protobuf."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from omnihub.common.logging import get_logger

log = get_logger("omnihub.untrusted")

MAX_JSON_DEPTH = 32
MAX_ID = 128
MAX_URL = 2048

# An E.164 number has at most 15 digits; short codes have 3 to 8 (and no "+").
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
_CLIENT = re.compile(r"client:[A-Za-z0-9_.@-]{1,121}")
_SIP = re.compile(r"sip:[!-~]{1,253}")
_ANONYMOUS = frozenset({"anonymous", "restricted", "unknown", "unavailable", "private"})
_TWILIO_SID = re.compile(r"([A-Z]{2})[0-9a-fA-F]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9_.:-]+")
_INT = re.compile(r"[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}")


class InvalidField(ValueError):
    """A provider or visitor field that is missing, too long or not of its known shape."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _present(value: str | None, field: str, required: bool) -> str:
    value = value or ""
    if not value and required:
        raise InvalidField(field, "is required")
    return value


def phone(value: str | None, field: str, *, schemes: Iterable[str] = (), required: bool = True) -> str:
    """An E.164 number (at most 15 digits) or a short code, optionally behind one of `schemes` ("whatsapp:")."""
    raw = _present(value, field, required)
    if not raw:
        return raw
    number = raw
    for scheme in schemes:
        if raw.startswith(f"{scheme}:"):
            number = raw.removeprefix(f"{scheme}:")
            break
    if not (_E164.fullmatch(number) or _SHORT_CODE.fullmatch(number)):
        raise InvalidField(field, "not an E.164 number (+ and at most 15 digits) or a short code")
    return raw


def caller(value: str | None, field: str, *, required: bool = True) -> str:
    """A voice party: a phone number, a Twilio Client identity, a SIP URI, or an anonymous caller."""
    raw = _present(value, field, required)
    if not raw or raw.lower() in _ANONYMOUS or _CLIENT.fullmatch(raw) or _SIP.fullmatch(raw):
        return raw
    return phone(raw, field)


def twilio_sid(value: str | None, field: str, prefixes: Iterable[str], *, required: bool = True) -> str:
    """A Twilio SID: a known two-letter prefix and 32 hex digits (SM…, MM…, CA…, RE…)."""
    raw = _present(value, field, required)
    if not raw:
        return raw
    match = _TWILIO_SID.fullmatch(raw)
    allowed = tuple(prefixes)
    if match is None or match.group(1) not in allowed:
        raise InvalidField(field, f"not a Twilio SID ({'/'.join(allowed)} and 32 hex digits)")
    return raw


def token(value: str | None, field: str, *, max_len: int = MAX_ID, required: bool = True) -> str:
    """An id or keyword of letters, digits and _ . : - (at most `max_len` characters)."""
    raw = _present(value, field, required)
    if raw and (len(raw) > max_len or not _TOKEN.fullmatch(raw)):
        raise InvalidField(field, f"not an id (letters, digits, _ . : -, at most {max_len} characters)")
    return raw


def count(value: str | None, field: str, *, maximum: int) -> int:
    """A non-negative integer no larger than `maximum`; empty means 0."""
    raw = value or "0"
    if not _INT.fullmatch(raw) or int(raw) > maximum:
        raise InvalidField(field, f"not a whole number from 0 to {maximum}")
    return int(raw)


def seconds(value: str | None, field: str, *, maximum: float = 7 * 86_400.0) -> float:
    """A non-negative, finite duration in seconds no larger than `maximum`; empty means 0."""
    raw = value or "0"
    if not _DECIMAL.fullmatch(raw) or float(raw) > maximum:
        raise InvalidField(field, f"not a number of seconds from 0 to {maximum:g}")
    return float(raw)


def text(value: str | None, field: str, *, max_chars: int) -> str:
    """Free text of at most `max_chars` characters, without NUL."""
    raw = value or ""
    if len(raw) > max_chars:
        raise InvalidField(field, f"longer than {max_chars} characters")
    if "\x00" in raw:
        raise InvalidField(field, "contains NUL")
    return raw


def url(value: str | None, field: str, *, required: bool = False) -> str:
    """An http(s) URL of at most 2,048 printable ASCII characters."""
    raw = _present(value, field, required)
    if raw and (len(raw) > MAX_URL or not raw.startswith(("https://", "http://"))
                or not all("!" <= ch <= "~" for ch in raw)):
        raise InvalidField(field, f"not an http(s) URL of at most {MAX_URL} characters")
    return raw


def media_type(value: str | None, field: str) -> str:
    """A MIME type such as image/jpeg (parameters are not kept); empty stays empty."""
    raw = (value or "").split(";", 1)[0].strip()
    if raw and not _MEDIA_TYPE.fullmatch(raw):
        raise InvalidField(field, "not a media type")
    return raw


def _reject_constant(name: str) -> Any:
    raise InvalidField("json", f"{name} is not a number JSON allows")


def _finite(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise InvalidField("json", f"{raw[:20]} is out of range")
    return value


def _check(value: Any, depth: int, max_depth: int) -> None:
    """Walk without recursion: depth is bounded, every string must be valid UTF-8."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if level > max_depth:
            raise InvalidField("json", f"nested deeper than {max_depth} levels")
        if isinstance(item, str):
            _utf8(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _utf8(key)
                stack.append((child, level + 1))
        elif isinstance(item, list):
            stack.extend((child, level + 1) for child in item)


def _utf8(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidField("json", "contains a lone surrogate (not valid Unicode)") from None


def parse_json(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON that a stranger sent: finite numbers only, at most `max_depth` levels, valid Unicode.

    Raises InvalidField (a ValueError) for anything else, never RecursionError or OverflowError.
    """
    try:
        value = json.loads(data, parse_constant=_reject_constant, parse_float=_finite)
    except InvalidField:
        raise
    except (ValueError, RecursionError) as exc:
        raise InvalidField("json", f"not JSON: {str(exc)[:120]}") from None
    _check(value, 1, max_depth)  # the outermost value is level 1
    return value


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def reject_invalid(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer 400 with the reason when a handler finds an invalid field (nothing was published)."""
    try:
        return await handler(request)
    except InvalidField as exc:
        log.warning("edge.invalid_field", path=request.path, field=exc.field, problem=exc.problem)
        return web.json_response({"error": "invalid_field", "field": exc.field, "message": str(exc)}, status=400)
