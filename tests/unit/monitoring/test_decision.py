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
TODAY = dt.date(2026, 7, 20)
POLICY = RetrainPolicy(drift_threshold=0.15, consecutive_days=3, auc_drop=0.02, log_loss_rise=0.02,
                       max_ece=0.05, cooldown_days=14)  # fmt: skip
CHAMPION = {"roc_auc": 0.72, "log_loss": 0.50}


def _rows(bind, table) -> list[dict]:
    with bind.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def test_metric_rows_round_trip_into_the_retraining_decision(bind):
    computed = dt.datetime(2026, 7, 9, 5, 0, tzinfo=UTC)
    today = dt.date(2026, 7, 8)
    for offset, share in ((2, 0.3), (1, 0.4), (0, 0.5)):
        day = today - dt.timedelta(days=offset)
        metrics = {
            "drift_share": share,
            "drift_distance": {"wx_temp": np.float64(0.3)},
            "html": "/reports/drift.html",  # not a metric: left out
            "realized_auc": None,  # no labels yet: stored as NULL
            "n": np.int64(0),
        }
        rows = metric_rows(day, 7, metrics, f"scheduled__{day}", computed)
        names = sorted(r["metric"] for r in rows)
        assert names == ["drift_distance.wx_temp", "drift_share", "n", "realized_auc"]
        sql.upsert(bind, sql.monitoring_metrics, rows)
        sql.upsert(bind, sql.monitoring_metrics, rows)  # a rerun of the day
    stored = pd.DataFrame(_rows(bind, sql.monitoring_metrics))
    assert len(stored) == 12 and stored.loc[stored.metric == "realized_auc", "value"].isna().all()

    decision = decisions.retraining_decision(
        stored[["day", "metric", "value"]], today, CHAMPION, None, POLICY
    )
    assert decision.retrain and decision.reason == "drift"
    auc = next(s for s in decision.evidence["signals"] if s["signal"] == "decay_auc")
    assert auc["value"] is None and auc["fired"] is False


def _history(drift: dict[int, float] = {}, today: dict[str, float] = {}) -> pd.DataFrame:  # noqa: B006
    """monitoring_metrics rows: drift shares by days before TODAY (negative: after it), and
    TODAY's realized figures (`auc`, `auc_low`, `auc_high`, `ece_low`, ...)."""
    rows = [(TODAY - dt.timedelta(days=k), decisions.DRIFT_SHARE, v) for k, v in drift.items()]
    rows += [(TODAY, f"realized_{name}", v) for name, v in today.items()]
    rows.append((TODAY, "realized_brier", 0.2))  # other metrics are ignored
    return pd.DataFrame(rows, columns=["day", "metric", "value"])


DRIFT_3_DAYS = {0: 0.40, 1: 0.20, 2: 0.16}
AUC_DOWN = {"auc": 0.66, "auc_low": 0.64, "auc_high": 0.68}  # whole interval below 0.72 - 0.02
AUC_NOISE = {"auc": 0.69, "auc_low": 0.66, "auc_high": 0.71}  # point below, interval holds 0.70
LOSS_UP = {"log_loss": 0.56, "log_loss_low": 0.53, "log_loss_high": 0.59}
ECE_OFF = {"ece": 0.11, "ece_low": 0.08, "ece_high": 0.14}  # a base rate out of the training range
ECE_NOISE = {"ece": 0.06, "ece_low": 0.03, "ece_high": 0.09}
RETRAINED_5_DAYS_AGO = dt.datetime(2026, 7, 15, 12, 0, tzinfo=UTC)  # 08:00 in New York
AFTER_TODAY = dt.datetime(2026, 7, 25)
COOLDOWN_OVER = dt.datetime(2026, 7, 6, 12, 0)  # 14 days before TODAY: the cooldown has ended


# (case, drift shares, today's realized figures, last retrain, training active, outcome, fired)
@pytest.mark.parametrize(
    "case, drift, today, last_retrain, active, outcome, fired",
    [
        ("drift k days", DRIFT_3_DAYS, {}, None, False, "drift", ["drift"]),
        ("drift k-1 days", {0: 0.4, 1: 0.2, 2: 0.1}, {}, None, False, "no signal", []),
        (
            "drift at threshold counts",
            {0: 0.4, 1: 0.2, 2: 0.15},
            {},
            None,
            False,
            "drift",
            ["drift"],
        ),
        ("a gap day breaks the streak", {0: 0.4, 1: 0.3, 3: 0.9}, {}, None, False, "no signal", []),
        ("rows after today ignored", {-1: 0.9, 0: 0.4, 1: 0.3}, {}, None, False, "no signal", []),
        ("AUC down beyond noise", {}, AUC_DOWN, None, False, "decay", ["decay_auc"]),
        ("AUC down within noise", {}, AUC_NOISE, None, False, "no signal", []),
        ("log loss up beyond noise", {}, LOSS_UP, None, False, "decay", ["decay_log_loss"]),
        ("calibration off", {}, ECE_OFF, None, False, "decay", ["decay_calibration"]),
        ("calibration within noise", {}, ECE_NOISE, None, False, "no signal", []),
        (
            "drift and decay",
            DRIFT_3_DAYS,
            ECE_OFF,
            None,
            False,
            "drift",
            ["drift", "decay_calibration"],
        ),
        ("cooldown blocks", DRIFT_3_DAYS, {}, RETRAINED_5_DAYS_AGO, False, "cooldown", ["drift"]),
        ("cooldown over", DRIFT_3_DAYS, {}, COOLDOWN_OVER, False, "drift", ["drift"]),
        ("retrained after today", DRIFT_3_DAYS, {}, AFTER_TODAY, False, "cooldown", ["drift"]),
        ("training active blocks", DRIFT_3_DAYS, {}, None, True, "training active", ["drift"]),
        ("decay while training", {}, AUC_DOWN, None, True, "training active", ["decay_auc"]),
        ("no history", {}, {}, None, False, "no signal", []),
    ],
)
def test_retraining_decision(case, drift, today, last_retrain, active, outcome, fired):
    decision = decisions.retraining_decision(
        _history(drift, today), TODAY, CHAMPION, last_retrain, POLICY, active
    )
    assert (decision.retrain, decision.reason) == (outcome in ("drift", "decay"), outcome), case
    assert decision.fired == fired, case
    json.dumps(decision.evidence)  # it becomes the training run's conf


def test_every_signal_records_its_value_threshold_and_interval():
    decision = decisions.retraining_decision(
        _history(DRIFT_3_DAYS, {**AUC_NOISE, **ECE_OFF}), TODAY, CHAMPION, RETRAINED_5_DAYS_AGO,
        RetrainPolicy(cooldown_days=3),
    )  # fmt: skip
    assert decision.retrain and decision.reason == "drift"
    signals = {s["signal"]: s for s in decision.evidence["signals"]}
    assert set(signals) == {"drift", "decay_auc", "decay_log_loss", "decay_calibration"}
    drift = signals["drift"]
    assert drift["by_day"] == {"2026-07-18": 0.16, "2026-07-19": 0.2, "2026-07-20": 0.4}
    assert drift["threshold"] == 0.15 and drift["days_over"] == 3 and drift["fired"]
    auc = signals["decay_auc"]
    assert auc["value"] == 0.69 and auc["interval"] == [0.66, 0.71]
    assert auc["threshold"] == pytest.approx(0.70) and not auc["fired"]
    assert (
        signals["decay_log_loss"]["value"] is None
        and signals["decay_log_loss"]["threshold"] == 0.52
    )
    assert (
        signals["decay_calibration"]["interval"] == [0.08, 0.14]
        and signals["decay_calibration"]["fired"]
    )
    assert decision.evidence["days_since_retrain"] == 5 and decision.evidence["cooldown_days"] == 3
    text = decisions.describe(decision)
    assert "decay_calibration" in text and "FIRED" in text and "[0.6600, 0.7100]" in text


def test_a_run_that_may_not_retrain_says_so():
    decision = decisions.retraining_decision(
        _history(DRIFT_3_DAYS), TODAY, CHAMPION, None, POLICY, allowed=False
    )
    assert (decision.retrain, decision.reason) == (False, "not allowed")
    assert decision.fired == ["drift"] and decision.evidence["allowed"] is False


def test_an_unknown_champion_figure_fires_no_decay():
    decision = decisions.retraining_decision(
        _history({}, AUC_DOWN), TODAY, {"roc_auc": None}, None, POLICY
    )
    assert decision.reason == "no signal"
