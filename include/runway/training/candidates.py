"""One candidate model: a family, an Optuna budget, early stopping on the validation days.

`train_candidate` is the whole interface. Each family (`boosters`, `mlp`, `baseline`) offers
the same three steps: `prepare` the matrices once, `suggest` hyperparameters for a trial,
`fit(prepared, params, seed, deadline, threads)` one model with early stopping on
validation. Trials minimise validation log loss, a proper score: it rewards ranking and
calibration together, and the gate checks both.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import math
import os
import time
import warnings
from typing import Any

import pandas as pd

from runway.metrics import classification_metrics
from runway.training.data import Split
from runway.training.inputs import labels
from runway.training.scorer import Scorer

log = logging.getLogger(__name__)

# family name -> "module:class" implementing prepare / suggest / fit
FAMILIES = {
    "xgboost": "runway.training.boosters:XGBoostFamily",
    "lightgbm": "runway.training.boosters:LightGBMFamily",
    "torch": "runway.training.mlp:MLPFamily",
    "logreg": "runway.training.baseline:LogRegFamily",
    "carrier_hour_rate": "runway.training.baseline:RateFamily",
}
DEVICES = ("auto", "cpu", "cuda")


@dataclasses.dataclass
class CandidateResult:
    family: str
    model: Scorer  # predicts P(delayed) from a raw frame
    params: dict[str, Any]  # the best trial's hyperparameters
    valid_metrics: dict[str, float]
    device: str  # where it was actually trained
    trials: int  # trials completed within the budget
    best_iteration: int | None  # boosting rounds / epochs kept by early stopping
    train_rows: int
    valid_rows: int
    train_window: tuple[str, str]
    valid_window: tuple[str, str]
    fit_seconds: float


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_device(device: str) -> str:
    """`auto` -> `cuda` when torch sees a GPU, else `cpu`; `cuda` without a GPU falls back to
    `cpu` with a warning (the result records the device actually used)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "cuda":
        warnings.warn(
            "device='cuda' asked for, but torch sees no GPU: training on cpu", stacklevel=2
        )
    return "cpu"


def family_spec(family: str):
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; one of {sorted(FAMILIES)}")
    module, name = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), name)


def _window(frame: pd.DataFrame) -> tuple[str, str]:
    first, last = Split.window(frame)
    return first.isoformat(), last.isoformat()


def train_candidate(
    family: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    n_trials: int = 20,
    timeout_s: float = 600.0,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
) -> CandidateResult:
    """Tune `family` by Optuna for at most `n_trials` trials or `timeout_s` seconds (whichever
    ends first; a trial running at the deadline stops early) and return the best model.

    `threads`: CPU threads per fit; None = every core this process may use. On a shared,
    busy machine 1 is often faster: OpenMP threads that wait for a core spin."""
    import optuna

    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a whole number >= 1, got {n_trials!r}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
    spec = family_spec(family)
    device = resolve_device(device) if spec.uses_gpu else "cpu"
    started = time.monotonic()
    deadline = started + timeout_s
    threads = threads or len(os.sched_getaffinity(0))
    prepared = spec.prepare(train, valid, device)
    y_valid = labels(valid)
    best: dict[str, Any] = {"loss": math.inf}

    def objective(trial: optuna.Trial) -> float:
        params = spec.suggest(trial)
        model, best_iteration = spec.fit(prepared, params, seed, deadline, threads)
        loss = classification_metrics(y_valid, model.predict_proba(valid))["log_loss"]
        if loss < best["loss"]:
            best.update(loss=loss, model=model, params=params, best_iteration=best_iteration)
        return loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        study_name=f"{family}-{seed}",
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
    if "model" not in best:
        raise RuntimeError(f"{family}: no trial completed within {timeout_s} s")
    model: Scorer = best["model"]
    result = CandidateResult(
        family=family,
        model=model,
        params=dict(best["params"]),
        valid_metrics=classification_metrics(y_valid, model.predict_proba(valid)),
        device=model.device,
        trials=len(study.trials),
        best_iteration=best["best_iteration"],
        train_rows=len(train),
        valid_rows=len(valid),
        train_window=_window(train),
        valid_window=_window(valid),
        fit_seconds=time.monotonic() - started,
    )
    log.info(
        "%s: %d trials in %.1f s on %s, valid AUC %.4f, log loss %.4f",
        family,
        result.trials,
        result.fit_seconds,
        result.device,
        result.valid_metrics["roc_auc"],
        result.valid_metrics["log_loss"],
    )
    return result
