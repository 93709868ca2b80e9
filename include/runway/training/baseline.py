"""The baseline every candidate must beat to be worth its features: logistic regression on
what the schedule alone says (carrier, origin, dest, hour, day of week one-hot; distance)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from runway.training.inputs import BASELINE_CATEGORICAL, BASELINE_NUMERIC, labels, model_frame
from runway.training.scorer import Scorer


def _schedule_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    inputs = model_frame(frame)[list(BASELINE_CATEGORICAL + BASELINE_NUMERIC)].copy()
    for col in BASELINE_CATEGORICAL:
        inputs[col] = inputs[col].astype(str)
    return inputs


class LogRegScorer(Scorer):
    family = "logreg"
    device = "cpu"

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(_schedule_inputs(frame))[:, 1]

    def feature_importance(self) -> dict[str, float]:
        """Largest |coefficient| among each input's one-hot columns (inputs are scaled)."""
        names = self.pipeline[:-1].get_feature_names_out()
        coefs = np.abs(self.pipeline[-1].coef_[0])
        out: dict[str, float] = {}
        for name, coef in zip(names, coefs, strict=True):
            column = next(c for c in BASELINE_CATEGORICAL + BASELINE_NUMERIC if f"__{c}" in name)
            out[column] = max(out.get(column, 0.0), float(coef))
        return out


class LogRegFamily:
    name = "logreg"
    uses_gpu = False

    @staticmethod
    def prepare(train: pd.DataFrame, valid: pd.DataFrame, device: str):
        return _schedule_inputs(train), labels(train)

    @staticmethod
    def suggest(trial) -> dict:
        return {"C": trial.suggest_float("C", 1e-3, 10.0, log=True)}

    @staticmethod
    def fit(prepared, params: dict, seed: int, deadline: float, threads: int):
        # No iterations to stop early: validation chooses C, the only capacity knob.
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        train_x, train_y = prepared
        columns = ColumnTransformer(
            [
                ("onehot", OneHotEncoder(handle_unknown="ignore"), list(BASELINE_CATEGORICAL)),
                (
                    "scaled",
                    make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                    list(BASELINE_NUMERIC),
                ),
            ]
        )
        pipeline = Pipeline(
            [("columns", columns), ("logreg", LogisticRegression(C=params["C"], max_iter=500))]
        )
        pipeline.fit(train_x, train_y)
        return LogRegScorer(pipeline), None
