"""Model inputs, the out-of-time split, the data hash, metrics and plots."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import runway
from runway import contracts
from runway.metrics import (
    classification_metrics,
    expected_calibration_error,
    slice_metrics,
    write_plots,
)
from runway.training.data import split_by_date, training_data_hash
from runway.training.inputs import (
    CATEGORICAL,
    MISSING,
    MODEL_INPUTS,
    NUMERIC,
    RAW_INPUTS,
    Vocabulary,
    model_frame,
)
from tests.unit._training_data import SAMPLE_DAYS, SAMPLE_FIRST, TEST_DAYS, VALID_DAYS, sample_frame


@pytest.fixture(scope="module")
def frame(tmp_path_factory) -> pd.DataFrame:
    return sample_frame(tmp_path_factory)


# ---- the sample itself -------------------------------------------------------------------------
def test_sample_has_the_training_frame_contract(frame):
    expected = {"flight_id", "flight_date", contracts.EVENT_TIMESTAMP, contracts.LABEL}
    expected |= set(contracts.ENTITY_COLUMNS) | set(contracts.ALL_FEATURES) | set(RAW_INPUTS)
    assert expected <= set(frame.columns)
    assert frame["flight_id"].is_unique
    dates = pd.to_datetime(frame["flight_date"])
    assert dates.min().date() == SAMPLE_FIRST
    assert dates.nunique() == SAMPLE_DAYS
    assert set(frame[contracts.LABEL].unique()) == {0, 1}
    assert 0.15 < frame[contracts.LABEL].mean() < 0.40  # real delay rates of the season


def test_sample_features_come_from_the_day_before(frame):
    """carrier_delay_rate_1d of day D + 1 is the realised delayed rate of day D: no leak."""
    daily = frame.groupby(["carrier", "flight_date"])[contracts.LABEL].mean().rename("realised")
    daily = daily.reset_index()
    daily["flight_date"] = pd.to_datetime(daily["flight_date"]) + pd.Timedelta(days=1)
    seen = frame.assign(flight_date=pd.to_datetime(frame["flight_date"]))
    joined = seen.merge(daily, on=["carrier", "flight_date"])
    assert len(joined) > 10_000
    np.testing.assert_allclose(joined["carrier_delay_rate_1d"], joined["realised"])


# ---- inputs -----------------------------------------------------------------------------------
def test_model_frame_derives_schedule_columns(frame):
    rows = frame.head(3).copy()
    rows["sched_dep_time"] = [5, 1230, 2359]
    rows["flight_date"] = [dt.date(2026, 6, 1), dt.date(2026, 6, 6), dt.date(2026, 6, 7)]
    inputs = model_frame(rows)
    assert list(inputs.columns) == list(MODEL_INPUTS)
    assert inputs["sched_dep_minute"].tolist() == [5.0, 750.0, 1439.0]
    assert inputs["day_of_week"].tolist() == [0.0, 5.0, 6.0]  # Monday, Saturday, Sunday
    assert all(inputs[c].dtype == "float64" for c in NUMERIC)


def test_model_frame_takes_timestamps_nan_and_missing_categories(frame):
    rows = frame.head(2).copy()
    rows["flight_date"] = pd.to_datetime(rows["flight_date"])
    rows["dest"] = [None, "SFO"]
    rows[contracts.ALL_FEATURES[0]] = np.nan
    inputs = model_frame(rows)
    assert inputs["dest"].tolist() == [MISSING, "SFO"]
    assert inputs[contracts.ALL_FEATURES[0]].isna().all()


def test_model_frame_names_missing_columns(frame):
    with pytest.raises(KeyError, match="wx_temp"):
        model_frame(frame.drop(columns=["wx_temp"]))


def test_vocabulary_codes_unknown_levels_as_zero(frame):
    vocab = Vocabulary.fit(model_frame(frame))
    assert set(vocab.levels) == set(CATEGORICAL)
    unseen = model_frame(frame.head(1).assign(carrier="ZZ"))
    assert vocab.codes(unseen)[0, 0] == 0
    assert vocab.codes(model_frame(frame.head(1)))[0, 0] >= 1
    assert vocab.categorical(unseen)["carrier"].isna().all()


# ---- split and hash -----------------------------------------------------------------------------
def test_split_is_out_of_time_and_complete(frame):
    split = split_by_date(frame, VALID_DAYS, TEST_DAYS)
    parts = [split.train, split.valid, split.test]
    assert sum(map(len, parts)) == len(frame)
    train, valid, test = (split.window(p) for p in parts)
    last = pd.to_datetime(frame["flight_date"]).max().date()
    assert test == (last - dt.timedelta(days=TEST_DAYS - 1), last)
    assert valid == (test[0] - dt.timedelta(days=VALID_DAYS), test[0] - dt.timedelta(days=1))
    assert train[1] < valid[0]
    assert split.windows()["test"] == f"{test[0]}..{test[1]}"


def test_split_refuses_a_frame_too_short(frame):
    ten_days = pd.Timestamp(SAMPLE_FIRST + dt.timedelta(days=10))
    short = frame[pd.to_datetime(frame["flight_date"]) < ten_days]
    with pytest.raises(ValueError, match="train part is empty"):
        split_by_date(short, 5, 5)
    with pytest.raises(ValueError):
        split_by_date(frame, 0, 7)


def test_data_hash_is_stable_and_sensitive(frame):
    sample = frame.head(2000)
    reference = training_data_hash(sample)
    assert len(reference) == 64
    shuffled = sample.sample(frac=1.0, random_state=1)[list(reversed(sample.columns))]
    assert training_data_hash(shuffled) == reference
    flipped = sample.copy()
    flipped.loc[flipped.index[7], contracts.LABEL] ^= 1
    assert training_data_hash(flipped) != reference
    assert training_data_hash(sample.drop(columns=["wx_temp"])) != reference


# ---- metrics ------------------------------------------------------------------------------------
def test_metrics_on_a_hand_computed_example():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4)
    assert m["base_rate"] == 0.5
    assert m["base_log_loss"] == pytest.approx(np.log(2))
    # bins: 0.1 -> [0.1, 0.2): |0 - 0.1|; 0.35 -> [0.3, 0.4): |1 - .35|; 0.4 -> [0.4, 0.5): |0 - .4|
    assert m["ece"] == pytest.approx((0.1 + 0.65 + 0.4 + 0.2) / 4)


def test_ece_is_zero_when_calibrated_and_one_sided_when_not():
    y = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(y, np.full(10, 0.2)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(10, 0.7)) == pytest.approx(0.5)


def test_single_class_gives_nan_auc_not_an_error():
    m = classification_metrics(np.zeros(5, dtype=int), np.full(5, 0.2))
    assert np.isnan(m["roc_auc"]) and np.isnan(m["pr_auc"])


def test_slices_cover_every_value_with_sizes(frame):
    rng = np.random.default_rng(0)
    scores = rng.random(len(frame))
    slices = slice_metrics(frame, frame[contracts.LABEL], scores, ("carrier", "origin"))
    origins = {s.value: s for s in slices if s.column == "origin"}
    assert set(origins) == set(contracts.NYC_ORIGINS)
    assert sum(s.rows for s in origins.values()) == len(frame)
    assert all(0.45 < s.roc_auc < 0.55 for s in origins.values())  # random scores


def test_plots_are_png_files(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    paths = write_plots(y, p, tmp_path, importance={"a": 2.0, "b": 1.0})
    names = [x.name for x in paths]
    assert names == ["roc.png", "pr.png", "calibration.png", "feature_importance.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(write_plots(y, p, tmp_path / "none")) == 3


def test_importing_the_package_stays_cheap():
    """DAG files and scoring import runway.training modules: no torch, boosters or MLflow."""
    code = (
        "import sys\n"
        "import runway.training, runway.training.data, runway.training.candidates\n"
        "import runway.training.gate, runway.registry, runway.metrics\n"
        "heavy = {'torch', 'xgboost', 'lightgbm', 'mlflow', 'optuna', 'matplotlib'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONPATH": str(Path(runway.__file__).parents[1])},
    )
    assert out.stdout.strip() == "[]"
