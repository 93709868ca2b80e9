"""Day-block bootstrap intervals: right point values, paired differences, honest coverage."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from runway import intervals
from runway.metrics import expected_calibration_error


def _days_with_weather(n_days=40, per_day=300, seed=0, skill=1.0):
    """Flights whose delay odds move with their day (shared weather) and with a flight signal."""
    rng = np.random.default_rng(seed)
    day = np.repeat(np.arange(n_days), per_day)
    day_effect = rng.normal(0, 1.0, n_days)[day]
    signal = rng.normal(0, 1, len(day))
    logit = -1.0 + day_effect + skill * signal
    y = (rng.random(len(day)) < 1 / (1 + np.exp(-logit))).astype(int)
    p = 1 / (1 + np.exp(-(-1.0 + skill * signal)))  # the model cannot see the day's weather
    return y, p, day


def test_point_values_match_the_reference_implementations():
    y, p, day = _days_with_weather()
    expected = {
        "roc_auc": roc_auc_score(y, p),
        "log_loss": log_loss(y, p),
        "brier": brier_score_loss(y, p),
        "ece": expected_calibration_error(y, p),
        "mean_score": p.mean(),
        "rate": y.mean(),
        "daily_auc": np.mean([roc_auc_score(y[day == d], p[day == d]) for d in np.unique(day)]),
    }
    for metric, value in expected.items():
        got = intervals.estimate(y, p, day, metric, resamples=50)
        assert got.value == pytest.approx(value, abs=1e-9), metric
        assert got.low <= got.value <= got.high, metric
        assert got.days == 40 and got.rows == len(y)


def test_ties_count_half_as_sklearn_does():
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.2, 0.2, 0.5, 0.5, 0.9, 0.1])
    got = intervals.estimate(y, p, np.zeros(6), "roc_auc", resamples=10)
    assert got.value == pytest.approx(roc_auc_score(y, p))


def test_the_same_model_twice_differs_by_exactly_nothing():
    y, p, day = _days_with_weather()
    same = intervals.difference(y, p, p.copy(), day, "roc_auc", resamples=200)
    assert same.value == same.low == same.high == 0.0


def test_a_better_model_is_better_beyond_noise_and_a_worse_one_below():
    y, p, day = _days_with_weather(skill=1.0)
    rng = np.random.default_rng(3)
    noisy = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + rng.normal(0, 1.5, len(p)))))
    better = intervals.difference(y, p, noisy, day, "roc_auc", resamples=300)
    assert better.low > 0
    worse = intervals.difference(y, noisy, p, day, "roc_auc", resamples=300)
    assert worse.high < 0
    loss = intervals.gain(
        intervals.difference(y, p, noisy, day, "log_loss", resamples=300), "log_loss"
    )
    assert loss.low > 0  # turned: positive is better


def test_day_blocks_widen_the_interval_when_days_move_together():
    """With shared day effects, resampling flights would be overconfident; days are not."""
    y, p, day = _days_with_weather(n_days=30)
    by_day = intervals.estimate(y, p, day, "rate", resamples=400)
    by_flight = intervals.estimate(y, p, np.arange(len(y)), "rate", resamples=400)
    assert (by_day.high - by_day.low) > 3 * (by_flight.high - by_flight.low)


def test_coverage_of_the_rate_across_repeated_worlds():
    """The 90% interval of the delayed rate holds the true rate in most simulated worlds."""
    truth = 1 / (1 + np.exp(1.0))  # the rate's centre; days add noise around it
    worlds = 60
    covered = 0
    for seed in range(worlds):
        rng = np.random.default_rng(seed)
        n_days, per_day = 40, 100
        day = np.repeat(np.arange(n_days), per_day)
        rates = np.clip(truth + rng.normal(0, 0.08, n_days), 0.01, 0.99)[day]
        y = (rng.random(len(day)) < rates).astype(int)
        got = intervals.estimate(y, np.full(len(y), 0.3), day, "rate", resamples=300, seed=seed)
        covered += got.low <= truth <= got.high
    assert covered / worlds >= 0.75


def test_bad_input_is_refused_with_what_is_wrong():
    with pytest.raises(ValueError, match="one value per row"):
        intervals.estimate([0, 1], [0.5], [0, 0], "roc_auc")
    with pytest.raises(ValueError, match="NaN"):
        intervals.estimate([0, 1], [0.5, np.nan], [0, 0], "roc_auc")
    with pytest.raises(ValueError, match="unknown metric"):
        intervals.estimate([0, 1], [0.5, 0.4], [0, 0], "accuracy")
