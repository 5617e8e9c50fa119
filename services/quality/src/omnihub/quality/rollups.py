"""KPI rollups: each conversation's, survey answer's and agent-state span's contribution to interval counters.

A contribution maps bucket ids to integer counters (durations in milliseconds, so sums are exact). Buckets are
15-minute slots ("s") and the center's local days ("d"), each per queue × channel ("q"), per agent ×
channel ("a") and per agent × queue ("x": handle time, and the agent's state time under queue ""). From the
latter each slot's agent time is split over queues by handle share (`queue_time`) and kept, as it changes, in
the queue's buckets of channel "" (occupancy on queue rows). A conversation counts wholly in the interval it was first offered (queued; else created).
Ingest stores each conversation's applied contribution with it and adds the difference to the buckets when
the conversation changes, so replays add nothing and the order of events does not matter.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from omnihub.quality.calendar import SLOT, day_start, zone

FCR_WINDOW = 7 * 86_400.0

Counters = dict[str, int]
Contribution = dict[str, Counters]

# Every counter a bucket may hold (a missing one is 0).
COUNTERS = ("conversations", "offered", "answered", "abandoned", "short_abandoned", "abandoned_after_threshold",
            "answered_within", "wait_ms", "assigned", "handled", "handle_ms", "talk_ms", "hold_ms", "wrap_ms",
            "transfers", "reopens", "callbacks", "fcr_eligible", "fcr_ok", "csat_n", "csat_good", "nps_n",
            "nps_promoters", "nps_detractors", "busy_ms", "available_ms", "logged_ms")


@dataclass(frozen=True, slots=True)
class RollupConfig:
    """What contributions depend on: a change needs a rebuild (see `fingerprint`)."""

    thresholds: dict[str, float] = field(default_factory=dict)  # queue -> service-level threshold seconds
    default_threshold: float = 20.0
    short_abandon: float = 5.0
    timezone: str = "UTC"

    @property
    def tz(self) -> ZoneInfo:
        """The center's time zone (its local days are the day buckets)."""
        return zone(self.timezone)

    def threshold(self, queue: str) -> float:
        """The service-level threshold of a queue."""
        return self.thresholds.get(queue, self.default_threshold)

    def fingerprint(self) -> str:
        """A string that changes whenever stored rollups would come out differently."""
        return repr((sorted(self.thresholds.items()), self.default_threshold, self.short_abandon, self.timezone))


def bucket_id(level: str, kind: str, t: float, channel: str, name: str) -> str:
    """'s|q|<epoch>|<channel>|<queue>' and the like; the name comes last so it may hold any character."""
    return f"{level}|{kind}|{int(t)}|{channel}|{name}"


def agent_queue_id(level: str, t: float, agent: str, queue: str) -> str:
    """'<level>|x|<epoch>|<agent>|<queue>': the agent in the channel's place ("|" and "%" escaped)."""
    return bucket_id(level, "x", t, x_slot(agent), queue)


def x_slot(agent: str) -> str:
    """An agent as the channel place of an agent × queue bucket id holds it."""
    return agent.replace("%", "%25").replace("|", "%7C")


def x_agent(slot: str) -> str:
    """The agent of an agent × queue bucket id's channel place."""
    return slot.replace("%7C", "|").replace("%25", "%")


def bucket_meta(bid: str) -> dict[str, Any]:
    """The searchable fields of a bucket document, parsed from its id."""
    level, kind, t, channel, name = bid.split("|", 4)
    return {"l": level, "k": kind, "t": int(t), "ch": channel, "n": name}


def _inc(into: Counters, counters: Counters) -> None:
    for k, v in counters.items():
        if v:
            into[k] = into.get(k, 0) + v


def _add(out: Contribution, bid: str, counters: Counters) -> None:
    _inc(out.setdefault(bid, {}), counters)


def _both(out: Contribution, cfg: RollupConfig, t: float, kind: str, channel: str, name: str, c: Counters) -> None:
    """Add counters to the 15-minute slot and the local day holding `t`."""
    _add(out, bucket_id("s", kind, t - t % SLOT, channel, name), c)
    _add(out, bucket_id("d", kind, day_start(t - t % SLOT, cfg.tz), channel, name), c)


def _agent_queue(out: Contribution, cfg: RollupConfig, t: float, agent: str, queue: str, c: Counters) -> None:
    """Add counters to an agent × queue bucket's 15-minute slot and local day."""
    slot = t - t % SLOT
    _add(out, agent_queue_id("s", slot, agent, queue), c)
    _add(out, agent_queue_id("d", day_start(slot, cfg.tz), agent, queue), c)


def _ms(seconds: float | None) -> int:
    return round((seconds or 0.0) * 1000)


def conversation(doc: dict[str, Any], cfg: RollupConfig, contacts: Iterable[float] = ()) -> Contribution:
    """A conversation document's contribution (`contacts`: creation times of the same customer's conversations)."""
    return contribution(doc, cfg, repeated(doc, contacts))


def repeated(doc: dict[str, Any], contacts: Iterable[float]) -> bool:
    """Whether the customer came back within 7 days after the conversation closed (then it is no first-contact
    resolution): the one thing of a contribution that does not come from the conversation document."""
    closed = doc.get("closed")
    if closed is None:
        return False
    closed = float(closed)
    return any(closed < t <= closed + FCR_WINDOW for t in contacts)


def applied(doc: dict[str, Any], cfg: RollupConfig) -> Contribution:
    """What a stored conversation has added to the buckets, from its `kpi` field: nothing when missing; with the
    FCR repeat flag (0/1) stored since contributions are recomputed, the document's contribution with that flag;
    an older stored contribution (a list) as it was stored.

    A change to what `contribution` computes therefore needs a rebuild (bump store.LAYOUT)."""
    kpi = doc.get("kpi")
    if kpi is None:
        return {}
    if isinstance(kpi, list):
        return loaded(kpi)
    return contribution(doc, cfg, bool(kpi))


def _entries(doc: dict[str, Any], name: str) -> list[tuple[Any, ...]]:
    """A per-event map's entries as tuples, sorted (most maps hold one entry: no sort then)."""
    entries = doc.get(name)
    if not entries:
        return []
    if len(entries) == 1:
        return [tuple(*entries.values())]
    return sorted(tuple(v) for v in entries.values())


def repeat_change(doc: dict[str, Any], cfg: RollupConfig, was: bool, now: bool) -> Contribution:
    """`diff(contribution(doc, cfg, now), contribution(doc, cfg, was))` with one contribution computed, not two:
    the repeat flag decides nothing but `fcr_ok` in the buckets that count the conversation for FCR."""
    if was == now:
        return {}
    step = -1 if now else 1
    return {bid: {"fcr_ok": step} for bid, c in contribution(doc, cfg, False).items()
            if c.get("fcr_eligible") and c.get("fcr_ok")}


def contribution(doc: dict[str, Any], cfg: RollupConfig, repeat: bool) -> Contribution:
    """A conversation document's contribution, given whether the customer came back within 7 days of its close."""
    offers = _entries(doc, "offers")
    created = float(doc.get("created") or 0.0)
    if offers:
        offered_at, first_queue = float(offers[0][0]), str(offers[0][1])
    else:
        offered_at, first_queue = created, str(doc.get("first_queue") or doc.get("queue") or "")
    channel = str(doc.get("channel") or "")
    queued = bool(offers) or bool(doc.get("queued"))
    q: Counters = {"conversations": 1}
    agents: dict[str, Counters] = {}

    def agent(name: str) -> Counters:
        return agents.setdefault(name, {})

    assigns = _entries(doc, "assigns")  # (t, agent, first, wait, callback)
    first = next((a for a in assigns if a[2]), None)
    if first is None and doc.get("answered") is not None:  # stored before assignment lists existed
        first = (float(doc["answered"]), str(doc.get("agent") or ""), True, float(doc.get("wait") or 0.0), False)
    abandons = _entries(doc, "abandons")  # (t, wait): the first counts
    if not abandons and doc.get("abandoned") is not None:
        abandons = [(float(doc["abandoned"]), float(doc.get("abandon_wait") or 0.0))]
    if abandons and first is None:
        waited = float(abandons[0][1])
        if waited < cfg.short_abandon:
            q["short_abandoned"] = 1
        else:
            q["abandoned"] = q["offered"] = 1
            if waited >= max(cfg.threshold(first_queue), cfg.short_abandon):
                q["abandoned_after_threshold"] = 1
    elif queued:
        q["offered"] = 1
    if first is not None:
        answer = {"answered": 1, "wait_ms": _ms(first[3]),
                  "answered_within": int(first[3] <= cfg.threshold(first_queue)), "callbacks": int(bool(first[4]))}
        _inc(q, answer)
        _inc(agent(str(first[1])), answer)
    for name in {str(a[1]) for a in assigns}:
        agent(name)["assigned"] = 1
    # handling: each agent's wrap-ups, and the time from their assignment to a transfer away from them
    handle: dict[str, list[int]] = {}  # agent -> [handle, talk, hold, wrap]
    wraps = _entries(doc, "wraps")  # (t, agent, talk, hold, wrap)
    if not wraps and doc.get("handled"):
        wraps = [(0.0, str(doc.get("agent") or ""), doc.get("talk", 0.0), doc.get("hold", 0.0), doc.get("wrap", 0.0))]
    for _t, who, talk, hold, wrap in wraps:
        h = handle.setdefault(str(who), [0, 0, 0, 0])
        h[0] += _ms(talk) + _ms(hold) + _ms(wrap)
        h[1] += _ms(talk)
        h[2] += _ms(hold)
        h[3] += _ms(wrap)
    transfers = _entries(doc, "transfers")  # (t, from_agent)
    for t, who in transfers:
        since = max((a[0] for a in assigns if a[1] == who and a[0] <= t), default=None)
        if who and since is not None:
            h = handle.setdefault(str(who), [0, 0, 0, 0])
            h[0] += _ms(t - since)
            h[1] += _ms(t - since)
    if transfers:
        q["transfers"] = len(transfers)
    if doc.get("reopened"):
        q["reopens"] = 1
    if wraps:
        total = [sum(h[i] for h in handle.values()) for i in range(4)]
        _inc(q, {"handled": 1, "handle_ms": total[0], "talk_ms": total[1], "hold_ms": total[2],
                             "wrap_ms": total[3]})
    # every bucket of one conversation is its own: set, not added (a slot and its local day hold the same)
    slot = offered_at - offered_at % SLOT
    s_t, d_t = int(slot), int(_day(slot, cfg.timezone))
    out: Contribution = {}
    for who, h in handle.items():
        _inc(agent(who), {"handled": 1, "handle_ms": h[0], "talk_ms": h[1], "hold_ms": h[2],
                                      "wrap_ms": h[3]})
        if who and h[0]:  # the queue first offered, as the queue's own handle time
            xs = x_slot(who)
            out[f"s|x|{s_t}|{xs}|{first_queue}"] = {"handle_ms": h[0]}
            out[f"d|x|{d_t}|{xs}|{first_queue}"] = {"handle_ms": h[0]}
    closed = doc.get("closed")
    if wraps and closed is not None:  # every issue handled to a close counts; resolved ones may score
        closed = float(closed)
        outcomes = _entries(doc, "outcomes")  # (t, resolved): the last
        resolved = bool(outcomes[-1][1]) if outcomes else bool(doc.get("resolved"))
        ok = resolved and not doc.get("reopened") and not repeat
        fcr = {"fcr_eligible": 1, "fcr_ok": int(ok)}
        _inc(q, fcr)
        _inc(agent(str(wraps[-1][1])), fcr)
    counted = {k: v for k, v in q.items() if v}
    if counted:
        out[f"s|q|{s_t}|{channel}|{first_queue}"] = counted
        out[f"d|q|{d_t}|{channel}|{first_queue}"] = dict(counted)
    for who, c in agents.items():
        counted = {k: v for k, v in c.items() if v}
        if who and counted:
            out[f"s|a|{s_t}|{channel}|{who}"] = counted
            out[f"d|a|{d_t}|{channel}|{who}"] = dict(counted)
    return out


@lru_cache(maxsize=8192)
def _day(slot: float, timezone: str) -> float:
    """The start of the local day holding a 15-minute slot (the same few for a whole batch)."""
    return day_start(slot, zone(timezone))


def survey(doc: dict[str, Any], cfg: RollupConfig) -> Contribution:
    """A survey's answers, each in the interval it was answered (CSAT 1-5: 4-5 good; NPS 0-10)."""
    out: Contribution = {}
    times = doc.get("answer_times") or {}
    for question, score in (doc.get("answers") or {}).items():
        t = float(times.get(question, doc.get("answered_at") or 0.0))
        score = int(score)
        if question == "csat":
            c = {"csat_n": 1, "csat_good": int(score >= 4)}
        elif question == "nps":
            c = {"nps_n": 1, "nps_promoters": int(score >= 9), "nps_detractors": int(score <= 6)}
        else:
            continue
        channel = str(doc.get("channel") or "")
        _both(out, cfg, t, "q", channel, str(doc.get("queue") or ""), c)
        if doc.get("agent"):
            _both(out, cfg, t, "a", channel, str(doc["agent"]), c)
    return out


UNCOUNTED_STATES = ("OFFLINE", "UNSPECIFIED", "")  # time in them is no agent time at all
STATE_COUNTERS = {"BUSY": ("busy_ms", "logged_ms"), "WRAP_UP": ("busy_ms", "logged_ms"),
                  "AVAILABLE": ("available_ms", "logged_ms")}


def span(agent: str, state: str, start: float, end: float, cfg: RollupConfig) -> Contribution:
    """An agent's time in one state, cut at 15-minute marks (each piece also counted in its local day), in the
    agent's buckets and in the center's (queue "" and channel "": occupancy belongs to no queue)."""
    names = STATE_COUNTERS.get(state, () if state in UNCOUNTED_STATES else ("logged_ms",))
    out: Contribution = {}
    if not names or end <= start:
        return out
    t = start
    while t < end:
        slot = t - t % SLOT
        piece = min(end, slot + SLOT)
        ms = round(piece * 1000) - round(t * 1000)
        counters = dict.fromkeys(names, ms)
        _both(out, cfg, slot, "a", "", agent, counters)
        _both(out, cfg, slot, "q", "", "", counters)  # the whole center's, beside the queues'
        _agent_queue(out, cfg, slot, agent, "", counters)  # beside the agent's handle time per queue
        t = piece
    return out


def spans(agent: str, changes: list[tuple[float, str]], cfg: RollupConfig) -> Contribution:
    """Spans between consecutive (time, to_state) changes of one agent, sorted; the last one stays open."""
    out: Contribution = {}
    for (t, state), (t_next, _s) in itertools.pairwise(changes):
        for bid, c in span(agent, state, t, t_next, cfg).items():
            _add(out, bid, c)
    return out


STATE_TIME = ("busy_ms", "available_ms", "logged_ms")


def queue_time(slot: dict[tuple[str, str], Counters]) -> dict[str, Counters]:
    """One 15-minute slot's agent time by queue, from its agent × queue buckets ((agent, queue) -> counters):
    each agent's busy, available and logged time split over the queues by the agent's handle time there in the
    slot. Time of an agent who handled nothing in the slot belongs to no queue (only to the center)."""
    state: dict[str, Counters] = {}
    handle: dict[str, dict[str, int]] = {}
    for (agent, queue), c in slot.items():
        if queue:
            if c.get("handle_ms"):
                handle.setdefault(agent, {})[queue] = c["handle_ms"]
        else:
            state[agent] = c
    out: dict[str, Counters] = {}
    for agent, per_queue in sorted(handle.items()):
        times, whole = state.get(agent), sum(per_queue.values())
        if not times or whole <= 0:
            continue
        for queue, ms in sorted(per_queue.items()):
            _inc(out.setdefault(queue, {}), {k: round(times.get(k, 0) * ms / whole) for k in STATE_TIME})
    return out


def with_queue_time(deltas: Contribution, slots: dict[int, dict[tuple[str, str], Counters]],
                    cfg: RollupConfig) -> Contribution:
    """`deltas` plus the change they make to the queues' share of agent time (`queue_time`), as queue buckets
    of channel "" in the slot and its local day; `slots`: the stored agent × queue buckets of the 15-minute
    slots whose agent × queue buckets the deltas change."""
    out = {bid: dict(c) for bid, c in deltas.items()}
    after: dict[int, dict[tuple[str, str], Counters]] = {t: {k: dict(c) for k, c in slot.items()}
                                                        for t, slot in slots.items()}
    for bid, c in deltas.items():
        if bid.startswith("s|x|"):
            meta = bucket_meta(bid)
            _inc(after.setdefault(meta["t"], {}).setdefault((meta["ch"], meta["n"]), {}), c)
    for t, slot in after.items():
        old, new = queue_time(slots.get(t, {})), queue_time(slot)
        for queue in old.keys() | new.keys():
            change = {k: new.get(queue, {}).get(k, 0) - old.get(queue, {}).get(k, 0) for k in STATE_TIME}
            change = {k: v for k, v in change.items() if v}
            if change:
                _add(out, bucket_id("s", "q", t, "", queue), change)
                _add(out, bucket_id("d", "q", day_start(t, cfg.tz), "", queue), change)
    return {bid: c for bid, c in out.items() if any(c.values())}


def merge(parts: Iterable[Contribution]) -> Contribution:
    """The sum of contributions."""
    out: Contribution = {}
    for part in parts:
        for bid, c in part.items():
            into = out.get(bid)
            if into is None:
                out[bid] = {k: v for k, v in c.items() if v}
            else:
                for k, v in c.items():
                    if v:
                        into[k] = into.get(k, 0) + v
    return out


def diff(new: Contribution, old: Contribution) -> Contribution:
    """new - old, without zero counters or empty buckets."""
    out: Contribution = {}
    for bid in new.keys() | old.keys():
        n, o = new.get(bid, {}), old.get(bid, {})
        d = {k: n.get(k, 0) - o.get(k, 0) for k in n.keys() | o.keys()}
        d = {k: v for k, v in d.items() if v}
        if d:
            out[bid] = d
    return out


# A counter's code in stored contributions is its position in COUNTERS: append new counters, never reorder.
_CODE = {name: i for i, name in enumerate(COUNTERS)}


def _counters_text(counters: Counters) -> str:
    return " ".join([f"{i}:{v}" for i, v in sorted([(_CODE[k], v) for k, v in counters.items() if v])])


def stored(contribution: Contribution) -> list[list[str]]:
    """A contribution as stored in its conversation, compactly: [counters as "code:value ...", bucket id, ...]
    groups, the buckets of a group holding the same counters (a slot and its day do). About a quarter of the
    bytes of {bucket: {counter: value}}, which nearly doubled every conversation document."""
    groups: dict[str, list[str]] = {}
    for bid, counters in sorted(contribution.items()):
        groups.setdefault(_counters_text(counters), []).append(bid)
    return [[text, *bids] for text, bids in groups.items()]


def loaded(value: Any) -> Contribution:
    """The inverse of `stored` (also reads the earlier [bucket id, {counter: value}] pairs)."""
    out: Contribution = {}
    for item in value or []:
        if isinstance(item[1], dict):  # stored before the compact form
            out[str(item[0])] = dict(item[1])
            continue
        counters = {COUNTERS[int(code)]: int(v) for code, v in (pair.split(":") for pair in item[0].split())}
        for bid in item[1:]:
            out[str(bid)] = dict(counters)
    return out


__all__ = [
    "COUNTERS",
    "FCR_WINDOW",
    "UNCOUNTED_STATES",
    "Contribution",
    "Counters",
    "RollupConfig",
    "agent_queue_id",
    "applied",
    "bucket_id",
    "bucket_meta",
    "contribution",
    "conversation",
    "diff",
    "loaded",
    "merge",
    "repeat_change",
    "repeated",
    "span",
    "spans",
    "stored",
    "survey",
    "x_agent",
    "x_slot",
]
