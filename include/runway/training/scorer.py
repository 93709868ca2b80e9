"""What every fitted model offers, whatever its family: P(delayed) from a raw frame."""

from __future__ import annotations

import numpy as np
import pandas as pd


class Scorer:
    """A fitted model with its preprocessing. Subclasses set `family` and `device` (where it
    was trained) and implement `predict_proba`; pickled whole into the MLflow model."""

    family: str = ""
    device: str = "cpu"

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """P(delayed) for each row of a raw frame holding `inputs.RAW_INPUTS`."""
        raise NotImplementedError

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame | None:
        """Per-row, per-input contributions to the log-odds (SHAP), where the family computes
        them itself; None otherwise."""
        return None

    def feature_importance(self) -> dict[str, float] | None:
        """Importance per model input, where the family has a meaningful one."""
        return None
