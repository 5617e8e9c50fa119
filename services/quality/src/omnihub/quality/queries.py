"""KPI queries: load a window from the store and compute rows per group."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any

from omnihub.quality.kpis import FCR_WINDOW, Conv, Kpi, Survey, compute, grouper, interval_key, spans_from_changes
from omnihub.quality.store import QualityStore


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
    """Answers KPI questions for a window and a grouping."""

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


def as_json(row: Kpi) -> dict[str, Any]:
    """A KPI row as the HTTP API returns it."""
    out = asdict(row)
    for k, v in out.items():
        if isinstance(v, float):
            out[k] = round(v, 4)
    return out


def _qa(row: Kpi, scores: list[float]) -> None:
    row.qa_evaluations = len(scores)
    row.qa_score = sum(scores) / len(scores) if scores else 0.0
