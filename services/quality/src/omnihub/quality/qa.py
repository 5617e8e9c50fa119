"""The QA workflow: evaluate, acknowledge or dispute, resolve; sampling and calibration over the store."""

from __future__ import annotations

import time
from typing import Any

from omnihub.api.event.v1 import event_pb2
from omnihub.common.bus import Bus, new_event, new_id
from omnihub.quality.calibration import krippendorff_alpha_interval
from omnihub.quality.qapolicy import DEFAULT, Policy
from omnihub.quality.sampling import Candidate, sample, sample_by_rate
from omnihub.quality.scorecards import SCORECARDS, ScoringError, score
from omnihub.quality.store import QualityStore

TRANSITIONS = {"acknowledge": ("submitted", "acknowledged"), "dispute": ("submitted", "disputed"),
               "resolve": ("disputed", "resolved")}


class QaError(ValueError):
    """A QA request that cannot be done; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class QaService:
    """Evaluations, sampling and calibration."""

    def __init__(self, store: QualityStore, bus: Bus | None, policies: dict[str, Policy] | None = None) -> None:
        self.store = store
        self.bus = bus
        self.policies = policies or {p.id: p for p in DEFAULT}  # qa.yaml's sampling policies

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """Score a conversation with a scorecard; the agent is told through an evaluation.updated event."""
        card = SCORECARDS.get(str(body.get("scorecard_id") or "default"))
        if card is None:
            raise QaError("unknown scorecard")
        for key in ("conversation_id", "evaluator_id"):
            if not body.get(key):
                raise QaError(f"{key} is required")
        try:
            answers = {str(k): float(v) for k, v in dict(body.get("answers") or {}).items()}
            total = score(card, answers)
        except (ScoringError, TypeError, ValueError) as exc:
            raise QaError(str(exc)) from None
        conv = await self.store.conversation(str(body["conversation_id"]))
        agent = str((conv or {}).get("agent") or body.get("agent_id") or "")  # who handled it, not who is named
        if not agent:
            raise QaError("agent_id is required for a conversation quality has not seen handled")
        if body.get("agent_id") and body["agent_id"] != agent:
            raise QaError(f"the conversation was handled by {agent}, not {body['agent_id']}")
        doc = {"_id": new_id("qa"), "conversation_id": str(body["conversation_id"]), "agent_id": agent,
               "evaluator_id": str(body["evaluator_id"]), "scorecard_id": card.id, "answers": answers, "score": total,
               "status": "submitted", "comments": str(body.get("comments", ""))[:2000],
               "calibration": bool(body.get("calibration")), "calibration_id": str(body.get("calibration_id") or ""),
               "created": time.time(), "recording_uri": (conv or {}).get("recording_uri", "")}
        await self.store.save_evaluation(doc)
        await self._announce(doc)
        return doc

    async def act(self, evaluation_id: str, action: str, actor: str, note: str = "",
                  new_score: float | None = None) -> dict[str, Any]:
        """acknowledge / dispute (the evaluated agent) or resolve (anyone but that agent)."""
        if action not in TRANSITIONS:
            raise QaError("action must be acknowledge, dispute or resolve")
        doc = await self.store.evaluation(evaluation_id)
        if doc is None:
            raise QaError("unknown evaluation", 404)
        before, after = TRANSITIONS[action]
        if action in ("acknowledge", "dispute") and actor != doc["agent_id"]:
            raise QaError("only the evaluated agent can acknowledge or dispute", 403)
        if action == "resolve" and actor == doc["agent_id"]:
            raise QaError("an agent cannot resolve their own dispute", 403)
        if action == "dispute" and not note.strip():
            raise QaError("say why you dispute the evaluation")
        changes: dict[str, Any] = {"status": after, f"{action}_by": actor, f"{action}_at": time.time()}
        if action == "dispute":
            changes["dispute_reason"] = note[:2000]
        if action == "resolve":
            changes["resolution"] = note[:2000]
            if new_score is not None:
                changes["score"] = max(0.0, min(100.0, float(new_score)))
        if not await self.store.update_evaluation(evaluation_id, before, changes):
            raise QaError(f"the evaluation is {doc['status']}, not {before}", 409)
        doc.update(changes)
        await self._announce(doc)
        return doc

    async def _announce(self, doc: dict[str, Any]) -> None:
        if self.bus is None:
            return
        evt = new_event("quality", conversation_id=doc["conversation_id"], evaluation_updated=event_pb2.EvaluationUpdated(
            evaluation_id=doc["_id"], agent_id=doc["agent_id"], status=doc["status"], score=doc["score"]))
        await self.bus.publish_event(evt)

    async def draw_sample(self, start: float, end: float, fraction: float, minimum: int, seed: int,
                          stratify: bool = True) -> list[Candidate]:
        """A reproducible sample of handled conversations in the window."""
        if not 0 < fraction <= 1 or minimum < 0:
            raise QaError("fraction must be in (0, 1] and minimum >= 0")
        docs = await self.store.handled_between(start, end)
        candidates = [Candidate(d["_id"], d.get("agent", ""), d.get("channel", ""), d.get("recording_uri", ""))
                      for d in docs if d.get("agent")]
        return sample(candidates, fraction, minimum, seed, stratify)

    async def draw_by_policy(self, start: float, end: float, policy: Policy, seed: int) -> list[tuple[Candidate, str]]:
        """A reproducible sample of the window's handled conversations by a policy, each with why it was picked
        ("sampled", or "low_csat": rated at most the policy's low_csat, always added)."""
        docs = await self.store.handled_between(start, end)
        candidates = [Candidate(d["_id"], d.get("agent", ""), d.get("channel", ""), d.get("recording_uri", ""),
                                d.get("queue", "")) for d in docs if d.get("agent")]
        if policy.overrides():
            picked = sample_by_rate(candidates, policy.rate, policy.minimum, seed, policy.stratify_by_channel)
        else:  # one fraction for all: the plain stratified sampler
            picked = sample(candidates, policy.fraction, policy.minimum, seed, policy.stratify_by_channel)
        out = [(c, "sampled") for c in picked]
        if policy.low_csat is not None:
            taken = {c.conversation_id for c in picked}
            low = await self.store.rated_at_most([c.conversation_id for c in candidates if c.conversation_id not in taken],
                                                 "csat", policy.low_csat)
            out += [(c, "low_csat") for c in candidates if c.conversation_id in low]
        return out

    async def calibrate(self, conversation_ids: list[str]) -> dict[str, Any]:
        """Krippendorff's alpha over the total scores several evaluators gave the same conversations."""
        docs = await self.store.evaluations_for(conversation_ids=conversation_ids)
        units: dict[str, dict[str, float]] = {}
        for d in docs:
            units.setdefault(d["conversation_id"], {})[d["evaluator_id"]] = float(d["score"])
        try:
            alpha = krippendorff_alpha_interval(units)
        except ValueError as exc:
            raise QaError(str(exc)) from None
        evaluators = {e for u in units.values() for e in u}
        return {"krippendorff_alpha": round(alpha, 4), "evaluators": len(evaluators),
                "conversations": sum(1 for u in units.values() if len(u) >= 2)}
