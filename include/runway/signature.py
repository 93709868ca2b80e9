"""The registered model's input signature, checked without MLflow's per-call cost.

`mlflow.pyfunc.load_model(uri).predict(frame)` enforces the signature on every call: it
converts every column and builds a new frame, ~1 ms for a day's flights and ~0.1 s for a
year's, before the model sees a row. Runway's own batch scoring reads the same registered
artifact and checks the same signature here (`ScoringModel`): the same columns required, and
each column's dtype accepted by MLflow's own rule (`mlflow.models.utils._enforce_mlflow_datatype`,
MLflow 3.17), decided once per (column, dtype) where that rule reads only the dtype, and called
on the column's values where it reads them (object columns, int64 held as double). A frame
MLflow would refuse is refused, naming the column; the frame is then handed to the fitted
scorer unchanged (extra columns ignored), as the pyfunc wrapper would after MLflow's pass.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class SignatureMismatch(ValueError):
    """A frame the registered model's signature refuses: the message names the column."""


def _value_dependent(dtype, spec_type) -> bool:
    """Whether MLflow's verdict for a column of `dtype` reads its values, not only its dtype:
    object columns for any type but string and binary (inferred, or converted to datetimes)
    and int64 as double or float (accepted only when every value is 0 or 1)."""
    from mlflow.types import DataType

    if dtype == np.dtype(object):
        return spec_type not in (DataType.string, DataType.binary)
    return dtype == np.int64 and spec_type in (DataType.double, DataType.float)


class InputCheck:
    """The column-based signature of a model, as a callable check of a frame."""

    def __init__(self, schema) -> None:
        from mlflow.types import DataType

        if schema is None or schema.is_tensor_spec() or not schema.has_input_names():
            raise ValueError("the model has no column-based input signature to check")
        specs = schema.inputs
        if not all(isinstance(spec.type, DataType) for spec in specs):
            raise ValueError("the model's signature has non-scalar columns: use pyfunc predict")
        self.types = {spec.name: spec.type for spec in specs}
        self.required = [spec.name for spec in specs if spec.required]
        self._accepted: set[tuple[str, object]] = set()

    def __call__(self, frame: pd.DataFrame) -> None:
        from mlflow.models.utils import _enforce_mlflow_datatype

        if not isinstance(frame, pd.DataFrame):
            raise SignatureMismatch(f"expected a pandas DataFrame, got {type(frame).__name__}")
        dtypes = dict(zip(frame.columns, frame.dtypes, strict=True))  # one pass, no Series
        missing = [name for name in self.required if name not in dtypes]
        if missing:
            raise SignatureMismatch(f"the frame lacks the model's input columns {missing}")
        if not frame.columns.is_unique:
            doubled = sorted({c for c in frame.columns[frame.columns.duplicated()] if c in dtypes})
            if any(name in self.types for name in doubled):
                raise SignatureMismatch(f"the frame has more than one column named {doubled}")
        for name, spec_type in self.types.items():
            dtype = dtypes.get(name)
            if dtype is None or (name, dtype) in self._accepted:
                continue  # an optional input left out, or a dtype this signature accepts
            try:
                _enforce_mlflow_datatype(name, frame[name], spec_type)
            except Exception as err:  # noqa: BLE001 - MLflow raises several kinds
                raise SignatureMismatch(
                    f"column {name!r} ({dtype}) does not match the model's signature "
                    f"type {spec_type}: {err}"
                ) from err
            if not _value_dependent(dtype, spec_type):
                self._accepted.add((name, dtype))


def fitted_scorer(pyfunc_model):
    """The Runway scorer inside a loaded registered model (`training.pyfunc`), or None for a
    pyfunc of another kind."""
    try:
        return pyfunc_model.unwrap_python_model().scorer
    except AttributeError:
        return None


class ScoringModel:
    """A loaded registered model scored the way batch scoring needs: the signature checked
    (`InputCheck`), then the fitted scorer's `predict_proba` directly. A pyfunc without a
    Runway scorer is called through its own `predict`."""

    def __init__(self, pyfunc_model) -> None:
        self.pyfunc = pyfunc_model
        self.scorer = scorer = fitted_scorer(pyfunc_model)
        self.check = InputCheck(pyfunc_model.metadata.get_input_schema()) if scorer else None

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """P(delayed) per row, float64: what the pyfunc's `predict(frame)` returns."""
        if self.scorer is None:
            return np.asarray(self.pyfunc.predict(frame), dtype="float64")
        self.check(frame)
        return np.asarray(self.scorer.predict_proba(frame), dtype="float64")
