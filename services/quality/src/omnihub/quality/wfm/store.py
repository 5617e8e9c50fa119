"""MongoDB access of workforce management: forecasts (kept with their creation time) and schedules."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from omnihub.quality.store import QualityStore


class WfmStore:
    """Forecasts and schedules, in the quality database."""

    def __init__(self, store: QualityStore) -> None:
        self.store = store

    @property
    def forecasts(self) -> AsyncCollection[dict[str, Any]]:
        """Every forecast made, never overwritten: a later view compares it with what happened."""
        return self.store.db["wfm_forecasts"]

    @property
    def schedules(self) -> AsyncCollection[dict[str, Any]]:
        """Schedules by ISO week."""
        return self.store.db["wfm_schedules"]

    async def setup(self) -> None:
        """Indexes for the newest forecast of a queue and channel and a week's schedule."""
        await self.forecasts.create_index([("queue", 1), ("channel", 1), ("created", -1)])
        await self.schedules.create_index([("week", 1), ("created_epoch", -1)])

    async def add_forecast(self, doc: dict[str, Any]) -> None:
        """Keep a forecast."""
        await self.forecasts.insert_one(doc)

    async def forecast(self, forecast_id: str) -> dict[str, Any] | None:
        """One forecast by id."""
        return await self.forecasts.find_one({"_id": forecast_id})

    async def latest_forecast(self, queue: str, channel: str, covering: float | None = None) -> dict[str, Any] | None:
        """The newest forecast of a queue and channel (that covers `covering`, when given)."""
        query: dict[str, Any] = {"queue": queue, "channel": channel}
        if covering is not None:
            query |= {"from": {"$lte": covering}, "to": {"$gt": covering}}
        return await self.forecasts.find_one(query, sort=[("created", -1)])

    async def add_schedule(self, doc: dict[str, Any]) -> None:
        """Keep a schedule (the newest of a week is the one in force)."""
        await self.schedules.insert_one(doc)

    async def schedule(self, week: str) -> dict[str, Any] | None:
        """The newest schedule of an ISO week such as 2026-W50."""
        return await self.schedules.find_one({"week": week}, sort=[("created_epoch", -1)])
