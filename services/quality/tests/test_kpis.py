"""Every KPI on hand-computed fixtures, edge cases included."""

from __future__ import annotations

from typing import Any

import pytest

from omnihub.quality.kpis import Conv, StateSpan, Survey, compute, spans_from_changes

DAY = 86_400.0


def answered(i: int, wait: float, talk: float = 100, wrap: float = 20, hold: float = 0, **kw: Any) -> Conv:
    return Conv(id=f"c{i}", channel=str(kw.get("channel", "sms")), queue="support", customer_id=str(kw.get("customer", f"u{i}")),
                created=float(kw.get("created", 0.0)), agent="alice", answered=1.0, wait=wait, talk=talk, hold=hold, wrap=wrap,
                handled=True, resolved=bool(kw.get("resolved", True)), closed=float(kw.get("closed", 1000.0)))


def abandoned(i: int, wait: float) -> Conv:
    return Conv(id=f"a{i}", channel="voice", queue="support", customer_id=f"x{i}", created=0.0,
                abandoned=wait, abandon_wait=wait)


def test_no_contacts() -> None:
    row = compute("t", [])
    assert (row.offered, row.answered, row.asa, row.aht, row.abandonment_rate, row.fcr) == (0, 0, 0, 0, 0, 0)
    assert row.service_level_a is None and row.service_level_b is None  # nothing answered: no figure, never 1.0


def test_service_level_both_formulas_with_short_abandons_excluded() -> None:
    convs = [answered(1, 5), answered(2, 15), answered(3, 30), answered(4, 60),  # 2 of 4 within 20 s
             abandoned(1, 3), abandoned(2, 10), abandoned(3, 45)]  # 3 s is a short abandon
    row = compute("t", convs, threshold=20, short_abandon=5)
    assert row.short_abandoned == 1
    assert row.offered == 6 and row.abandoned == 2
    assert row.service_level_b == pytest.approx(2 / 4)
    assert row.service_level_a == pytest.approx(2 / (4 + 1))  # only the 45 s abandon waited past T
    assert row.abandonment_rate == pytest.approx(2 / 6)
    assert row.asa == pytest.approx((5 + 15 + 30 + 60) / 4)


def test_all_abandoned() -> None:
    row = compute("t", [abandoned(1, 30), abandoned(2, 40)])
    assert row.answered == 0 and row.abandonment_rate == 1.0 and row.service_level_a == 0.0


def test_aht_is_talk_plus_hold_plus_wrap() -> None:
    row = compute("t", [answered(1, 0, talk=100, hold=30, wrap=20), answered(2, 0, talk=200, hold=0, wrap=10)])
    assert row.aht == pytest.approx((150 + 210) / 2)


def test_fcr_counts_repeat_contacts_on_any_channel_within_7_days() -> None:
    convs = [answered(1, 0, customer="u1", closed=1000), answered(2, 0, customer="u2", closed=1000),
             answered(3, 0, customer="u3", closed=1000, resolved=False)]
    repeats = {"u1": [0.0, 1000 + 3 * DAY], "u2": [0.0, 1000 + 8 * DAY]}  # u1 came back (by email, say)
    row = compute("t", convs, repeats=repeats)
    assert row.fcr_eligible == 3 and row.fcr == pytest.approx(1 / 3)  # u2 only: u1 came back, u3 unresolved


def test_transferred_conversation_counts_once() -> None:
    transferred = answered(1, 12, talk=300)  # one conversation, two agents: still one answer
    row = compute("t", [transferred])
    assert row.answered == 1 and row.handled == 1


def test_csat_and_nps() -> None:
    surveys = [Survey("c1", "csat", s) for s in (5, 4, 3, 1)] + [Survey("c1", "nps", s) for s in (10, 9, 8, 6, 0)]
    row = compute("t", [], surveys=surveys)
    assert row.csat == pytest.approx(0.5) and row.csat_responses == 4
    assert row.nps == pytest.approx(100 * (2 - 2) / 5)


def test_occupancy_and_availability_from_state_changes() -> None:
    changes = [("alice", 0.0, "OFFLINE", "AVAILABLE"), ("alice", 100.0, "AVAILABLE", "BUSY"),
               ("alice", 400.0, "BUSY", "WRAP_UP"), ("alice", 500.0, "WRAP_UP", "AWAY"),
               ("alice", 600.0, "AWAY", "AVAILABLE")]
    spans = spans_from_changes(changes, 0.0, 1000.0)
    assert StateSpan("alice", "BUSY", 100.0, 400.0) in spans
    row = compute("t", [], spans=spans)
    assert row.occupancy == pytest.approx(400 / (400 + 100 + 400))  # handling / (available + handling)
    assert row.availability == pytest.approx(900 / 1000)
