"""The experiment record: created once, one active at a time, decisions replace their day."""

from __future__ import annotations

import datetime as dt

import pytest

from runway.experiments import record

NOW = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
START = dt.date(2026, 3, 2)


def _record(**changes) -> dict:
    base = {
        "experiment_id": "exp-v1-v2-2026-03-02", "champion_version": 1, "challenger_version": 2,
        "mode": "canary", "share": 0.05, "ramp": [0.05, 0.25, 0.5], "salt": "s1",
        "start": START, "planned_days": 20, "plan": {"days": 20}, "created_by": "test",
        "reason": "a retrained challenger",
    }  # fmt: skip
    return base | changes


def _look(day: str, action: str = "continue", share: float = 0.05) -> dict:
    return {"day": day, "action": action, "share": share, "reason": "r", "fraction": 0.1}


def test_create_is_idempotent_and_one_experiment_is_active(bind):
    first = record.create(bind, _record(), NOW)
    assert first["status"] == "active" and first["decisions"] == []
    assert first["share_since"] == START
    assert record.create(bind, _record(), NOW + dt.timedelta(hours=1)) == first  # a rerun
    with pytest.raises(record.ExperimentError, match="exists with other"):
        record.create(bind, _record(salt="other"), NOW)
    with pytest.raises(record.ExperimentError, match="is active: stop it"):
        record.create(bind, _record(experiment_id="exp-2"), NOW)
    with pytest.raises(record.ExperimentError, match="another version"):
        record.create(bind, _record(experiment_id="exp-3", challenger_version=1), NOW)
    assert record.active(bind)["experiment_id"] == first["experiment_id"]


def test_decisions_replace_their_day_ramp_moves_the_share_and_an_end_closes(bind):
    eid = record.create(bind, _record(), NOW)["experiment_id"]
    record.record_decision(bind, eid, _look("2026-03-06"), NOW)
    record.record_decision(bind, eid, _look("2026-03-07", "ramp", 0.25), NOW)
    again = record.record_decision(bind, eid, _look("2026-03-07", "ramp", 0.25), NOW)  # rerun
    assert [d["day"] for d in again["decisions"]] == ["2026-03-06", "2026-03-07"]
    assert again["share"] == 0.25 and again["share_since"] == dt.date(2026, 3, 8)
    ended = record.record_decision(bind, eid, _look("2026-03-08", "rollback", 0.0), NOW)
    assert ended["status"] == "rolled_back" and record.active(bind) is None
    with pytest.raises(record.ExperimentError, match="rolled_back"):
        record.record_decision(bind, eid, _look("2026-03-09"), NOW)
    # a rerun of the last look of an ended experiment is still accepted (the same day)
    assert record.record_decision(bind, eid, _look("2026-03-08", "rollback", 0.0), NOW)["status"]
    # then another can start
    assert record.create(bind, _record(experiment_id="exp-next"), NOW)["status"] == "active"


def test_stop_is_recorded_once(bind):
    eid = record.create(bind, _record(), NOW)["experiment_id"]
    stopped = record.stop(bind, eid, "ops", "wrong challenger", NOW)
    assert stopped["status"] == "stopped" and stopped["decisions"][-1]["actor"] == "ops"
    assert record.stop(bind, eid, "ops", "again", NOW) == stopped
    with pytest.raises(record.ExperimentError, match="no experiment"):
        record.stop(bind, "missing", "ops", "x", NOW)
