"""The model's input columns, defined once, and the frame every model family reads.

A scoring or training frame carries the raw schedule columns of a flight (carrier, origin,
dest, hour, distance, sched_dep_time, flight_date) and the feature-store features
(`contracts.ALL_FEATURES`, possibly NaN). `model_frame` turns it into the model's inputs:
three categoricals as strings, every other input as float64, derived columns computed here
so that training and scoring cannot disagree on them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from runway import contracts

CATEGORICAL = ("carrier", "origin", "dest")
DERIVED = ("sched_dep_minute", "day_of_week")  # minutes after local midnight; Monday = 0
SCHEDULE_NUMERIC = ("hour", "distance") + DERIVED
NUMERIC = tuple(contracts.ALL_FEATURES) + SCHEDULE_NUMERIC
MODEL_INPUTS = CATEGORICAL + NUMERIC

# The baseline sees only what the schedule says: no feature store.
BASELINE_CATEGORICAL = ("carrier", "origin", "dest", "hour", "day_of_week")
BASELINE_NUMERIC = ("distance",)

# What a frame handed to the model must hold (the pyfunc signature).
RAW_INPUTS = CATEGORICAL + ("hour", "distance", "sched_dep_time", "flight_date") + tuple(
    contracts.ALL_FEATURES
)
MISSING = "__missing__"  # the level of a missing categorical value


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs, in `MODEL_INPUTS` order, from a raw training or scoring frame."""
    missing = [c for c in RAW_INPUTS if c not in frame.columns]
    if missing:
        raise KeyError(f"the frame lacks the model's input columns {missing}")
    out = {}
    for col in CATEGORICAL:
        out[col] = frame[col].astype("string").fillna(MISSING).astype(object).to_numpy()
    for col in contracts.ALL_FEATURES:
        out[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64").to_numpy()
    out["hour"] = frame["hour"].astype("float64").to_numpy()
    out["distance"] = frame["distance"].astype("float64").to_numpy()
    hhmm = frame["sched_dep_time"].astype("float64").to_numpy()
    out["sched_dep_minute"] = (hhmm // 100) * 60 + hhmm % 100
    out["day_of_week"] = (
        pd.to_datetime(frame["flight_date"]).dt.dayofweek.astype("float64").to_numpy()
    )
    return pd.DataFrame(out, index=frame.index, columns=list(MODEL_INPUTS))


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The levels of each categorical seen in training; anything else is unknown at scoring."""

    levels: dict[str, tuple[str, ...]]

    @classmethod
    def fit(cls, inputs: pd.DataFrame, columns=CATEGORICAL) -> "Vocabulary":
        return cls({c: tuple(sorted(pd.unique(inputs[c].astype(str)))) for c in columns})

    def categorical(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """A copy whose categoricals have pandas `category` dtype over the training levels."""
        out = inputs.copy()
        for col, levels in self.levels.items():
            out[col] = pd.Categorical(out[col].astype(str), categories=list(levels))
        return out

    def codes(self, inputs: pd.DataFrame) -> np.ndarray:
        """Integer codes, one column per categorical: 0 = unknown, 1.. = training levels."""
        return np.stack(
            [
                pd.Categorical(inputs[c].astype(str), categories=list(lv)).codes.astype("int64") + 1
                for c, lv in self.levels.items()
            ],
            axis=1,
        )

    def sizes(self) -> list[int]:
        """Embedding table sizes (levels + the unknown slot)."""
        return [len(lv) + 1 for lv in self.levels.values()]


def labels(frame: pd.DataFrame) -> np.ndarray:
    return frame[contracts.LABEL].astype("int64").to_numpy()
