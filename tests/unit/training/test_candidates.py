"""Every candidate family learns real signal from a few weeks of real flights, on a tiny
Optuna budget, and predicts P(delayed) from a raw frame through one interface."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd
import pytest
import xgboost

from runway import contracts
from runway.metrics import classification_metrics
from runway.training.candidates import FAMILIES, cuda_available, train_candidate
from runway.training.data import split_by_date
from runway.training.inputs import model_frame
from tests.unit._training_data import TEST_DAYS, VALID_DAYS, sample_frame

BUDGET = {"n_trials": 2, "timeout_s": 20.0, "seed": 0, "threads": 1}
GPU_FAMILIES = ("xgboost", "torch")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return split_by_date(sample_frame(tmp_path_factory), VALID_DAYS, TEST_DAYS)


@pytest.fixture(scope="module")
def candidate(split):
    """`candidate(family)`: that family trained on the split, once for the module."""
    cache = {}

    def get(family: str):
        if family not in cache:
            cache[family] = train_candidate(family, split.train, split.valid, **BUDGET)
        return cache[family]

    return get


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_beats_chance_clearly_on_the_test_week(candidate, split, family):
    result = candidate(family)
    scores = result.model.predict_proba(split.test)
    assert scores.shape == (len(split.test),)
    assert np.all((scores > 0) & (scores < 1))
    metrics = classification_metrics(split.test[contracts.LABEL], scores)
    print(f"{family}: test AUC {metrics['roc_auc']:.4f}, ECE {metrics['ece']:.4f}")
    assert metrics["roc_auc"] > 0.60
    assert metrics["log_loss"] < metrics["base_log_loss"]  # better than the base rate
    assert result.valid_metrics["roc_auc"] > 0.60


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_result_records_budget_device_and_windows(candidate, split, family):
    result = candidate(family)
    assert result.family == family
    assert 1 <= result.trials <= BUDGET["n_trials"]
    assert result.params  # the best trial's hyperparameters
    expected = "cuda" if family in GPU_FAMILIES and cuda_available() else "cpu"
    if family == "xgboost" and expected == "cuda":
        import xgboost

        expected = "cuda" if xgboost.build_info().get("USE_CUDA") else "cpu"
    assert result.device == expected
    assert result.train_rows == len(split.train) and result.valid_rows == len(split.valid)
    assert result.train_window[1] < result.valid_window[0]
    if family not in ("logreg", "carrier_hour_rate"):  # no iterations to stop early
        assert result.best_iteration >= 1  # early stopping kept some rounds / epochs


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_model_scores_raw_frames_robustly(candidate, split, family):
    model = candidate(family).model
    rows = split.test.head(50)
    reference = model.predict_proba(rows)
    # pickled and restored (as the MLflow model stores it): the same scores
    np.testing.assert_allclose(pickle.loads(pickle.dumps(model)).predict_proba(rows), reference)
    # extra columns, another column order, timestamps for dates: the same scores
    shuffled = rows.assign(extra=1)[list(reversed(rows.columns)) + ["extra"]]
    shuffled["flight_date"] = pd.to_datetime(shuffled["flight_date"])
    np.testing.assert_allclose(model.predict_proba(shuffled), reference, rtol=1e-6)
    # unseen categories and missing features still score
    odd = rows.assign(carrier="ZZ", dest="NOWHERE")
    odd[list(contracts.ALL_FEATURES)] = np.nan
    assert np.isfinite(model.predict_proba(odd)).all()


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
def test_boosters_score_the_code_matrix_as_the_frame_they_were_trained_on(candidate, split, family):
    """Scoring hands the boosters a float matrix of category codes (`Vocabulary.matrix`);
    training gave them pandas categoricals (`Vocabulary.categorical`). Same scores, including
    unseen, missing and non-string categories."""
    model = candidate(family).model
    rows = split.test.head(300).copy()
    rows.loc[rows.index[:5], "carrier"] = "ZZ"
    rows.loc[rows.index[5:10], "dest"] = None
    frame = model.vocab.categorical(model_frame(rows))
    if family == "xgboost":
        expected = model.booster.predict(
            xgboost.DMatrix(frame, enable_categorical=True),
            iteration_range=(0, model.best_iteration + 1),
        )
    else:
        expected = model.booster.predict(frame, num_iteration=model.booster.best_iteration)
    np.testing.assert_array_equal(model.predict_proba(rows), expected)
    assert np.isnan(model.vocab.matrix(rows)[:5, 0]).all()  # an unseen carrier has no code


def test_importance_names_model_inputs_where_the_family_has_one(candidate):
    for family in ("xgboost", "lightgbm", "logreg", "carrier_hour_rate"):
        importance = candidate(family).model.feature_importance()
        assert importance and all(v >= 0 for v in importance.values())
    assert candidate("torch").model.feature_importance() is None


def test_the_rate_baseline_is_the_shrunk_carrier_hour_rate_of_its_training_days(split):
    """Its scores are rates of the training days: a cell's own rate pulled toward its carrier's
    by the chosen weight; an unseen hour gets its carrier's rate, an unseen carrier the window's."""
    result = train_candidate("carrier_hour_rate", split.train, split.valid, **BUDGET)
    prior = result.params["prior_rows"]
    train = split.train
    y = train[contracts.LABEL].astype(float)
    overall = y.mean()
    carrier = train["carrier"].iloc[0]
    mine = train["carrier"] == carrier
    carrier_rate = (y[mine].sum() + prior * overall) / (mine.sum() + prior)
    hour = train.loc[mine, "hour"].iloc[0]
    cell = mine & (train["hour"] == hour)
    cell_rate = (y[cell].sum() + prior * carrier_rate) / (cell.sum() + prior)
    rows = split.test.head(3).assign(carrier=carrier, hour=[hour, 99, hour])
    rows.loc[rows.index[2], "carrier"] = "ZZ"
    np.testing.assert_allclose(
        result.model.predict_proba(rows), [cell_rate, carrier_rate, overall], rtol=1e-12
    )


def test_time_budget_stops_the_search(split):
    started = time.monotonic()
    result = train_candidate(
        "logreg", split.train, split.valid, n_trials=500, timeout_s=2.0, threads=1
    )
    assert time.monotonic() - started < 20
    assert 1 <= result.trials < 500


def test_unknown_family_and_device_are_refused(split):
    with pytest.raises(ValueError, match="unknown model family"):
        train_candidate("catboost", split.train, split.valid)
    with pytest.raises(ValueError, match="device"):
        train_candidate("torch", split.train, split.valid, device="tpu")


@pytest.mark.parametrize(
    "budget, message",
    [
        ({"n_trials": 0}, r"n_trials must be a whole number >= 1, got 0"),
        ({"n_trials": -3}, r"n_trials must be a whole number >= 1, got -3"),
        ({"n_trials": 2.5}, r"n_trials must be a whole number >= 1, got 2.5"),
        ({"timeout_s": 0}, r"timeout_s must be > 0 seconds, got 0"),
    ],
)
def test_a_budget_that_allows_no_trial_is_refused_by_name(budget, message):
    """Not reported as 'no trial completed within 600 s' (a timeout that never happened)."""
    empty = pd.DataFrame()
    with pytest.raises(ValueError, match=message):
        train_candidate("lightgbm", empty, empty, **budget)


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
def test_boosters_score_a_large_frame_slice_by_slice_as_one_matrix(candidate, split, family):
    """Scoring builds and scores the matrix in slices of rows (`Vocabulary.predict`): the
    scores are those of the whole matrix, in the frame's order."""
    model = candidate(family).model
    rows = split.test.head(1000)
    matrix = model.vocab.matrix(rows)
    if family == "xgboost":
        whole = model.booster.inplace_predict(matrix, iteration_range=(0, model.best_iteration + 1))
        score = lambda m: model.booster.inplace_predict(  # noqa: E731
            m, iteration_range=(0, model.best_iteration + 1)
        )
    else:
        whole = model.booster.predict(matrix, num_iteration=model.booster.best_iteration)
        score = lambda m: model.booster.predict(m, num_iteration=model.booster.best_iteration)  # noqa: E731
    np.testing.assert_array_equal(model.vocab.predict(rows, score, rows=333), whole)
    np.testing.assert_array_equal(model.predict_proba(rows), whole)
