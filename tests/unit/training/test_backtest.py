"""The rolling-origin backtest: folds out of time that tile the end of the history, baselines
computed from the past only, and evidence that tells a real recipe from a shuffled one."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from runway import contracts
from runway.training.backtest import (
    BASELINES,
    Recipe,
    carrier_hour_rate,
    rolling_carrier_hour_rate,
    rolling_windows,
    run_backtest,
)
from runway.training.gate import evidence_check
from tests.unit._training_data import shuffled_labels, training_frame

FIRST = dt.date(2026, 4, 28)  # replayed 2013-04-30: late spring, real flights
DAYS = 49  # 35 days of training for the first fold, then two folds of 7 test days
WINDOW, TEST = 35, 7
BUDGET = {"window_days": WINDOW, "valid_days": 7, "n_trials": 2, "timeout_s": 20.0}


@pytest.fixture(scope="module")
def frame(tmp_path_factory):
    path = tmp_path_factory.mktemp("backtest") / "home"
    return training_frame(path, FIRST, DAYS)


@pytest.fixture(scope="module")
def windows():
    return rolling_windows(FIRST, FIRST + dt.timedelta(days=DAYS - 1), WINDOW, TEST, 5)


@pytest.fixture(scope="module")
def result(frame, windows):
    recipes = [Recipe("lightgbm", **BUDGET)]
    shuffled = shuffled_labels(frame)
    # the shuffled recipe trains on noise: its label column is permuted before the test days
    first_test = pd.Timestamp(windows[0].test_start)
    noisy = frame.copy()
    train_rows = pd.to_datetime(frame["flight_date"]) < first_test
    noisy.loc[train_rows, contracts.LABEL] = shuffled.loc[train_rows, contracts.LABEL]
    return run_backtest(frame, recipes, windows, threads=1), noisy


def test_windows_tile_the_end_of_the_history_out_of_time():
    last = dt.date(2026, 6, 30)
    folds = rolling_windows(dt.date(2026, 1, 1), last, 42, 14, 3)
    assert [f.test_end for f in folds] == [dt.date(2026, 6, 2), dt.date(2026, 6, 16), last]
    for fold in folds:
        assert (fold.train_end - fold.train_start).days + 1 == 42
        assert fold.test_start == fold.train_end + dt.timedelta(days=1)
        assert (fold.test_end - fold.test_start).days + 1 == 14
    for earlier, later in zip(folds, folds[1:], strict=False):
        assert later.test_start == earlier.test_end + dt.timedelta(days=1)  # no overlap, no gap
    # a history too short for the third fold gives two; for none, none
    assert len(rolling_windows(dt.date(2026, 4, 8), last, 42, 14, 3)) == 3
    assert len(rolling_windows(dt.date(2026, 4, 9), last, 42, 14, 3)) == 2
    assert rolling_windows(dt.date(2026, 6, 1), last, 42, 14, 3) == []
    with pytest.raises(ValueError, match="test_days"):
        rolling_windows(dt.date(2026, 1, 1), last, 42, 0, 3)


def test_a_recipe_refuses_what_it_cannot_train():
    with pytest.raises(ValueError, match="calibration"):
        Recipe("lightgbm", calibration="magic")
    with pytest.raises(ValueError, match="no training day"):
        Recipe("lightgbm", window_days=7, valid_days=7)
    with pytest.raises(ValueError, match="not numeric model inputs"):
        Recipe("lightgbm", withheld=("dep_delay",))


def test_carrier_hour_rate_is_the_shrunk_rate_of_the_training_rows():
    train = pd.DataFrame(
        {"carrier": ["AA"] * 100 + ["UA"] * 100, "hour": [7] * 50 + [8] * 50 + [7] * 100,
         contracts.LABEL: [1] * 50 + [0] * 50 + [0] * 100}
    )  # fmt: skip
    test = pd.DataFrame({"carrier": ["AA", "AA", "UA", "B6"], "hour": [7, 8, 9, 7]})
    p = carrier_hour_rate(train, test)
    overall = 0.25
    aa = (50 + 20 * overall) / (100 + 20)
    assert p[0] == pytest.approx((50 + 20 * aa) / 70)
    assert p[1] == pytest.approx((0 + 20 * aa) / 70)
    assert p[2] == pytest.approx((0 + 20 * overall) / 120)  # unseen hour: the carrier's rate
    assert p[3] == pytest.approx(overall)  # unseen carrier: the window's rate


def test_the_rolling_rate_reads_only_the_days_before_each_test_day(frame):
    days = pd.to_datetime(frame["flight_date"])
    test = frame[days >= days.max() - pd.Timedelta(days=1)]
    before = rolling_carrier_hour_rate(frame, test)
    # rewriting the test days' own labels changes nothing: day D's score never reads day D
    flipped = frame.copy()
    flipped.loc[test.index[days[test.index] == days.max()], contracts.LABEL] = 1
    after = rolling_carrier_hour_rate(flipped, test)
    last = (days[test.index] == days.max()).to_numpy()
    np.testing.assert_array_equal(before[last], after[last])
    # while the day before the last is read by the last day's rate
    flipped.loc[test.index[~last], contracts.LABEL] = 1
    assert not np.array_equal(before[last], rolling_carrier_hour_rate(flipped, test)[last])


def test_every_model_is_scored_on_every_test_flight_of_every_fold(result, windows, frame):
    backtest, _ = result
    assert len(windows) == 2
    test_rows = pd.to_datetime(frame["flight_date"]) >= pd.Timestamp(windows[0].test_start)
    assert len(backtest.predictions) == int(test_rows.sum())
    models = [*BASELINES, "lightgbm_35d"]
    assert set(backtest.overall["model"]) == set(models)
    assert len(backtest.per_window) == len(windows) * len(models)
    assert backtest.predictions[models].notna().all().all()
    sound = backtest.overall.set_index("model")
    for model in models:  # real signal, out of time: every model ranks better than chance
        assert sound.loc[model, "roc_auc"] > 0.6, model
        assert 0 <= sound.loc[model, "ece"] < 0.2
    gain = backtest.gain("lightgbm_35d")
    assert gain["baseline"] == backtest.best_baseline()
    assert gain["low"] <= gain["value"] <= gain["high"]
    assert gain["days"] == 2 * TEST
    text = backtest.to_markdown()
    assert "lightgbm_35d" in text and "carrier_hour_rate_28d" in text
    figures = json.loads(json.dumps(backtest.to_dict()))  # what the MLflow artifact holds
    assert figures["windows"][0]["test_start"] == str(windows[0].test_start)


def test_a_recipe_trained_on_shuffled_labels_is_refused_by_the_gate(result, windows):
    _, noisy = result
    shuffled = run_backtest(noisy, [Recipe("lightgbm", **BUDGET)], windows[-1:], threads=1)
    # the last fold trains on noise (its validation days, the first fold's test days, keep
    # their real labels, as the baselines' windows do): it must not pass for better than them
    check = evidence_check(shuffled.evidence("lightgbm_35d"))
    assert check.name == "beats_baseline"
    assert not check.passed, check.detail
    assert "rolling-origin backtest" in check.detail


def test_calibration_on_the_validation_days_keeps_the_ranking(frame, windows):
    recipes = [Recipe("logreg", **BUDGET), Recipe("logreg", calibration="isotonic", **BUDGET)]
    backtest = run_backtest(frame, recipes, windows[-1:], threads=1)
    scores = backtest.predictions
    rank = pd.Series(scores["logreg_35d"]).rank()
    calibrated = pd.Series(scores["logreg_35d_isotonic"]).rank()
    assert rank.corr(calibrated, method="spearman") > 0.95  # isotonic is monotone
    assert scores["logreg_35d_isotonic"].between(0, 1).all()
