"""Customers' average patience of a queue, measured from its stored waits and abandons (for Erlang A)."""

from __future__ import annotations

from dataclasses import dataclass

from omnihub.quality.store import QualityStore

MIN_ABANDONS = 20  # fewer abandons say too little about patience: Erlang C is the safer model then


@dataclass(frozen=True, slots=True)
class Patience:
    """Mean patience in seconds (None: unknown) and where it comes from: configured, measured or none."""

    seconds: float | None
    source: str
    abandons: int = 0

    def as_json(self) -> dict[str, object]:
        """The model this patience gives and why (the requirement's report)."""
        return {"model": "erlang_a" if self.seconds else "erlang_c",
                "patience_seconds": None if self.seconds is None else round(self.seconds, 1),
                "patience_source": self.source, "abandons": self.abandons}


def estimate(waits_answered: float, waits_abandoned: float, abandons: int) -> float | None:
    """Exponential patience by maximum likelihood: every second any customer waited (answered customers' waits
    are patience not yet used up, i.e. censored) divided by the abandons; None below MIN_ABANDONS."""
    if abandons < MIN_ABANDONS:
        return None
    return (waits_answered + waits_abandoned) / abandons


async def measured(store: QualityStore, queue: str, channel: str, start: float, end: float,
                   short_abandon: float = 5.0) -> Patience:
    """The patience of a queue's customers (one channel's when given) created in [start, end).

    Abandons shorter than the short-abandon threshold are left out, as they are from the KPIs (misdials)."""
    answered = abandoned = 0.0
    count = 0
    cursor = store.conversations.find({"created": {"$gte": start, "$lt": end}},
                                      {"channel": 1, "queue": 1, "first_queue": 1, "answered": 1, "wait": 1,
                                       "abandoned": 1, "abandon_wait": 1, "_id": 0})
    async for doc in cursor:
        if (doc.get("first_queue") or doc.get("queue")) != queue or (channel and doc.get("channel") != channel):
            continue
        if doc.get("answered") is not None:
            answered += float(doc.get("wait") or 0.0)
        elif doc.get("abandoned") is not None:
            waited = float(doc.get("abandon_wait") or 0.0)
            if waited >= short_abandon:
                abandoned += waited
                count += 1
    seconds = estimate(answered, abandoned, count)
    return Patience(seconds, "measured" if seconds else "none", count)
