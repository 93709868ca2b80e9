"""The model gate, table-driven: every check can fail alone, the first run is explicit."""

from __future__ import annotations

import json
import math

import pytest

from runway.metrics import SliceMetric
from runway.training.gate import FIRST_RUN_POLICY, GateThresholds, evaluate_gate

T = GateThresholds()

GOOD = {
    "roc_auc": 0.68,
    "pr_auc": 0.38,
    "log_loss": 0.54,
    "brier": 0.18,
    "ece": 0.03,
    "rows": 6500.0,
    "base_rate": 0.26,
    "base_log_loss": 0.57,
}
CHAMPION = GOOD | {"roc_auc": 0.685, "log_loss": 0.545}
SLICES = [
    SliceMetric("carrier", "UA", 1100, 300, 0.66),
    SliceMetric("carrier", "EV", 1000, 350, 0.61),
    SliceMetric("carrier", "HA", 7, 1, 0.10),  # too small to judge
    SliceMetric("origin", "EWR", 2300, 650, 0.67),
    SliceMetric("origin", "JFK", 2100, 500, 0.69),
]


def failed(verdict) -> list[str]:
    return [c.name for c in verdict.failed]


CASES = {
    # name: (candidate changes, champion, slice changes, expected failed checks)
    "passes vs champion": ({}, CHAMPION, {}, []),
    "too few test rows": ({"rows": 999.0}, CHAMPION, {}, ["test_rows"]),
    "AUC under the floor": ({"roc_auc": 0.59}, None, {}, ["test_roc_auc"]),
    "AUC not computable": ({"roc_auc": math.nan}, None, {}, ["test_roc_auc"]),
    "worse than the base rate": ({"log_loss": 0.58}, None, {}, ["test_log_loss_skill"]),
    "miscalibrated": ({"ece": 0.07}, CHAMPION, {}, ["test_ece"]),
    # A champion that decayed below a floor on the same days: no worse than it passes.
    "miscalibrated, less than a decayed champion": (
        {"ece": 0.12},
        CHAMPION | {"ece": 0.19},
        {},
        [],
    ),
    "miscalibrated, more than a decayed champion": (
        {"ece": 0.20},
        CHAMPION | {"ece": 0.19},
        {},
        ["test_ece"],
    ),
    "no skill, like a decayed champion, but worse": (
        {"log_loss": 0.58},
        CHAMPION | {"log_loss": 0.575},
        {},
        ["test_log_loss_skill"],
    ),
    "AUC under the floor, above a decayed champion's": (
        {"roc_auc": 0.59},
        CHAMPION | {"roc_auc": 0.58},
        {},
        [],
    ),
    "AUC drops vs champion": ({"roc_auc": 0.67}, CHAMPION, {}, ["roc_auc_vs_champion"]),
    "log loss rises vs champion": ({"log_loss": 0.556}, CHAMPION, {}, ["log_loss_vs_champion"]),
    "a carrier slice under the floor": ({}, CHAMPION, {1: 0.54}, ["slice_roc_auc[carrier=EV]"]),
    "an origin slice under the floor": ({}, None, {4: 0.50}, ["slice_roc_auc[origin=JFK]"]),
    "on the thresholds passes": (
        {"roc_auc": 0.675, "ece": 0.05, "log_loss": 0.555, "rows": 1000.0},
        CHAMPION,
        {1: 0.55},
        [],
    ),
    "label noise fails several": (
        {"roc_auc": 0.50, "log_loss": 0.575, "ece": 0.01},
        CHAMPION,
        {0: 0.49, 1: 0.51, 3: 0.50, 4: 0.52},
        [
            "test_roc_auc",
            "test_log_loss_skill",
            "roc_auc_vs_champion",
            "log_loss_vs_champion",
            "slice_roc_auc[carrier=UA]",
            "slice_roc_auc[carrier=EV]",
            "slice_roc_auc[origin=EWR]",
            "slice_roc_auc[origin=JFK]",
        ],
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_gate_table(case):
    changes, champion, slice_changes, expected = CASES[case]
    slices = [
        SliceMetric(s.column, s.value, s.rows, s.positives, slice_changes.get(i, s.roc_auc))
        for i, s in enumerate(SLICES)
    ]
    candidate = GOOD | changes
    if champion is not None:  # scored on the same rows as the candidate
        champion = champion | {"rows": candidate["rows"]}
    verdict = evaluate_gate(candidate, champion, slices, T, champion_version=3)
    assert failed(verdict) == expected
    assert verdict.passed is (not expected)


def test_first_run_has_no_change_checks_and_says_so():
    verdict = evaluate_gate(GOOD, None, SLICES, T)
    assert verdict.passed
    assert verdict.policy == FIRST_RUN_POLICY
    assert {c.kind for c in verdict.checks} == {"absolute", "calibration", "slice"}
    assert "first run" in verdict.to_markdown()


def test_with_a_champion_the_change_checks_run_and_name_it():
    verdict = evaluate_gate(GOOD, CHAMPION, SLICES, T, champion_version=3)
    change = [c for c in verdict.checks if c.kind == "change"]
    assert [c.name for c in change] == ["roc_auc_vs_champion", "log_loss_vs_champion"]
    assert change[0].observed == pytest.approx(GOOD["roc_auc"] - CHAMPION["roc_auc"])
    assert "champion 3" in verdict.policy


def test_small_slices_are_reported_not_judged():
    verdict = evaluate_gate(GOOD, None, SLICES, T)
    assert not any("HA" in c.name for c in verdict.checks)
    assert any("carrier=HA (7)" in note for note in verdict.notes)


def test_slices_given_as_json_dicts_are_judged_too():
    as_dicts = [s.__dict__ | {"name": s.name} for s in SLICES]
    as_dicts[0]["roc_auc"] = 0.40
    verdict = evaluate_gate(GOOD, None, as_dicts, T)
    assert failed(verdict) == ["slice_roc_auc[carrier=UA]"]


def test_champion_metrics_from_another_window_are_refused():
    with pytest.raises(ValueError, match="different test windows"):
        evaluate_gate(GOOD, CHAMPION | {"rows": 5000.0}, SLICES, T)


def test_a_decayed_champion_relaxes_a_floor_to_its_own_value_and_says_so():
    verdict = evaluate_gate(GOOD | {"ece": 0.12}, CHAMPION | {"ece": 0.19}, SLICES)
    (ece,) = [c for c in verdict.checks if c.name == "test_ece"]
    assert ece.passed and ece.threshold == 0.19
    assert "champion fails the floor 0.05" in ece.detail and "0.1900" in ece.detail
    first_run = evaluate_gate(GOOD | {"ece": 0.12}, None, SLICES)  # no champion: the floor
    assert failed(first_run) == ["test_ece"]


def test_thresholds_are_parameters():
    strict = GateThresholds(min_roc_auc=0.70, min_slice_rows=1, min_slice_auc=0.0)
    verdict = evaluate_gate(GOOD, None, SLICES, strict)
    assert failed(verdict) == ["test_roc_auc"]
    assert any(c.name == "slice_roc_auc[carrier=HA]" for c in verdict.checks)


def test_reports_are_readable_and_machine_readable():
    verdict = evaluate_gate(GOOD | {"ece": 0.09}, CHAMPION, SLICES, T, champion_version=3)
    data = json.loads(verdict.to_json())
    assert data["passed"] is False
    assert data["champion_version"] == 3
    ece = next(c for c in data["checks"] if c["name"] == "test_ece")
    assert ece == {
        "name": "test_ece",
        "kind": "calibration",
        "observed": 0.09,
        "threshold": 0.05,
        "comparison": "<=",
        "passed": False,
        "detail": "",
        "interval": None,
    }
    report = verdict.to_markdown()
    assert report.startswith("## Model gate: FAILED")
    assert "| test_ece | calibration | 0.09 | <= 0.05 | **FAIL** |" in report
    assert f"{len(verdict.checks) - 1} of {len(verdict.checks)} checks passed" in report


def test_nan_observations_serialize_as_null():
    verdict = evaluate_gate(GOOD | {"roc_auc": math.nan}, None, SLICES, T)
    data = json.loads(verdict.to_json())
    assert next(c for c in data["checks"] if c["name"] == "test_roc_auc")["observed"] is None


def _gain(low: float, high: float):
    from runway.intervals import Estimate

    return Estimate("roc_auc difference", (low + high) / 2, low, high, 0.9, 112, 10**5, 1000)


def test_evidence_passes_only_with_its_lower_bound_above_zero():
    from runway.training.gate import Evidence

    cases = [(0.004, 0.05, True), (0.0, 0.04, False), (-0.02, 0.06, False), (-0.05, -0.01, False)]
    for low, high, passed in cases:
        verdict = evaluate_gate(
            GOOD,
            None,
            SLICES,
            T,
            evidence=[Evidence("beats_baseline", _gain(low, high), "backtest")],
        )
        check = next(c for c in verdict.checks if c.name == "beats_baseline")
        assert check.passed is passed and verdict.passed is passed, (low, high)
        assert (
            check.kind == "evidence" and check.interval == (low, high) and check.comparison == ">"
        )
        assert "backtest" in check.detail and "interval" in check.detail
    markdown = evaluate_gate(
        GOOD, None, SLICES, T, evidence=[Evidence("beats_baseline", _gain(-0.02, 0.06))]
    ).to_markdown()
    assert "beats_baseline" in markdown and "**FAIL**" in markdown
