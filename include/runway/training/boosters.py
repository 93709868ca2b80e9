"""Gradient-boosted trees: XGBoost (GPU when present) and LightGBM (CPU), both on native
categoricals over the training vocabulary, both early-stopped on validation log loss."""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd

from runway.training.inputs import Vocabulary, labels, model_frame
from runway.training.scorer import Scorer

MAX_ROUNDS = 2000
EARLY_STOPPING_ROUNDS = 50


@dataclasses.dataclass
class Prepared:
    vocab: Vocabulary
    train_x: pd.DataFrame
    train_y: np.ndarray
    valid_x: pd.DataFrame
    valid_y: np.ndarray
    device: str


def _prepare(train: pd.DataFrame, valid: pd.DataFrame, device: str) -> Prepared:
    train_x = model_frame(train)
    vocab = Vocabulary.fit(train_x)
    return Prepared(
        vocab,
        vocab.categorical(train_x),
        labels(train),
        vocab.categorical(model_frame(valid)),
        labels(valid),
        device,
    )


# ---- XGBoost ---------------------------------------------------------------------------------
class XGBoostScorer(Scorer):
    family = "xgboost"

    def __init__(self, booster, vocab: Vocabulary, best_iteration: int, device: str):
        booster.set_param({"device": "cpu"})  # the stored model scores on any machine
        self.booster = booster
        self.vocab = vocab
        self.best_iteration = best_iteration
        self.device = device

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        # inplace_predict reads the matrix's buffer: no DMatrix and no frame per prediction
        rounds = (0, self.best_iteration + 1)
        return self.vocab.predict(
            frame, lambda matrix: self.booster.inplace_predict(matrix, iteration_range=rounds)
        )

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        import xgboost as xgb

        matrix = xgb.DMatrix(
            self.vocab.matrix(frame),
            feature_names=self.booster.feature_names,
            feature_types=self.booster.feature_types,
            enable_categorical=True,
        )
        values = self.booster.predict(
            matrix, pred_contribs=True, iteration_range=(0, self.best_iteration + 1)
        )
        return pd.DataFrame(values[:, :-1], columns=self.booster.feature_names)  # last: bias

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.get_score(importance_type="total_gain")
        return {name: float(gain) for name, gain in gains.items()}


class XGBoostFamily:
    name = "xgboost"
    uses_gpu = True

    @staticmethod
    def prepare(train: pd.DataFrame, valid: pd.DataFrame, device: str):
        import xgboost as xgb

        if device == "cuda" and not xgb.build_info().get("USE_CUDA"):
            device = "cpu"  # the xgboost-cpu wheel: the GPU worker image ships the CUDA build
        p = _prepare(train, valid, device)
        dtrain = xgb.DMatrix(p.train_x, label=p.train_y, enable_categorical=True)
        dvalid = xgb.DMatrix(p.valid_x, label=p.valid_y, enable_categorical=True)
        return p, dtrain, dvalid

    @staticmethod
    def suggest(trial) -> dict:
        return {
            "max_depth": trial.suggest_int("max_depth", 3, 8),
            "eta": trial.suggest_float("eta", 0.03, 0.3, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 50.0, log=True),
            "subsample": trial.suggest_float("subsample", 0.6, 1.0),
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "lambda": trial.suggest_float("lambda", 1e-3, 10.0, log=True),
        }

    @staticmethod
    def fit(prepared, params: dict, seed: int, deadline: float, threads: int):
        import xgboost as xgb

        p, dtrain, dvalid = prepared

        class StopAtDeadline(xgb.callback.TrainingCallback):
            def after_iteration(self, model, epoch, evals_log) -> bool:
                return time.monotonic() > deadline

        booster = xgb.train(
            {
                "objective": "binary:logistic",
                "eval_metric": "logloss",
                "tree_method": "hist",
                "device": p.device,
                "max_cat_to_onehot": 4,
                "seed": seed,
                "nthread": threads,
                **params,
            },
            dtrain,
            num_boost_round=MAX_ROUNDS,
            evals=[(dvalid, "valid")],
            early_stopping_rounds=EARLY_STOPPING_ROUNDS,
            callbacks=[StopAtDeadline()],
            verbose_eval=False,
        )
        used = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
        best = int(getattr(booster, "best_iteration", booster.num_boosted_rounds() - 1))
        return XGBoostScorer(booster, p.vocab, best, "cuda" if "cuda" in used else "cpu"), best + 1


# ---- LightGBM --------------------------------------------------------------------------------
class LightGBMScorer(Scorer):
    family = "lightgbm"
    device = "cpu"

    def __init__(self, booster, vocab: Vocabulary):
        self.booster = booster
        self.vocab = vocab

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        best = self.booster.best_iteration
        return self.vocab.predict(
            frame, lambda matrix: self.booster.predict(matrix, num_iteration=best)
        )

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        values = self.booster.predict(
            self.vocab.matrix(frame), num_iteration=self.booster.best_iteration, pred_contrib=True
        )
        return pd.DataFrame(values[:, :-1], columns=self.booster.feature_name())  # last: bias

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance(importance_type="gain")
        return {name: float(g) for name, g in zip(self.booster.feature_name(), gains, strict=True)}


class LightGBMFamily:
    name = "lightgbm"
    uses_gpu = False

    @staticmethod
    def prepare(train: pd.DataFrame, valid: pd.DataFrame, device: str):
        return _prepare(train, valid, "cpu")

    @staticmethod
    def suggest(trial) -> dict:
        return {
            "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
            "learning_rate": trial.suggest_float("learning_rate", 0.03, 0.3, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 10, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
            "bagging_fraction": trial.suggest_float("bagging_fraction", 0.6, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        }

    @staticmethod
    def fit(p: Prepared, params: dict, seed: int, deadline: float, threads: int):
        import lightgbm as lgb

        best = {"loss": float("inf"), "iteration": 0, "results": []}

        def stop_at_deadline(env) -> None:
            # like early stopping, a trial cut by the deadline keeps its best iteration
            loss = env.evaluation_result_list[0][2]
            if loss < best["loss"]:
                best.update(loss=loss, iteration=env.iteration, results=env.evaluation_result_list)
            if time.monotonic() > deadline:
                raise lgb.callback.EarlyStopException(best["iteration"], best["results"])

        train_set = lgb.Dataset(p.train_x, label=p.train_y, free_raw_data=False)
        valid_set = lgb.Dataset(p.valid_x, label=p.valid_y, reference=train_set)
        booster = lgb.train(
            {
                "objective": "binary",
                "metric": "binary_logloss",
                "bagging_freq": 1,
                "seed": seed,
                "deterministic": True,
                "num_threads": threads,
                "verbose": -1,
                **params,
            },
            train_set,
            num_boost_round=MAX_ROUNDS,
            valid_sets=[valid_set],
            callbacks=[
                lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False),
                stop_at_deadline,
            ],
        )
        if booster.best_iteration <= 0:
            booster.best_iteration = booster.current_iteration()
        return LightGBMScorer(booster, p.vocab), booster.best_iteration
