"""KPI queries: rows per group for a window, from the rollups (RollupQuery) or by a full scan (ScanQuery)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from omnihub.quality import calendar, packed, rollups
from omnihub.quality.calendar import SLOT
from omnihub.quality.kpis import (
    FCR_WINDOW,
    Conv,
    Kpi,
    Survey,
    compute,
    from_counters,
    grouper,
    interval_key,
    spans_from_changes,
)
from omnihub.quality.packed import Matrix
from omnihub.quality.rollups import RollupConfig
from omnihub.quality.store import QualityStore

WIDTHS = {900: "15m", 1800: "30m", 3600: "1h", 86400: "day"}
GROUPINGS = ("", "queue", "agent", "channel", "interval", "day", "month")


def to_conv(doc: dict[str, Any]) -> Conv:
    """A stored conversation document as a KPI record."""
    return Conv(
        id=doc["_id"], channel=doc.get("channel", ""), queue=doc.get("first_queue") or doc.get("queue", ""),
        customer_id=doc.get("customer_id", ""), created=doc.get("created", 0.0), agent=doc.get("agent", ""),
        answered=doc.get("answered"), wait=doc.get("wait"), abandoned=doc.get("abandoned"),
        abandon_wait=doc.get("abandon_wait"), talk=doc.get("talk", 0.0), hold=doc.get("hold", 0.0),
        wrap=doc.get("wrap", 0.0), handled=doc.get("handled", False), resolved=doc.get("resolved", False),
        closed=doc.get("closed"), queued=doc.get("queued", False))


class KpiQuery:
    """Answers KPI questions for a window and a grouping from the rollups, in the center's time zone.

    The window [start, end) takes every 15-minute interval that starts in [start rounded down to 15 minutes,
    end): a contact counts in the interval it was offered. Whole local days of the center are read from the
    day buckets, the rest from the 15-minute ones, and agents' still-open state spans are added up to now.
    """

    def __init__(self, store: QualityStore, targets: dict[str, tuple[float, float]],
                 short_abandon: float = 5.0, timezone: str = "UTC", zones: dict[str, str] | None = None) -> None:
        self.store = store
        self.targets = targets  # queue -> (target fraction, threshold seconds)
        self.short_abandon = short_abandon
        self.timezone = timezone
        self.zones = zones or {}  # queue -> IANA zone, where it differs from the center's
        self.config = RollupConfig(thresholds={q: t[1] for q, t in targets.items()}, short_abandon=short_abandon,
                                   timezone=timezone)
        self.clock: Callable[[], float] = time.time

    def zone_for(self, queue: str = "") -> ZoneInfo:
        """The time zone of a queue's calendar (the center's unless routing.yaml sets one)."""
        return calendar.zone(self.zones.get(queue, self.timezone) if queue else self.timezone)

    async def rows(self, start: float, end: float, group_by: str = "", interval: int = 3600,
                   agent: str = "", queue: str = "") -> tuple[list[Kpi], Kpi]:
        """(rows per group, total row) for contacts offered in [start, end); keys are ISO 8601 local times for
        interval, day and month groupings."""
        if group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {', '.join(g for g in GROUPINGS if g)}")
        tz = self.zone_for(queue)
        width = WIDTHS.get(interval, "1h")
        if group_by == "interval" and width == "day":
            group_by = "day"
        kind = "a" if agent else "q"
        name = agent or queue
        sums: dict[str, Matrix] = {}
        volume: dict[str, dict[str, int]] = defaultdict(dict)
        total = np.zeros(packed.WIDTH, np.int64)
        total_volume: dict[str, int] = {}
        key = self._key(group_by, width, tz)
        # the buckets, the agents' buckets of a by-agent question and the QA scores, read at once
        reads: list[Awaitable[Any]] = [self._buckets(kind, name, start, end, group_by, tz),
                                       self.store.qa_scores(start, end)]
        if group_by == "agent":
            reads.append(self._buckets("a", agent, start, end, "agent", tz))
        buckets, scores, *by_agent = await asyncio.gather(*reads)
        by_time = group_by in ("interval", "day", "month")  # a document's rows share one key
        for t, names, matrix in buckets:
            rest = list(range(len(names)))
            if kind == "q" and not queue:
                rest = [i for i in rest if names[i][0]]
                for i, (ch, n) in enumerate(names):
                    if ch:
                        continue
                    if n:  # a queue's share of agent time: a queue row's own, already in the center's time
                        if group_by == "queue":
                            _add(sums, n, matrix[i])
                        continue
                    total += matrix[i]
                    if group_by not in ("", "agent", "queue", "channel"):  # in no queue or channel row
                        _add(sums, key(ch, n, t), matrix[i])
            if not rest:
                continue
            part = matrix[rest] if len(rest) < len(names) else matrix
            total += part.sum(axis=0)
            conversations = part[:, _CONVERSATIONS].tolist()
            for j, i in enumerate(rest):
                ch = names[i][0]
                if conversations[j] and ch:
                    total_volume[ch] = total_volume.get(ch, 0) + conversations[j]
            if not group_by or group_by == "agent":
                continue
            if by_time:
                k = key("", "", t)
                _add(sums, k, part.sum(axis=0))
                for j, i in enumerate(rest):
                    ch = names[i][0]
                    if conversations[j] and ch:
                        volume[k][ch] = volume[k].get(ch, 0) + conversations[j]
                continue
            for j, i in enumerate(rest):
                ch, n = names[i]
                k = key(ch, n, t)
                _add(sums, k, part[j])
                if conversations[j] and ch:
                    volume[k][ch] = volume[k].get(ch, 0) + conversations[j]
        if by_agent:
            for _t, names, matrix in by_agent[0]:
                counts = matrix[:, _CONVERSATIONS].tolist()
                for i, (ch, n) in enumerate(names):
                    _add(sums, n, matrix[i])
                    if counts[i] and ch:
                        volume[n][ch] = volume[n].get(ch, 0) + counts[i]
        no_occupancy = group_by == "channel"  # agent time is split over queues, not over channels
        out = []
        for k in sorted(sums):
            target, threshold = self.targets.get(k, (0.8, 20.0)) if group_by == "queue" else (0.8, 20.0)
            out.append(from_counters(k, packed.named(sums[k]), threshold=threshold, target=target, volume=volume.get(k),
                                     occupancy=not no_occupancy))
        target, threshold = self.targets.get(queue, (0.8, 20.0))
        total_row = from_counters("total", packed.named(total), threshold=threshold, target=target, volume=total_volume)
        if agent:
            scores = [d for d in scores if d.get("agent_id") == agent]
        _qa(total_row, [d["score"] for d in scores])
        if group_by == "agent":
            for row in out:
                _qa(row, [d["score"] for d in scores if d.get("agent_id") == row.key])
        return out, total_row

    def _key(self, group_by: str, width: str, tz: ZoneInfo) -> Callable[[str, str, int], str]:
        if group_by == "queue":
            return lambda ch, n, t: n
        if group_by == "channel":
            return lambda ch, n, t: ch
        if group_by in ("interval", "day", "month"):
            w = width if group_by == "interval" else group_by
            keys: dict[int, str] = {}  # a question's buckets share few start times: each formatted once

            def time_key(ch: str, n: str, t: int) -> str:
                k = keys.get(t)
                if k is None:
                    k = keys[t] = calendar.iso(calendar.bucket(t, w, tz), tz)
                return k
            return time_key
        return lambda ch, n, t: "total"

    async def _buckets(self, kind: str, name: str, start: float, end: float, group_by: str,
                       tz: ZoneInfo) -> list[tuple[int, list[list[str]], Matrix]]:
        """(start, [channel, queue or agent] per row, counter matrix) of every interval document in the window
        (only the rows of `name` when given), the agents' open spans included."""
        lo = start - start % SLOT
        center = calendar.zone(self.timezone)

        day_ok = group_by != "interval" and tz.key == center.key
        d0 = calendar.day_start(lo, center)
        if day_ok and d0 < lo:
            d0 = calendar.next_day(d0, center)
        d1 = d0
        if day_ok:
            while calendar.next_day(d1, center) <= end:
                d1 = calendar.next_day(d1, center)
        pieces = [("s", lo, d0), ("d", d0, d1), ("s", d1, end)] if d1 > d0 else [("s", lo, end)]
        now = self.clock()
        # every piece and the agents' open spans read at once (each read takes its own connection)
        pieces_read = asyncio.gather(*(self.store.bucket_rows(level, kind, a, b, name)
                                       for level, a, b in pieces if b > a))
        states_read = self.store.last_states(min(now, end), name if kind == "a" else "") if now > lo else _nothing()
        parts, states = await asyncio.gather(pieces_read, states_read)
        out: list[tuple[int, list[list[str]], Matrix]] = [piece for part in parts for piece in part]
        if now > lo:
            for last in states:
                open_span = rollups.span(last["_id"], last["state"], max(last["t"], lo), min(now, end), self.config)
                for bid, counters in open_span.items():
                    meta = rollups.bucket_meta(bid)
                    if meta["l"] == "s" and meta["k"] == kind and lo <= meta["t"] < end and (
                            not name or meta["n"] == name):
                        out.append((meta["t"], [[meta["ch"], meta["n"]]], packed.vector(counters)[None, :]))
        return out


async def _nothing() -> list[dict[str, Any]]:
    return []


_CONVERSATIONS = packed.INDEX["conversations"]


def _add(into: dict[str, Matrix], key: str, counters: Matrix) -> None:
    """Add a row of counters to a group's (a copy the first time: rows are views of a stored matrix)."""
    now = into.get(key)
    if now is None:
        into[key] = counters.copy()
    else:
        now += counters


class ScanQuery:
    """The reference: loads every conversation of the window and computes rows per group (slow at scale)."""

    def __init__(self, store: QualityStore, targets: dict[str, tuple[float, float]],
                 short_abandon: float = 5.0) -> None:
        self.store = store
        self.targets = targets  # queue -> (target fraction, threshold seconds)
        self.short_abandon = short_abandon

    async def rows(self, start: float, end: float, group_by: str = "", interval: int = 3600,
                   agent: str = "", queue: str = "") -> tuple[list[Kpi], Kpi]:
        """(rows per group, total row) for conversations created in [start, end)."""
        all_convs = convs = [to_conv(d) for d in await self.store.conversations_between(start, end)]
        if agent:
            convs = [c for c in convs if c.agent == agent]
        if queue:
            convs = [c for c in convs if c.queue == queue]
        customers = {c.customer_id for c in convs if c.resolved}
        repeats: dict[str, list[float]] = {}
        if customers:  # contacts in the window are already here; only the days after it need a scan
            for c in all_convs:
                if c.customer_id in customers:
                    repeats.setdefault(c.customer_id, []).append(c.created)
            later = await self.store.creations_by_customer(sorted(customers), end, end + FCR_WINDOW)
            for cid, times in later.items():
                repeats.setdefault(cid, []).extend(times)
        initial = await self.store.last_state_before(start)
        changes = [(d["agent"], start, d["to_state"], d["to_state"]) for d in initial]
        changes += [(d["agent"], d["time"], d["from_state"], d["to_state"]) for d in await self.store.state_changes(start, end)]
        spans = spans_from_changes(changes, start, end)
        if agent:
            spans = [s for s in spans if s.agent == agent]
        surveys = [Survey(d["conversation_id"], q, int(score), d.get("agent", ""), d.get("queue", ""),
                          d.get("channel", ""), d.get("answered_at", 0.0))
                   for d in await self.store.survey_answers(start, end) for q, score in d.get("answers", {}).items()]
        if agent:
            surveys = [s for s in surveys if s.agent == agent]
        thresholds = {q: t[1] for q, t in self.targets.items()}
        key = grouper(group_by, interval)
        groups: dict[str, list[Conv]] = defaultdict(list)
        for c in convs:
            groups[key(c)].append(c)
        if group_by == "agent":
            for s in spans:
                groups.setdefault(s.agent, [])
        rows = []
        for name in sorted(groups):
            g_spans = [s for s in spans if group_by != "agent" or s.agent == name]
            if group_by == "interval":
                g_spans = [s for s in spans if interval_key(s.start, interval) == name]
            g_surveys = [s for s in surveys if _survey_key(s, group_by, interval) in (name, None)]
            target, threshold = self.targets.get(name, (0.8, 20.0)) if group_by == "queue" else (0.8, 20.0)
            rows.append(compute(name, groups[name], threshold=threshold, target=target,
                                short_abandon=self.short_abandon, repeats=repeats, spans=g_spans,
                                surveys=g_surveys, thresholds=thresholds))
        total = compute("total", convs, short_abandon=self.short_abandon, repeats=repeats, spans=spans,
                        surveys=surveys, thresholds=thresholds)
        scores = await self.store.qa_scores(start, end)
        if agent:
            scores = [d for d in scores if d.get("agent_id") == agent]
        _qa(total, [d["score"] for d in scores])
        if group_by == "agent":
            for row in rows:
                _qa(row, [d["score"] for d in scores if d.get("agent_id") == row.key])
        return rows, total


def _survey_key(s: Survey, group_by: str, interval: int) -> str | None:
    if group_by == "agent":
        return s.agent
    if group_by == "queue":
        return s.queue
    if group_by == "channel":
        return s.channel
    if group_by == "interval":
        return interval_key(s.time, interval)
    return None


# A figure with nothing to measure it on is null (shown "—"), never 0: ASA with nothing answered, CSAT with no answer.
UNMEASURED = {"asa": "answered", "aht": "handled", "talk": "handled", "wrap": "handled", "abandonment_rate": "offered",
              "fcr": "fcr_eligible", "csat": "csat_responses", "nps": "nps_responses", "qa_score": "qa_evaluations",
              "occupancy": "availability"}  # no available or busy time at all (as on queue rows): no occupancy


def as_json(row: Kpi) -> dict[str, Any]:
    """A KPI row as the HTTP API (and its CSV/XLSX exports) return it: rounded, null where nothing was measured."""
    out = asdict(row)
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 4)
    for figure, denominator in UNMEASURED.items():
        if not out[denominator]:
            out[figure] = None
    return out


def _qa(row: Kpi, scores: list[float]) -> None:
    row.qa_evaluations = len(scores)
    row.qa_score = sum(scores) / len(scores) if scores else 0.0
