"""Which version the training run's gate chooses, on real registered models: the candidate when
it beats the baseline, the baseline when it does not and is adequate itself, and the candidate
judged on its other checks when the baseline is not adequate either."""

from __future__ import annotations

import dataclasses

import pytest

from runway.intervals import Estimate
from runway.settings import GateThresholds, Settings
from runway.training.steps import BASELINE, gate_best, train_family
from tests.unit._training_data import TEST_DAYS, VALID_DAYS, sample_frame, shuffled_labels

BUDGET = {"n_trials": 2, "timeout_s": 20.0, "valid_days": VALID_DAYS, "test_days": TEST_DAYS}


@dataclasses.dataclass
class World:
    settings: Settings
    data_path: str
    candidate: dict  # LightGBM on the real labels
    baseline: dict  # the carrier x hour rate on the real labels
    inadequate: dict  # the baseline's family fitted on shuffled labels


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    home = tmp_path_factory.mktemp("gate-best")
    # This week's test days are calibrated within 0.1, not 0.05, for every family here.
    settings = Settings(home=home, gate=GateThresholds(max_ece=0.1), train_threads=1)
    frame = sample_frame(tmp_path_factory)
    real, noise = home / "real.parquet", home / "noise.parquet"
    frame.to_parquet(real, index=False)
    shuffled_labels(frame, 3).to_parquet(noise, index=False)

    def train(family: str, path) -> dict:
        return train_family(settings, family, str(path), airflow_run_id=f"t__{path.stem}", **BUDGET)

    return World(
        settings,
        str(real),
        train("lightgbm", real),
        train(BASELINE, real),
        train(BASELINE, noise),
    )


def _recipe(family: str, low: float, high: float) -> dict:
    gain = Estimate("roc_auc difference", (low + high) / 2, low, high, 0.9, 112, 10**5, 1000)
    evidence = {"name": "beats_baseline", "gain": dataclasses.asdict(gain), "detail": "backtest"}
    return {
        "evidence": {family: [evidence]},
        "windows": 8,
        "test_days": "2026-01-01..2026-04-22",
        "run_id": "backtest-run",
        "overall_auc": {},
    }


def _gate(world: World, baseline: dict, low: float, high: float) -> dict:
    return gate_best(
        world.settings, [world.candidate, baseline], world.data_path, TEST_DAYS, VALID_DAYS,
        recipe=_recipe("lightgbm", low, high),
    )  # fmt: skip


def test_a_candidate_whose_recipe_beats_the_baseline_is_chosen(world):
    verdict = _gate(world, world.baseline, 0.01, 0.05)
    assert verdict["family"] == "lightgbm" and verdict["passed"], verdict
    assert verdict["honest_baseline"] is None


def test_an_adequate_baseline_stands_in_for_a_candidate_that_does_not_beat_it(world):
    verdict = _gate(world, world.baseline, -0.01, 0.02)
    assert verdict["family"] == BASELINE and verdict["passed"], verdict
    assert verdict["version"] == world.baseline["version"]
    assert "did not beat the baseline" in verdict["honest_baseline"]
    assert f"version {world.candidate['version']}" in verdict["honest_baseline"]


def test_an_inadequate_baseline_neither_stands_in_nor_holds_the_candidate_back(world):
    verdict = _gate(world, world.inadequate, -0.01, 0.02)
    assert verdict["family"] == "lightgbm" and verdict["passed"], verdict
    note = verdict["honest_baseline"]
    assert f"version {world.inadequate['version']} failed" in note and "not adequate" in note
    assert "min_roc_auc" in note or "skill" in note  # the check the noise baseline failed
    assert "beats_baseline" not in verdict["failed_checks"]
