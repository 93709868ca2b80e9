"""Flights as Feast entity rows: the one definition training and scoring share.

A flight of local day D is predicted when day D-1 is over (the batch scoring run that starts
after midnight): that moment is its entity timestamp, and the point-in-time join hands it the
newest feature rows stamped at or before it - day D-1's rows, never day D's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from runway import contracts
from runway.days import prediction_time
from runway.io import partition_file

# Columns a flight row carries besides its entity keys: known at schedule time.
SCHEDULE_COLUMNS = ("flight_id", "flight_date", "dest", "distance", "sched_dep_time")


def entity_rows(flights: pd.DataFrame, with_label: bool) -> pd.DataFrame:
    """Raw flights -> entity frame: keys, entity timestamp, schedule columns (and the label)."""
    frame = pd.DataFrame(
        {
            "flight_id": flights["flight_id"].astype(str),
            "flight_date": pd.to_datetime(flights["flight_date"]).dt.date,
            "carrier": flights["carrier"].astype(str),
            "origin": flights["origin"].astype(str),
            "dest": flights["dest"].astype(str),
            "route": flights["origin"].astype(str) + "-" + flights["dest"].astype(str),
            "tailnum": flights["tailnum"].fillna("UNKNOWN").astype(str),
            "hour": flights["hour"].astype("int64"),
            "distance": flights["distance"].astype("float64"),
            "sched_dep_time": flights["sched_dep_time"].astype("int64"),
        }
    )
    stamps = {day: prediction_time(day) for day in frame["flight_date"].unique()}
    frame[contracts.EVENT_TIMESTAMP] = pd.to_datetime(
        frame["flight_date"].map(stamps), utc=True
    ).astype("datetime64[us, UTC]")
    if with_label:
        delay = flights["arr_delay"]
        frame[contracts.LABEL] = (
            (delay.isna() | (delay >= contracts.LABEL_DELAY_MINUTES)).astype("int64").values
        )
    return frame.reset_index(drop=True)


def read_flights(raw_dir: Path, days: list[dt.date]) -> pd.DataFrame:
    """The landed raw flights of `days` (every day must have landed)."""
    paths = [partition_file(raw_dir, "flights", day.isoformat()) for day in days]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"raw flights not landed: {', '.join(missing[:5])}")
    if not paths:
        return pd.DataFrame(columns=contracts.RAW_FLIGHTS_SCHEMA.names)
    return (
        ds.dataset([str(p) for p in paths], schema=contracts.RAW_FLIGHTS_SCHEMA)
        .to_table()
        .to_pandas()
    )
