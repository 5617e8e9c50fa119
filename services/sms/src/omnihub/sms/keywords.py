"""Carrier opt-out keywords and survey replies, as Twilio's Advanced Opt-Out recognises them."""

from __future__ import annotations

import re

OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "STOP ALL"})
OPT_IN = frozenset({"START", "UNSTOP", "YES", "OPTIN"})
_SCORE = re.compile(r"^\s*(\d{1,2})\s*[.!]?\s*$")


def keyword(body: str) -> str:
    """The normalised keyword if the whole message is one (case and spacing ignored), else ""."""
    word = " ".join(body.strip().upper().split())
    return word if word in OPT_OUT or word in OPT_IN else ""


def is_opt_out(body: str) -> bool:
    """STOP and its synonyms."""
    return keyword(body) in OPT_OUT


def is_opt_in(body: str) -> bool:
    """START and its synonyms."""
    return keyword(body) in OPT_IN


def survey_score(body: str, low: int, high: int) -> int | None:
    """A bare score such as "4" within [low, high], else None."""
    m = _SCORE.match(body)
    if not m:
        return None
    value = int(m.group(1))
    return value if low <= value <= high else None

