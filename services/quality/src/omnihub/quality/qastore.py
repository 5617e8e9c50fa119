"""MongoDB access of the QA workspace: drawn samples (with their seeds) and calibration sessions."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from omnihub.quality.store import QualityStore


class QaStore:
    """Samples and calibration sessions, in the quality database beside the evaluations."""

    def __init__(self, store: QualityStore) -> None:
        self.store = store

    @property
    def samples(self) -> AsyncCollection[dict[str, Any]]:
        """The drawn samples."""
        return self.store.db["qa_samples"]

    @property
    def calibrations(self) -> AsyncCollection[dict[str, Any]]:
        """The calibration sessions."""
        return self.store.db["qa_calibrations"]

    async def setup(self) -> None:
        """Indexes for the newest-first lists and evaluations by calibration session."""
        await self.samples.create_index("created")
        await self.calibrations.create_index("created")
        await self.store.evaluations.create_index([("evaluator_id", 1), ("conversation_id", 1)])

    async def add_sample(self, doc: dict[str, Any]) -> None:
        """Keep a drawn sample."""
        await self.samples.insert_one(doc)

    async def recent_samples(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest samples first."""
        return await self.samples.find().sort("created", -1).to_list(limit)

    async def evaluated_by(self, evaluator: str, conversation_ids: list[str]) -> set[str]:
        """Which of these conversations the evaluator already scored (outside calibration)."""
        cursor = self.store.evaluations.find({"evaluator_id": evaluator, "conversation_id": {"$in": conversation_ids},
                                              "calibration": {"$ne": True}}, {"conversation_id": 1})
        return {d["conversation_id"] for d in await cursor.to_list(None)}

    async def add_calibration(self, doc: dict[str, Any]) -> None:
        """Open a calibration session."""
        await self.calibrations.insert_one(doc)

    async def calibration(self, session_id: str) -> dict[str, Any] | None:
        """One calibration session."""
        return await self.calibrations.find_one({"_id": session_id})

    async def calibrations_list(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest calibration sessions first."""
        return await self.calibrations.find().sort("created", -1).to_list(limit)

    async def calibration_scores(self, session_id: str) -> list[dict[str, Any]]:
        """Every evaluation given in a calibration session."""
        cursor = self.store.evaluations.find({"calibration_id": session_id},
                                             {"conversation_id": 1, "evaluator_id": 1, "score": 1})
        return await cursor.to_list(None)
