"""The retraining decision: a table of cases, its evidence, and the metric rows it reads."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from runway import sql
from runway.monitoring import decision as decisions
from runway.monitoring.drift import metric_rows
from runway.settings import RetrainPolicy

UTC = dt.UTC


def _rows(bind, table) -> list[dict]:
    with bind.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def test_metric_rows_round_trip_into_the_retraining_decision(bind):
    computed = dt.datetime(2026, 7, 9, 5, 0, tzinfo=UTC)
    today = dt.date(2026, 7, 8)
    for offset, share in ((2, 0.6), (1, 0.7), (0, 0.8)):
        day = today - dt.timedelta(days=offset)
        metrics = {
            "drift_share": share,
            "per_column": {"dep_delay": np.float64(0.3)},
            "html": "/reports/drift.html",  # not a metric: left out
            "realized_auc": None,  # no labels yet: stored as NULL
            "n": np.int64(0),
        }
        rows = metric_rows(day, 7, metrics, f"scheduled__{day}", computed)
        names = sorted(r["metric"] for r in rows)
        assert names == ["drift_share", "n", "per_column.dep_delay", "realized_auc"]
        sql.upsert(bind, sql.monitoring_metrics, rows)
        sql.upsert(bind, sql.monitoring_metrics, rows)  # a rerun of the day
    stored = pd.DataFrame(_rows(bind, sql.monitoring_metrics))
    assert len(stored) == 12 and stored.loc[stored.metric == "realized_auc", "value"].isna().all()

    decision = decisions.retraining_decision(
        stored[["day", "metric", "value"]], today, 0.7, None, RetrainPolicy(0.5, 3, 0.05, 14), False
    )
    assert decision.retrain and decision.reason == "drift"
    assert decision.evidence["realized_auc"] is None


TODAY = dt.date(2026, 7, 20)
RULE = dict(drift_threshold=0.5, consecutive_days=3, auc_drop=0.05, cooldown_days=14)


def _history(drift: dict[int, float], auc: dict[int, float]) -> pd.DataFrame:
    """monitoring_metrics rows; keys are days before TODAY (negative: after it)."""
    rows = [(TODAY - dt.timedelta(days=k), decisions.DRIFT_SHARE, v) for k, v in drift.items()]
    rows += [(TODAY - dt.timedelta(days=k), decisions.REALIZED_AUC, v) for k, v in auc.items()]
    rows.append((TODAY, "brier", 0.2))  # other metrics are ignored
    return pd.DataFrame(rows, columns=["day", "metric", "value"])


DRIFT_3_DAYS = {0: 0.8, 1: 0.6, 2: 0.55}
RETRAINED_5_DAYS_AGO = dt.datetime(2026, 7, 15, 12, 0, tzinfo=UTC)  # 08:00 in New York
AFTER_TODAY = dt.datetime(2026, 7, 25)
COOLDOWN_OVER = dt.datetime(2026, 7, 6, 12, 0)  # 14 days before TODAY: the cooldown has ended


# (case, drift shares and AUCs by days before TODAY, last retrain, training active, outcome);
# an outcome of "drift" or "decay" is a retraining, anything else the reason there is none.
@pytest.mark.parametrize(
    "case, drift, auc, last_retrain, active, outcome",
    [
        ("drift k days", DRIFT_3_DAYS, {}, None, False, "drift"),
        ("drift k-1 days", {0: 0.8, 1: 0.6, 2: 0.3}, {}, None, False, "no signal"),
        ("drift at threshold", {0: 0.8, 1: 0.6, 2: 0.5}, {}, None, False, "no signal"),
        ("a gap day breaks the streak", {0: 0.8, 1: 0.6, 3: 0.9}, {}, None, False, "no signal"),
        ("rows after today ignored", {-1: 0.9, 0: 0.8, 1: 0.6}, {}, None, False, "no signal"),
        ("decay", {}, {0: 0.62, 1: 0.63}, None, False, "decay"),
        ("one bad day in the mean", {}, {0: 0.60, 1: 0.72, 2: 0.72}, None, False, "no signal"),
        ("cooldown blocks", DRIFT_3_DAYS, {}, RETRAINED_5_DAYS_AGO, False, "cooldown"),
        ("cooldown over", DRIFT_3_DAYS, {}, COOLDOWN_OVER, False, "drift"),
        ("retrained after today", DRIFT_3_DAYS, {}, AFTER_TODAY, False, "cooldown"),
        ("training active blocks", DRIFT_3_DAYS, {}, None, True, "training active"),
        ("decay while training", {}, {0: 0.5}, None, True, "training active"),
        ("no history", {}, {}, None, False, "no signal"),
    ],
)
def test_retraining_decision(case, drift, auc, last_retrain, active, outcome):
    history = _history(drift, auc)
    decision = decisions.retraining_decision(
        history, TODAY, 0.70, last_retrain, RetrainPolicy(**RULE), active
    )
    assert (decision.retrain, decision.reason) == (outcome in ("drift", "decay"), outcome), case
    json.dumps(decision.evidence)  # it becomes the training run's conf


def test_retraining_evidence_names_values_thresholds_and_days():
    history = _history(DRIFT_3_DAYS, {0: 0.60, 2: 0.62})
    rule = RetrainPolicy(**{**RULE, "cooldown_days": 3})
    decision = decisions.retraining_decision(
        history, TODAY, 0.70, RETRAINED_5_DAYS_AGO, rule, False
    )
    assert decision.retrain and decision.reason == "drift"
    evidence = decision.evidence
    assert evidence["signals"] == ["drift", "decay"]
    assert evidence["window"] == ["2026-07-18", "2026-07-19", "2026-07-20"]
    by_day = {"2026-07-18": 0.55, "2026-07-19": 0.6, "2026-07-20": 0.8}
    assert evidence["drift_share_by_day"] == by_day
    assert evidence["realized_auc_by_day"]["2026-07-19"] is None
    assert evidence["realized_auc"] == pytest.approx(0.61)
    assert evidence["auc_floor"] == pytest.approx(0.65)
    assert evidence["days_since_retrain"] == 5 and evidence["cooldown_days"] == 3
    assert evidence["drift_threshold"] == 0.5 and evidence["consecutive_days"] == 3


def test_a_run_that_may_not_retrain_says_so():
    decision = decisions.retraining_decision(
        _history(DRIFT_3_DAYS, {}), TODAY, 0.70, None, RetrainPolicy(**RULE), allowed=False
    )
    assert (decision.retrain, decision.reason) == (False, "not allowed")
    assert decision.evidence["signals"] == ["drift"] and decision.evidence["allowed"] is False
