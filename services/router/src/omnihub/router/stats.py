"""Live queue statistics: today's answered, abandoned and handle time per queue, waits and business hours.

"Today" is the local day of the queue's report zone (else the center's), and abandons shorter than the short-abandon
threshold are not counted, as in quality's reports: the wallboard and a report of today show the same figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from omnihub.api.routing.v1 import routing_pb2
from omnihub.common import subjects
from omnihub.router import engine as eng
from omnihub.router.config import QueueConfig
from omnihub.router.records import dur
from omnihub.router.state import RouterState

INITIAL_AHT_SECONDS = 180.0  # a queue's handle time before any conversation was handled there
AHT_WEIGHT = 0.1  # each handled conversation's share of the moving average handle time
_ACTIVE = (routing_pb2.ROUTING_STATE_ASSIGNED, routing_pb2.ROUTING_STATE_OFFERED, routing_pb2.ROUTING_STATE_WRAP_UP)


@dataclass(slots=True)
class QueueDay:
    """Today's live figures for one queue."""

    day: str = ""
    answered: int = 0
    within: int = 0
    abandoned: int = 0
    aht: float = INITIAL_AHT_SECONDS


class Stats:
    """Today's figures per queue (kept in KV), and the business hours of each queue now."""

    def __init__(self, state: RouterState, timezone: str = "UTC", short_abandon: float = 5.0) -> None:
        self.state = state
        self.short_abandon = short_abandon
        self.days: dict[str, QueueDay] = {q.name: QueueDay() for q in state.config.queues}
        center = ZoneInfo(timezone)
        self.zones = {q.name: ZoneInfo(q.report_time_zone) if q.report_time_zone else center
                      for q in state.config.queues}
        self.center = center
        self._dates: dict[str, tuple[int, str]] = {}  # zone -> (minute, local date) of the last question
        self._open_cache: dict[str, tuple[int, bool]] = {}

    def restore(self, value: dict[str, Any]) -> None:
        """Today's figures of one queue as stored."""
        if value.get("queue") in self.days:
            self.days[value["queue"]] = QueueDay(
                value["day"], value["answered"], value["within"], value["abandoned"], value["aht"])

    def _save(self, queue: str) -> None:
        s = self.days[queue]
        self.state.store.put(f"s.{queue}", {"queue": queue, "day": s.day, "answered": s.answered,
                                            "within": s.within, "abandoned": s.abandoned, "aht": s.aht})

    def local_date(self, queue: str, now: float) -> str:
        """The date of `now` in the queue's zone (worked out once a minute per zone: midnight is on a minute)."""
        tz = self.zones.get(queue, self.center)
        minute = int(now // 60)
        cached = self._dates.get(tz.key)
        if cached is None or cached[0] != minute:
            cached = self._dates[tz.key] = (minute, dt.datetime.fromtimestamp(now, tz).date().isoformat())
        return cached[1]

    def today(self, queue: str, now: float) -> QueueDay:
        """The queue's figures for the local day of `now` (reset when the day changed)."""
        day = self.local_date(queue, now)
        s = self.days.setdefault(queue, QueueDay())
        if s.day != day:
            s.day, s.answered, s.within, s.abandoned = day, 0, 0, 0
        return s

    def answered(self, queue: str, waited: float, now: float) -> None:
        """A first answer after `waited` seconds: counts toward the service level."""
        s = self.today(queue, now)
        s.answered += 1
        s.within += waited <= self.state.engine.queues[queue].service_level.threshold_seconds
        self._save(queue)

    def abandoned(self, queue: str, now: float, waited: float) -> None:
        """A customer left the queue before an answer (after `waited` seconds: a short abandon is not counted)."""
        if waited < self.short_abandon:
            return
        self.today(queue, now).abandoned += 1
        self._save(queue)

    def handled(self, queue: str, seconds: float, now: float) -> None:
        """A conversation's talk and wrap-up time, into the queue's moving average handle time."""
        s = self.today(queue, now)
        s.aht = (1 - AHT_WEIGHT) * s.aht + AHT_WEIGHT * seconds
        self._save(queue)

    def open_now(self, qconf: QueueConfig, now: float) -> bool:
        """The queue's business hours at `now`, worked out once per queue and second."""
        second = int(now)
        cached = self._open_cache.get(qconf.name)
        if cached is None or cached[0] != second:
            cached = self._open_cache[qconf.name] = (
                second, qconf.business_hours.is_open(dt.datetime.fromtimestamp(now, dt.UTC)))
        return cached[1]

    # ---- queries ------------------------------------------------------------------------
    def queue_stats(self, request: routing_pb2.GetQueueStatsRequest, threads: Mapping[str, str],
                    ) -> routing_pb2.GetQueueStatsResponse:
        """Live statistics per queue, and the position of one conversation (by id or thread) when asked."""
        engine = self.state.engine
        now = self.state.clock()
        wanted = list(request.queues) or list(engine.queues)
        out = routing_pb2.GetQueueStatsResponse()
        for name in wanted:
            if name in engine.queues:
                out.stats.append(self._stats_for(name, now))
        cid = request.conversation_id
        if not cid and request.thread_key:
            token = subjects.channel_token(request.channel) if request.channel else ""
            cid = threads.get(f"{token}:{request.thread_key}", "")
        w = engine.waiting.get(cid)
        if cid:
            out.conversation_id = cid
        if w is not None:
            order = engine.waiting_in(w.queue)
            position = next((i for i, x in enumerate(order, 1) if x.conversation_id == cid), 0)
            out.position = position
            out.queue = w.queue
            out.estimated_wait.CopyFrom(dur(self._ewt(w.queue, position)))
        return out

    def _ewt(self, queue: str, position: int) -> float:
        """Estimated wait: the work ahead divided over the staffed agents (0 with a free agent)."""
        engine = self.state.engine
        stats = self.days.get(queue) or QueueDay()
        staffed = sum(1 for a in engine.agents_in(queue) if a.presence == eng.AVAILABLE)
        if staffed == 0:
            return float(stats.aht * position)
        free = any(a.id in engine.ready for a in engine.agents_in(queue))
        if free and position <= 1:
            return 0.0
        return stats.aht * position / staffed

    def _stats_for(self, name: str, now: float) -> routing_pb2.QueueStats:
        state = self.state
        qconf = state.engine.queues[name]
        waiting = state.engine.waiting_in(name)
        longest = max((now - state.records[w.conversation_id].first_enqueue for w in waiting), default=0.0)
        by_state: dict[str, int] = {}
        for a in state.engine.agents_in(name):
            by_state[a.state] = by_state.get(a.state, 0) + 1
        day = self.today(name, now)
        active = sum(1 for r in state.records.values() if r.conv.queue == name and r.conv.routing_state in _ACTIVE)
        return routing_pb2.QueueStats(
            queue=name, waiting=len(waiting), longest_wait=dur(longest), agents_by_state=by_state,
            service_level_today=(day.within / day.answered) if day.answered else None,  # None: unset
            service_level_target=qconf.service_level.target,
            service_level_threshold_seconds=round(qconf.service_level.threshold_seconds),
            estimated_wait=dur(self._ewt(name, len(waiting) + 1)), answered_today=day.answered,
            abandoned_today=day.abandoned, active=active,
            open_now=self.open_now(qconf, now))
