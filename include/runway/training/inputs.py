"""The model's input columns, defined once, and the frame every model family reads.

A scoring or training frame carries the raw schedule columns of a flight (carrier, origin,
dest, hour, distance, sched_dep_time, flight_date) and the feature-store features
(`contracts.ALL_FEATURES`, possibly NaN). `model_frame` turns it into the model's inputs:
three categoricals as strings, every other input as float64, derived columns computed here
so that training and scoring cannot disagree on them.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pandas as pd

from runway import contracts

CATEGORICAL = contracts.MODEL_CATEGORICAL
DERIVED = ("sched_dep_minute", "day_of_week")  # minutes after local midnight; Monday = 0
SCHEDULE_NUMERIC = ("hour", "distance") + DERIVED
NUMERIC = tuple(contracts.ALL_FEATURES) + SCHEDULE_NUMERIC
MODEL_INPUTS = CATEGORICAL + NUMERIC

# The baseline sees only what the schedule says: no feature store.
BASELINE_CATEGORICAL = ("carrier", "origin", "dest", "hour", "day_of_week")
BASELINE_NUMERIC = ("distance",)

RAW_INPUTS = contracts.RAW_INPUTS  # what a frame handed to the model must hold
MISSING = "__missing__"  # the level of a missing categorical value


_FLOAT_SOURCES = tuple(contracts.ALL_FEATURES) + ("hour", "distance")


def _float(column: pd.Series) -> np.ndarray:
    """The column as float64, NaN for nulls and for values that are not numbers."""
    if not pd.api.types.is_numeric_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype="float64", na_value=np.nan)


def _floats(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """The columns as one float64 matrix (one conversion for the block where all are numeric)."""
    block = frame[columns]
    if all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
        return block.to_numpy(dtype="float64", na_value=np.nan)
    return np.column_stack([_float(block[c]) for c in columns])


def _strings(column: pd.Series) -> np.ndarray:
    """The column as an object array of str, `MISSING` for nulls."""
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        values = column.to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = MISSING
        return values
    return column.astype("string").fillna(MISSING).astype(object).to_numpy()


def _check(frame: pd.DataFrame) -> None:
    missing = [c for c in RAW_INPUTS if c not in frame.columns]
    if missing:
        raise KeyError(f"the frame lacks the model's input columns {missing}")


def _numeric(frame: pd.DataFrame, out: np.ndarray) -> np.ndarray:
    """Fill `out` (rows x `NUMERIC`) with the numeric inputs; scoring calls this on every batch,
    so the features are converted as one block."""
    out[:, : len(_FLOAT_SOURCES)] = _floats(frame, list(_FLOAT_SOURCES))
    hhmm = _float(frame["sched_dep_time"])
    out[:, NUMERIC.index("sched_dep_minute")] = (hhmm // 100) * 60 + hhmm % 100
    out[:, NUMERIC.index("day_of_week")] = pd.DatetimeIndex(frame["flight_date"]).dayofweek
    return out


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs, in `MODEL_INPUTS` order, from a raw training or scoring frame."""
    _check(frame)
    numeric = _numeric(frame, np.empty((len(frame), len(NUMERIC)), dtype="float64"))
    out = pd.DataFrame(numeric, index=frame.index, columns=list(NUMERIC))
    for position, col in enumerate(CATEGORICAL):
        out.insert(position, col, _strings(frame[col]))
    return out


@functools.lru_cache(maxsize=64)
def _categories(levels: tuple[str, ...]) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(list(levels))  # validated once per model, not once per batch


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The levels of each categorical seen in training; anything else is unknown at scoring."""

    levels: dict[str, tuple[str, ...]]

    @classmethod
    def fit(cls, inputs: pd.DataFrame, columns=CATEGORICAL) -> Vocabulary:
        return cls({c: tuple(sorted(pd.unique(inputs[c].astype(str)))) for c in columns})

    def dtype(self, column: str) -> pd.CategoricalDtype:
        """The column's categorical dtype over its training levels."""
        return _categories(self.levels[column])

    def categorical(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """A copy of `model_frame`'s output whose categoricals have pandas `category` dtype
        over the training levels (an unseen level becomes NaN)."""
        out = inputs.copy(deep=False)  # the categorical columns are replaced, never written
        for col in self.levels:
            out[col] = pd.Categorical(inputs[col].to_numpy(), dtype=self.dtype(col))
        return out

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """`model_frame`'s inputs of a raw frame as one float64 matrix, without building a
        frame: each categorical as its code among the training levels (the codes the boosters
        were trained on through `categorical`), NaN when unseen or missing."""
        _check(frame)
        out = np.empty((len(frame), len(MODEL_INPUTS)), dtype="float64")
        for position, col in enumerate(CATEGORICAL):
            out[:, position] = self._codes(col, frame[col])
        _numeric(frame, out[:, len(CATEGORICAL) :])
        return out

    def _codes(self, col: str, values: pd.Series) -> np.ndarray:
        """Codes of raw values among the column's levels as float, NaN when unseen; a null is
        the `MISSING` level (as `_strings` makes it), itself unseen unless training had one."""
        categories = self.dtype(col).categories
        if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            values = pd.Series(_strings(values))  # numbers or mixed values: as their strings
        codes = categories.get_indexer(values).astype("float64")  # looked up in place, no copy
        if MISSING in categories:
            codes[values.isna().to_numpy()] = categories.get_loc(MISSING)
        codes[codes < 0] = np.nan
        return codes

    def codes(self, inputs: pd.DataFrame) -> np.ndarray:
        """Integer codes, one column per categorical: 0 = unknown, 1.. = training levels."""
        return np.stack(
            [
                pd.Categorical(inputs[c].to_numpy(), dtype=self.dtype(c)).codes.astype("int64") + 1
                for c in self.levels
            ],
            axis=1,
        )

    def sizes(self) -> list[int]:
        """Embedding table sizes (levels + the unknown slot)."""
        return [len(lv) + 1 for lv in self.levels.values()]


def labels(frame: pd.DataFrame) -> np.ndarray:
    return frame[contracts.LABEL].astype("int64").to_numpy()
