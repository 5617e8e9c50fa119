"""Reproducible QA sampling: a fraction of each agent's conversations, at least a minimum, by channel."""

from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """A conversation that may be sampled."""

    conversation_id: str
    agent_id: str
    channel: str
    recording_uri: str = ""
    queue: str = ""


def _rng(seed: int, *parts: str) -> random.Random:
    digest = hashlib.sha256(":".join([str(seed), *parts]).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def allocate(total: int, sizes: dict[str, int]) -> dict[str, int]:
    """Split `total` across strata in proportion to their sizes (largest remainder), capped by size."""
    population = sum(sizes.values())
    if population == 0:
        return dict.fromkeys(sizes, 0)
    exact = {k: total * n / population for k, n in sizes.items()}
    out = {k: min(sizes[k], math.floor(v)) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: (exact[k] - math.floor(exact[k]), k), reverse=True):
        if sum(out.values()) >= total:
            break
        if out[k] < sizes[k]:
            out[k] += 1
    return out


def sample(candidates: list[Candidate], fraction: float, minimum: int, seed: int,
           stratify_by_channel: bool = True) -> list[Candidate]:
    """Per agent: max(minimum, ceil(fraction × count)) conversations, same seed -> same sample."""
    by_agent: dict[str, list[Candidate]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: c.conversation_id):
        by_agent[c.agent_id].append(c)
    chosen: list[Candidate] = []
    for agent, items in sorted(by_agent.items()):
        n = min(len(items), max(minimum, math.ceil(fraction * len(items))))
        if not stratify_by_channel:
            chosen += _rng(seed, agent).sample(items, n)
            continue
        strata: dict[str, list[Candidate]] = defaultdict(list)
        for c in items:
            strata[c.channel].append(c)
        for channel, k in allocate(n, {ch: len(v) for ch, v in strata.items()}).items():
            chosen += _rng(seed, agent, channel).sample(strata[channel], k)
    return chosen


def sample_by_rate(candidates: list[Candidate], rate: Callable[[Candidate], float], minimum: int, seed: int,
                   stratify_by_channel: bool = True) -> list[Candidate]:
    """Per agent, per (queue, channel) stratum: ceil(rate x size) conversations, then topped up to `minimum` from
    the agent's other conversations whose rate is not 0; same seed -> same sample."""
    by_agent: dict[str, list[Candidate]] = defaultdict(list)
    for c in sorted(candidates, key=lambda c: c.conversation_id):
        by_agent[c.agent_id].append(c)
    chosen: list[Candidate] = []
    for agent, items in sorted(by_agent.items()):
        strata: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
        for c in items:
            strata[(c.queue, c.channel if stratify_by_channel else "")].append(c)
        mine: list[Candidate] = []
        for (queue, channel), group in sorted(strata.items()):
            k = min(len(group), math.ceil(rate(group[0]) * len(group)))
            mine += _rng(seed, agent, queue, channel).sample(group, k)
        if len(mine) < minimum:
            taken = {c.conversation_id for c in mine}
            rest = [c for c in items if c.conversation_id not in taken and rate(c) > 0]
            mine += _rng(seed, agent, "minimum").sample(rest, min(len(rest), minimum - len(mine)))
        chosen += mine
    return chosen
