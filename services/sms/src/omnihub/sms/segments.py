"""SMS length as carriers count it: GSM-7 (its extension characters take an escape, two septets) at 160 per message
or 153 per part, otherwise UCS-2 at 70 / 67 UTF-16 units; a part never splits an escape pair or a surrogate pair.
The desktop's counter (services/inbox/web/src/views/inbox/sms.ts) follows the same rules and the same test vectors
(tests/vectors/sms_segments.json)."""

from __future__ import annotations

from dataclasses import dataclass

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class SmsLength:
    """Units used (septets or UTF-16 units), parts, and the encoding."""

    units: int
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"


def _parts(sizes: list[int], single: int, multi: int) -> int:
    total = sum(sizes)
    if total <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:  # fill each part; a character that does not fit whole starts the next one
        if used + size > multi:
            parts, used = parts + 1, 0
        used += size
    return parts


def sms_length(body: str) -> SmsLength:
    """How carriers count `body` (the empty body is one part)."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in body):
        sizes = [2 if c in GSM_EXTENSION else 1 for c in body]
        return SmsLength(sum(sizes), _parts(sizes, 160, 153), "GSM-7")
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in body]
    return SmsLength(sum(sizes), _parts(sizes, 70, 67), "UCS-2")


def segments(body: str) -> int:
    """The number of parts `body` is sent in."""
    return sms_length(body).segments
