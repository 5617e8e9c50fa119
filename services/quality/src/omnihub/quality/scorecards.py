"""QA scorecards: sections of weighted questions; failing a critical question zeroes the score."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Question:
    """One scored item; a critical one fails the whole evaluation unless it gets full marks."""

    id: str
    text: str
    weight: float = 1.0
    max_score: float = 5.0
    critical: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    """A group of questions with its weight in the total."""

    id: str
    title: str
    weight: float
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Scorecard:
    """A QA form."""

    id: str
    title: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def questions(self) -> dict[str, Question]:
        """Every question by id."""
        return {q.id: q for s in self.sections for q in s.questions}

    def as_json(self) -> dict[str, Any]:
        """The form for clients."""
        return asdict(self)


class ScoringError(ValueError):
    """Answers that do not fit the scorecard."""


def score(card: Scorecard, answers: dict[str, float]) -> float:
    """Total 0-100: weighted sections of weighted questions; 0 if any critical question is failed."""
    questions = card.questions()
    unknown = set(answers) - set(questions)
    if unknown:
        raise ScoringError(f"unknown questions: {', '.join(sorted(unknown))}")
    missing = set(questions) - set(answers)
    if missing:
        raise ScoringError(f"unanswered questions: {', '.join(sorted(missing))}")
    for qid, value in answers.items():
        if not 0 <= value <= questions[qid].max_score:
            raise ScoringError(f"{qid} must be between 0 and {questions[qid].max_score:g}")
    if any(q.critical and answers[q.id] < q.max_score for q in questions.values()):
        return 0.0
    total = weights = 0.0
    for section in card.sections:
        q_weight = sum(q.weight for q in section.questions)
        part = sum(q.weight * answers[q.id] / q.max_score for q in section.questions) / q_weight
        total += section.weight * part
        weights += section.weight
    return round(100.0 * total / weights, 2)


DEFAULT = Scorecard("default", "Contact quality", (
    Section("courtesy", "Courtesy and professionalism", 1.0, (
        Question("greeting", "Greets the customer and introduces themself"),
        Question("tone", "Polite, patient and professional throughout"),
        Question("no_rudeness", "No rude, dismissive or unprofessional remark", max_score=1, critical=True),
    )),
    Section("accuracy", "Accuracy of information", 1.0, (
        Question("correct", "The information given is correct and complete", weight=2.0),
        Question("policy", "Follows policy and compliance rules", max_score=1, critical=True),
    )),
    Section("data", "Efficiency and correctness of capturing customer data", 1.0, (
        Question("verified", "Verifies the customer's identity as required"),
        Question("recorded", "Records the customer's data and the outcome correctly"),
        Question("efficient", "No unnecessary steps, transfers or repeated questions"),
    )),
))
SCORECARDS = {DEFAULT.id: DEFAULT}
