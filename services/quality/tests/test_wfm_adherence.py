"""Adherence and conformance from scripted state changes against a schedule; the out-of-adherence alert."""

from __future__ import annotations

from omnihub.quality.wfm.adherence import Activity, figures, out_of_adherence

H = 3600.0
DAY = [Activity("work", 9 * H, 11 * H), Activity("break", 11 * H, 11.5 * H), Activity("work", 11.5 * H, 13 * H)]


def test_scripted_state_changes_give_exact_adherence_and_conformance() -> None:
    changes = [(9.25 * H, "AVAILABLE"),  # 15 minutes late
               (10 * H, "BUSY"), (10.5 * H, "WRAP_UP"), (10.75 * H, "AVAILABLE"),
               (11.25 * H, "AWAY"),  # break taken 15 minutes late, then back 15 minutes late
               (11.75 * H, "AVAILABLE"), (13.5 * H, "OFFLINE")]  # worked 30 minutes past the end
    got = figures(DAY, changes, "OFFLINE", 0.0, 24 * H)
    # scheduled 4 h; out: 9:00-9:15 offline, 11:00-11:15 working on a break, 11:30-11:45 away while at work
    assert got["scheduled_seconds"] == 4 * H and got["in_adherence_seconds"] == 3.25 * H
    assert got["adherence"] == 0.8125
    # worked 9:15-11:15 and 11:45-13:30 = 3.75 h over 3.5 h of scheduled work
    assert got["worked_seconds"] == 3.75 * H and got["conformance"] == round(3.75 / 3.5, 4)
    assert figures([], changes, "OFFLINE", 0.0, 24 * H)["adherence"] is None


def test_the_alert_fires_after_the_threshold_and_not_before() -> None:
    changes = [(9 * H, "AVAILABLE"), (10 * H, "AWAY")]  # away at 10:00 while scheduled to work
    threshold = 5 * 60.0
    assert out_of_adherence(DAY, changes, "OFFLINE", 0.0, 10 * H + threshold, threshold) is None
    alert = out_of_adherence(DAY, changes, "OFFLINE", 0.0, 10 * H + threshold + 1, threshold)
    assert alert == {"since": 10 * H, "seconds": threshold + 1, "scheduled": "work", "state": "AWAY"}
    back = [*changes, (10 * H + 200, "AVAILABLE"), (10 * H + 400, "AWAY")]  # a short lapse resets the streak
    assert out_of_adherence(DAY, back, "OFFLINE", 0.0, 10 * H + 400 + threshold, threshold) is None
    assert out_of_adherence(DAY, back, "OFFLINE", 0.0, 10 * H + 401 + threshold, threshold) is not None
    # the streak goes on across activities: away from 10:00, and the break from 11:00 to 11:30 is kept
    assert out_of_adherence(DAY, changes, "OFFLINE", 0.0, 11.2 * H, threshold) is None
    late = out_of_adherence(DAY, changes, "OFFLINE", 0.0, 11.5 * H + threshold + 1, threshold)
    assert late is not None and late["since"] == 11.5 * H
    assert out_of_adherence(DAY, [], "OFFLINE", 0.0, 14 * H, threshold) is None  # the shift is over
