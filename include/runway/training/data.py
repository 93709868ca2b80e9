"""Out-of-time split of a training frame, and the hash that names the data a model saw."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

import pandas as pd

DATE = "flight_date"


@dataclasses.dataclass(frozen=True)
class Split:
    """Train, validation and test frames, consecutive in time, with their date windows."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame

    @staticmethod
    def window(frame: pd.DataFrame) -> tuple[dt.date, dt.date]:
        dates = pd.to_datetime(frame[DATE])
        return dates.min().date(), dates.max().date()

    def windows(self) -> dict[str, str]:
        """`{"train": "2026-01-01..2026-02-01", ...}`: for tags and reports."""
        return {
            name: "..".join(d.isoformat() for d in self.window(part))
            for name, part in (("train", self.train), ("valid", self.valid), ("test", self.test))
        }


def split_by_date(frame: pd.DataFrame, valid_days: int, test_days: int) -> Split:
    """Test = the last `test_days` calendar days of the frame, validation = the `valid_days`
    before them, train = everything earlier. No flight date falls in two parts."""
    if valid_days < 1 or test_days < 1:
        raise ValueError(f"valid_days and test_days must be >= 1, got {valid_days}, {test_days}")
    dates = pd.to_datetime(frame[DATE])
    last = dates.max().normalize()
    test_start = last - pd.Timedelta(days=test_days - 1)
    valid_start = test_start - pd.Timedelta(days=valid_days)
    parts = Split(
        train=frame[dates < valid_start],
        valid=frame[(dates >= valid_start) & (dates < test_start)],
        test=frame[dates >= test_start],
    )
    for name in ("train", "valid", "test"):
        if getattr(parts, name).empty:
            first = dates.min().date()
            raise ValueError(
                f"the {name} part is empty: the frame covers {first}..{last.date()}, too short "
                f"for {valid_days} validation + {test_days} test days and some training days"
            )
    return parts


def training_data_hash(frame: pd.DataFrame) -> str:
    """SHA-256 over the frame's columns, dtypes and values, independent of row and column
    order (rows are sorted by `flight_id` when present). Same rows, same hash, any process."""
    ordered = frame[sorted(frame.columns)]
    if "flight_id" in ordered.columns:
        ordered = ordered.sort_values("flight_id", kind="stable")
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in ordered.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    return digest.hexdigest()
