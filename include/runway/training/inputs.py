"""The model's input columns, defined once, and the frame every model family reads.

A scoring or training frame carries the raw schedule columns of a flight (carrier, origin,
dest, hour, distance, sched_dep_time, flight_date) and the feature-store features
(`contracts.ALL_FEATURES`, possibly NaN). `model_frame` turns it into the model's inputs:
three categoricals as strings, every other input as float64, derived columns computed here
so that training and scoring cannot disagree on them.
"""

from __future__ import annotations

import concurrent.futures
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
# Rows per matrix when scoring a large frame: ~10 MiB per matrix, which the allocator reuses
# from slice to slice (a year's 100 MiB matrix is mapped afresh, page by page, on every call).
SCORING_SLICE_ROWS = 32_768


_FLOAT_SOURCES = tuple(contracts.ALL_FEATURES) + ("hour", "distance")


def _float(column: pd.Series) -> np.ndarray:
    """The column as float64, NaN for nulls and for values that are not numbers."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub":
        return column.to_numpy()  # a numpy column has no null but NaN: cast where it is stored
    if not pd.api.types.is_numeric_dtype(column.dtype):
        column = pd.to_numeric(column, errors="coerce")
    return column.to_numpy(dtype="float64", na_value=np.nan)


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


def _day_of_week(dates: pd.Series) -> np.ndarray:
    """Monday = 0 .. Sunday = 6 as float, NaN for a missing date."""
    if isinstance(dates.dtype, np.dtype) and dates.dtype.kind == "M":  # naive, any unit: in days
        days = dates.to_numpy().astype("datetime64[D]")
        out = ((days.astype("int64") + 3) % 7).astype("float64")  # 1970-01-01 was a Thursday
        out[np.isnat(days)] = np.nan
        return out
    return pd.DatetimeIndex(dates).dayofweek.to_numpy(dtype="float64", na_value=np.nan)


def _numeric(frame: pd.DataFrame, out: np.ndarray) -> np.ndarray:
    """Fill `out` (`NUMERIC` x rows: one row per input, written contiguously) with the numeric
    inputs; scoring calls this on every batch, so no intermediate frame is built."""
    for position, col in enumerate(_FLOAT_SOURCES):
        out[position] = _float(frame[col])
    hhmm = _float(frame["sched_dep_time"])
    out[NUMERIC.index("sched_dep_minute")] = (hhmm // 100) * 60 + hhmm % 100
    out[NUMERIC.index("day_of_week")] = _day_of_week(frame["flight_date"])
    return out


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs, in `MODEL_INPUTS` order, from a raw training or scoring frame."""
    _check(frame)
    numeric = _numeric(frame, np.empty((len(NUMERIC), len(frame)), dtype="float64"))
    out = pd.DataFrame(numeric.T, index=frame.index, columns=list(NUMERIC))  # pandas' own layout
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
        # built one input per row (contiguous writes), then transposed in one copy: the
        # boosters read rows
        by_input = np.empty((len(MODEL_INPUTS), len(frame)), dtype="float64")
        for position, col in enumerate(CATEGORICAL):
            by_input[position] = self._codes(col, frame[col])
        _numeric(frame, by_input[len(CATEGORICAL) :])
        return np.ascontiguousarray(by_input.T)

    def predict(self, frame: pd.DataFrame, predict, rows: int = SCORING_SLICE_ROWS) -> np.ndarray:
        """`predict(self.matrix(part))` over the frame's rows in slices of `rows`, joined in
        order: a row's prediction never depends on the other rows of its matrix. The next
        slice's matrix is built in a second thread while `predict` scores the current one (the
        boosters release the GIL while they score): preparing the inputs then costs about one
        slice's matrix instead of the whole frame's."""
        if len(frame) <= rows:
            return np.asarray(predict(self.matrix(frame)))
        slices = [frame.iloc[lo : lo + rows] for lo in range(0, len(frame), rows)]
        out = []
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="runway-matrix") as pool:
            ahead = pool.submit(self.matrix, slices[0])
            for following in [*slices[1:], None]:
                matrix = ahead.result()
                if following is not None:
                    ahead = pool.submit(self.matrix, following)
                out.append(np.asarray(predict(matrix)))
        return np.concatenate(out)

    def _codes(self, col: str, values: pd.Series) -> np.ndarray:
        """Codes of raw values among the column's levels as float, NaN when unseen; a null is
        the `MISSING` level (as `_strings` makes it), itself unseen unless training had one."""
        categories = self.dtype(col).categories
        raw = values.to_numpy()
        codes = categories.get_indexer(raw)  # one hash lookup per value, no copy of the column
        unknown = np.flatnonzero(codes < 0)
        if len(unknown):  # unseen levels, nulls, or values that are not strings
            rest = raw[unknown]
            nulls = pd.isna(rest)
            if pd.api.types.infer_dtype(rest[~nulls], skipna=True) in ("string", "empty"):
                if MISSING in categories:
                    codes[unknown[nulls]] = categories.get_loc(MISSING)
            else:  # numbers or mixed values: looked up as their strings, as `_strings` makes them
                codes = categories.get_indexer(_strings(values))
        codes = codes.astype("float64")
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
