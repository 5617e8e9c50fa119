"""QA scorecards, sampling and calibration."""

from __future__ import annotations

import pytest

from omnihub.quality.calibration import krippendorff_alpha_interval
from omnihub.quality.sampling import Candidate, allocate, sample
from omnihub.quality.scorecards import DEFAULT, ScoringError, score

PERFECT: dict[str, float] = {"greeting": 5, "tone": 5, "no_rudeness": 1, "correct": 5, "policy": 1, "verified": 5, "recorded": 5, "efficient": 5}


def test_perfect_and_weighted_scores() -> None:
    assert score(DEFAULT, PERFECT) == 100.0
    half_correct = PERFECT | {"correct": 2.5}  # weight 2 of 3 in its section
    assert score(DEFAULT, half_correct) == pytest.approx(100 * (1 + (2 * 0.5 + 1) / 3 + 1) / 3, abs=0.01)


def test_a_critical_question_zeroes_the_score() -> None:
    assert score(DEFAULT, PERFECT | {"no_rudeness": 0}) == 0.0
    assert score(DEFAULT, PERFECT | {"policy": 0}) == 0.0


def test_bad_answers_are_refused() -> None:
    with pytest.raises(ScoringError):
        score(DEFAULT, PERFECT | {"tone": 6})
    with pytest.raises(ScoringError):
        score(DEFAULT, {"greeting": 5})


def candidates() -> list[Candidate]:
    out = []
    for agent in ("alice", "bob"):
        for i in range(100):
            channel = "voice" if i < 60 else "sms" if i < 90 else "email"
            out.append(Candidate(f"{agent}-{i:03d}", agent, channel, "RE123" if channel == "voice" else ""))
    out.append(Candidate("carol-1", "carol", "sms"))
    return out


def test_sampling_is_reproducible_and_stratified() -> None:
    first = sample(candidates(), fraction=0.1, minimum=3, seed=42)
    again = sample(list(reversed(candidates())), fraction=0.1, minimum=3, seed=42)
    assert first == again
    other = sample(candidates(), fraction=0.1, minimum=3, seed=43)
    assert {c.conversation_id for c in other} != {c.conversation_id for c in first}
    alice = [c for c in first if c.agent_id == "alice"]
    assert len(alice) == 10
    assert sorted(c.channel for c in alice).count("voice") == 6  # 60% of her work is voice
    assert sum(c.channel == "sms" for c in alice) == 3 and sum(c.channel == "email" for c in alice) == 1
    assert [c.conversation_id for c in first if c.agent_id == "carol"] == ["carol-1"]  # minimum capped by work
    assert all(c.recording_uri for c in alice if c.channel == "voice")


def test_allocation_never_exceeds_strata() -> None:
    assert allocate(5, {"a": 1, "b": 100}) == {"a": 0, "b": 5}
    assert sum(allocate(7, {"a": 3, "b": 3, "c": 3}).values()) == 7


def test_krippendorff_alpha_matches_the_published_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units
    # example with missing data: alpha (interval) = 0.849.
    rows = {
        "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    }
    units: dict[str, dict[str, float]] = {}
    for observer, values in rows.items():
        for i, v in enumerate(values):
            if v is not None:
                units.setdefault(f"u{i}", {})[observer] = v
    assert krippendorff_alpha_interval(units) == pytest.approx(0.849, abs=1e-3)
    assert krippendorff_alpha_interval({"u": {"a": 80, "b": 80}, "v": {"a": 60, "b": 60}}) == 1.0
