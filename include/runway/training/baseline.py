"""The baselines a candidate must beat to be worth its features.

- `carrier_hour_rate` (`RateFamily`), the gate's baseline: P(delayed) is the delayed rate of the
  flight's carrier x scheduled hour in the training days, shrunk toward the carrier's rate (then
  the window's) where a cell is thin; validation chooses how strongly. Out of time it ranks as
  well as the boosters and is calibrated by construction (`scripts/backtest_report.py`).
- `logreg` (`LogRegFamily`): logistic regression on what the schedule alone says (carrier,
  origin, dest, hour, day of week one-hot; distance), a baseline of the backtest.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from runway import contracts
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


# ---- the carrier x hour delayed rate -------------------------------------------------------
RATE_KEYS = ("carrier", "hour")
PRIOR_ROWS = 20.0  # default shrinkage: a cell of 20 flights is half its own rate


@dataclasses.dataclass(frozen=True)
class RateTable:
    """Shrunk delayed rates per carrier x hour, per carrier, and overall."""

    cell: pd.Series  # indexed by (carrier, hour)
    carrier: pd.Series  # indexed by carrier
    overall: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, prior_rows: float = PRIOR_ROWS) -> RateTable:
        y = frame[contracts.LABEL].astype("float64")
        overall = float(y.mean())
        by_carrier = y.groupby(frame["carrier"]).agg(["sum", "count"])
        carrier = (by_carrier["sum"] + prior_rows * overall) / (by_carrier["count"] + prior_rows)
        by_cell = y.groupby([frame[k] for k in RATE_KEYS]).agg(["sum", "count"])
        prior = carrier.reindex(by_cell.index.get_level_values(0)).to_numpy()
        cell = (by_cell["sum"] + prior_rows * prior) / (by_cell["count"] + prior_rows)
        return cls(cell, carrier, overall)

    def lookup(self, frame: pd.DataFrame) -> np.ndarray:
        """The cell's rate; the carrier's for a cell the window never saw; the window's for an
        unseen carrier."""
        keys = pd.MultiIndex.from_arrays([frame[k] for k in RATE_KEYS])
        p = self.cell.reindex(keys).to_numpy(dtype="float64")
        fallback = self.carrier.reindex(frame["carrier"]).to_numpy(dtype="float64")
        p = np.where(np.isnan(p), fallback, p)
        return np.where(np.isnan(p), self.overall, p)


class RateScorer(Scorer):
    family = "carrier_hour_rate"
    device = "cpu"

    def __init__(self, table: RateTable):
        self.table = table

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return self.table.lookup(model_frame(frame))

    def feature_importance(self) -> dict[str, float]:
        """How far each key's rates spread (their standard deviation), a rough importance."""
        return {
            "carrier": float(self.table.carrier.std()),
            "hour": float(self.table.cell.groupby(level=1).mean().std()),
        }


class RateFamily:
    name = "carrier_hour_rate"
    uses_gpu = False

    @staticmethod
    def prepare(train: pd.DataFrame, valid: pd.DataFrame, device: str):
        return model_frame(train)[list(RATE_KEYS)].assign(**{contracts.LABEL: labels(train)})

    @staticmethod
    def suggest(trial) -> dict:
        return {"prior_rows": trial.suggest_float("prior_rows", 1.0, 500.0, log=True)}

    @staticmethod
    def fit(prepared, params: dict, seed: int, deadline: float, threads: int):
        return RateScorer(RateTable.fit(prepared, params["prior_rows"])), None
