"""The decision's parts on small frames: the within-day AUC, the latency test, bad input."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from runway.experiments import decision
from runway.settings import ExperimentPolicy


def _frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "flight_key": [f"k{i}" for i in range(n)],
            "day": pd.Timestamp("2026-03-02") + pd.to_timedelta(rng.integers(0, 4, n), "D"),
            "arm": rng.choice(["champion", "challenger"], n),
            "score": np.round(rng.random(n), 1),  # ties on purpose
            "label": (rng.random(n) < 0.3).astype(float),
            "latency_ms": rng.gamma(4.0, 2.0, n),
            "error": False,
        }
    )


def test_within_day_auc_equals_sklearn_per_day_and_arm_with_ties():
    frame = _frame()
    per = decision.daily_auc(decision.rows_of(frame))
    days = pd.to_datetime(per["day"], unit="D")
    for i, day in enumerate(days):
        for j, arm in enumerate(("champion", "challenger")):
            rows = (frame["day"] == day) & (frame["arm"] == arm)
            expected = roc_auc_score(frame.loc[rows, "label"], frame.loc[rows, "score"])
            assert per["auc"][i, j] == pytest.approx(expected, abs=1e-12)
            assert per["n"][i, j] == rows.sum()


def test_the_latency_guardrail_is_scipys_quantile_test():
    rng = np.random.default_rng(1)
    policy = ExperimentPolicy()
    for scale in (8.0, 20.0, 40.0):
        frame = _frame(600, seed=2).assign(
            arm="challenger", latency_ms=rng.gamma(4, scale / 4, 600)
        )
        day = frame["day"].min().date()
        check = next(
            c for c in decision.guardrails(decision.rows_of(frame), day, policy)
            if c["signal"] == "latency_p99_ms"
        )  # fmt: skip
        today = frame.loc[frame["day"].dt.date == day, "latency_ms"].to_numpy()
        expected = stats.quantile_test(
            today, q=policy.max_latency_p99_ms, p=0.99, alternative="greater"
        ).pvalue
        assert check["p_value"] == pytest.approx(expected, rel=1e-9)
        assert check["breached"] == (expected < policy.guardrail_alpha)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f.drop(columns="latency_ms"), "lacks the columns \\['latency_ms'\\]"),
        (lambda f: f.assign(arm="treatment"), "unknown arms \\['treatment'\\]"),
        (lambda f: f.assign(label=2.0), "label must be 0, 1 or NaN"),
        (lambda f: f.assign(score=np.nan), "without a score"),
    ],
)
def test_bad_frames_are_refused_naming_what_is_wrong(change, message):
    with pytest.raises(ValueError, match=message):
        decision.rows_of(change(_frame(50)))


def test_an_unknown_mode_is_refused():
    experiment = {"mode": "bandit", "share": 0.5, "planned_days": 10, "start": dt.date(2026, 3, 2)}
    with pytest.raises(ValueError, match="unknown experiment mode 'bandit'"):
        decision.decide(_frame(50), experiment, ExperimentPolicy(), dt.date(2026, 3, 3))
