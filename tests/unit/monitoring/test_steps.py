"""Monitoring's steps that need no model: the retraining conf, and days nothing was scored on."""

from __future__ import annotations

import datetime as dt

from runway.monitoring import steps
from runway.settings import Settings


def test_the_retraining_conf_covers_the_policy_window_ending_on_the_day():
    conf = steps.retraining_conf(dt.date(2026, 3, 8), "drift", {"signals": ["drift"]}, 42)
    assert conf == {
        "reason": "drift detected on 2026-03-08",
        "evidence": {"signals": ["drift"]},
        "window_start": "2026-01-26",
        "window_end": "2026-03-08",
        "promotion": "auto",
    }


def test_no_decision_without_a_monitored_day(tmp_path):
    summary = {"days": [{"day": "2026-03-08", "status": "no scored flights"}], "reports": []}
    assert (
        steps.decide_retraining(
            Settings(home=tmp_path), summary, training_active=False, allowed=True
        )
        is None
    )
