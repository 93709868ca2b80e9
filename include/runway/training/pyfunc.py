"""The one scoring interface: an MLflow pyfunc model whose `predict(frame)` is P(delayed).

Every family is logged the same way: the fitted `Scorer` (model + its preprocessing) pickled
as an artifact, and this wrapper, logged as "model from code" (MLflow 3's recommended form:
`pyfunc_entry.py` is copied into the model and names the wrapper). Batch scoring therefore
needs no knowledge of the family:

    mlflow.pyfunc.load_model("models:/flight_delay@champion").predict(frame)  # -> ndarray

The pickled scorer refers to `runway.training` classes by name: the scoring environment
imports the same `runway` package (the platform's own, installed on every worker).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from runway.training.scorer import Scorer

ENTRY = Path(__file__).with_name("pyfunc_entry.py")
SCORER_ARTIFACT = "scorer"


class FlightDelayModel(mlflow.pyfunc.PythonModel):
    """P(delayed) for each row of a frame holding `inputs.RAW_INPUTS` (extra columns ignored)."""

    def __init__(self) -> None:
        self.scorer: Scorer | None = None

    def load_context(self, context) -> None:
        with open(context.artifacts[SCORER_ARTIFACT], "rb") as handle:
            self.scorer = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:
        return np.asarray(self.scorer.predict_proba(model_input), dtype="float64")


def save_scorer(scorer: Scorer, path: Path) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(scorer, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return path
