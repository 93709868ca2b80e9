"""The model card and the gate report: what a person reads about a version, from its test
rows, scores and verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd

from runway.training import card
from runway.training.gate import Check, GateVerdict


class _Scorer:
    family = "lightgbm"

    def contributions(self, frame):
        return pd.DataFrame({"wx_visib": np.full(len(frame), -0.4), "carrier": 0.1})


def _test_rows(n=900, seed=0):
    rng = np.random.default_rng(seed)
    days = pd.date_range("2026-03-02", periods=3).repeat(n // 3)
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame(
        {"flight_date": days, "carrier": rng.choice(["UA", "B6"], n), "origin": "EWR",
         "delayed": y},
    )  # fmt: skip
    scores = np.clip(0.3 + 0.3 * (y - 0.5) + rng.normal(0, 0.15, n), 0.01, 0.99)
    return frame, scores


def test_the_card_shows_window_metrics_beside_the_baseline_calibration_and_drivers():
    test, scores = _test_rows()
    html = card.model_card(
        model_name="flight_delay", version=4, family="lightgbm",
        lineage={"training_window": "2026-01-20..2026-03-01", "data_hash": "abc"},
        test=test, scores=scores, baseline_scores=np.full(len(test), 0.5), baseline_version=3,
        scorer=_Scorer(),
    )  # fmt: skip
    assert "Model card: flight_delay version 4" in html
    assert "2026-03-02..2026-03-04 (900 flights)" in html
    assert "baseline (version\n3)" in html or "baseline (version 3)" in html
    assert html.count("<svg") == 1  # the calibration plot, inline
    assert html.index("wx_visib") < html.index("carrier</td>")  # larger |contribution| first
    assert "cannot know tomorrow" in html


def test_a_family_without_contributions_says_so():
    test, scores = _test_rows()
    html = card.model_card(
        model_name="flight_delay", version=1, family="logreg", lineage={}, test=test,
        scores=scores, baseline_scores=None, baseline_version=None, scorer=None,
    )  # fmt: skip
    assert "gives no per-feature contributions" in html


def test_the_gate_report_shows_every_check_with_its_interval_and_verdict():
    test, _ = _test_rows()
    verdict = GateVerdict(
        checks=(
            Check("min_roc_auc", "absolute", 0.71, 0.6, ">=", True),
            Check("beats_baseline", "evidence", 0.004, 0.0, ">", False, "AUC gain",
                  (-0.01, 0.02)),
        ),
        policy="auto",
        champion_version=2,
    )  # fmt: skip
    html = card.gate_report(
        verdict, model_name="flight_delay", version=4, family="lightgbm", test=test, baseline=3
    )
    assert "FAILED" in html and "beats_baseline" in html and "[-0.01, 0.02]" in html
    assert "against champion 2" in html and "baseline version 3" in html
