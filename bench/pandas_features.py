"""The feature definitions a third time, in plain pandas: groupby per (entity, day), then
rolling sums over days. A baseline of the Beam job, held equal to it by the features figure.

Definitions (`runway.contracts`): for target day D and window w, the flights of days
D-w+1..D with a non-null key; `flights` counts them, `delay_rate` / `cancel_rate` are shares of
them (delayed = arr_delay null or >= 15 min; cancelled = dep_time null), `mean_*_delay` the
means over non-null delays. A row exists for every entity with a flight in the longest window.
Weather: each origin's first observation of each local hour of D.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from runway import contracts

SUMS = ("n", "n_delayed", "n_cancelled", "sum_arr", "n_arr", "sum_dep", "n_dep")
ENTITY_CHUNK = 20_000  # entities per dense block: bounds memory at large scales
_STAT = {  # stat -> (numerator, denominator)
    "flights": ("n", None),
    "delay_rate": ("n_delayed", "n"),
    "cancel_rate": ("n_cancelled", "n"),
    "mean_arr_delay": ("sum_arr", "n_arr"),
    "mean_dep_delay": ("sum_dep", "n_dep"),
}
FLIGHT_COLUMNS = [
    "flight_date",
    "carrier",
    "tailnum",
    "origin",
    "dest",
    "dep_time",
    "dep_delay",
    "arr_delay",
]


def _files(raw_dir: Path, table: str, days: list[dt.date]) -> list[Path]:
    paths = [Path(raw_dir) / table / f"date={d.isoformat()}" / "part-0.parquet" for d in days]
    return [p for p in paths if p.exists()]


def read_flights(raw_dir: Path, first: dt.date, end: dt.date) -> pd.DataFrame:
    days = [first + dt.timedelta(days=i) for i in range((end - first).days + 1)]
    frames = [pd.read_parquet(p, columns=FLIGHT_COLUMNS) for p in _files(raw_dir, "flights", days)]
    return pd.concat(frames, ignore_index=True)


def entity_features(
    flights: pd.DataFrame,
    spec,
    first: dt.date,
    start: dt.date,
    end: dt.date,
    planes: pd.DataFrame | None,
) -> pd.DataFrame:
    key = spec.keys[0]
    frame = flights[flights[key].notna()]
    daily = (
        frame.groupby([key, "day_idx"], sort=True)
        .agg(
            n=("one", "size"),
            n_delayed=("delayed", "sum"),
            n_cancelled=("cancelled", "sum"),
            sum_arr=("arr_delay", "sum"),
            n_arr=("arr_delay", "count"),
            sum_dep=("dep_delay", "sum"),
            n_dep=("dep_delay", "count"),
        )
        .astype("float64")
    )
    n_days = (end - first).days + 1
    first_target = (start - first).days
    entities = daily.index.get_level_values(key).unique()
    needed = {("n", contracts.MAX_WINDOW_DAYS)}
    for stat, w in spec.stats:
        needed |= {(col, w) for col in _STAT[stat] if col}
    parts = []
    for lo in range(0, len(entities), ENTITY_CHUNK):
        block = entities[lo : lo + ENTITY_CHUNK]
        sub = daily.loc[block]
        # days x entities, every day present; then rolling sums down the days
        wide = {
            col: sub[col]
            .unstack(key, fill_value=0.0)
            .reindex(index=range(n_days), columns=block, fill_value=0.0)
            for col in sorted({col for col, _ in needed})
        }
        rolled = {
            (col, w): wide[col].rolling(w, min_periods=1).sum().to_numpy()[first_target:]
            for col, w in sorted(needed)
        }
        day_i, ent_i = np.nonzero(rolled[("n", contracts.MAX_WINDOW_DAYS)] > 0)
        out = {
            "day": [start + dt.timedelta(days=int(i)) for i in day_i],
            key: block.to_numpy()[ent_i],
        }
        with np.errstate(invalid="ignore", divide="ignore"):
            for stat, w in spec.stats:
                num, den = _STAT[stat]
                values = rolled[(num, w)][day_i, ent_i]
                name = f"{spec.prefix}_{stat}_{w}d"
                if den is None:
                    out[name] = values.astype("int64")
                else:
                    d = rolled[(den, w)][day_i, ent_i]
                    out[name] = np.where(d > 0, values / np.where(d > 0, d, 1.0), np.nan)
        parts.append(pd.DataFrame(out))
    result = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["day", key])
    if spec.static:
        attrs = planes[[key, *spec.static]].drop_duplicates(key)
        attrs = attrs.rename(columns={c: f"{spec.prefix}_{c}" for c in spec.static})
        result = result.merge(attrs, on=key, how="left")
        for c in spec.static:
            result[f"{spec.prefix}_{c}"] = result[f"{spec.prefix}_{c}"].astype("Int64")
    return result.sort_values(["day", key], ignore_index=True)


def weather_features(raw_dir: Path, start: dt.date, end: dt.date) -> pd.DataFrame:
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    weather = pd.concat(
        [pd.read_parquet(p) for p in _files(raw_dir, "weather", days)], ignore_index=True
    )
    weather = weather.sort_values(["obs_date", "origin", "hour", "obs_ts"], kind="stable")
    weather = weather.drop_duplicates(["obs_date", "origin", "hour"], keep="first")
    out = weather[["obs_date", "origin", "hour", *contracts.WEATHER_COLUMNS]].rename(
        columns={
            "obs_date": "day",
            **dict(zip(contracts.WEATHER_COLUMNS, contracts.WEATHER_FEATURES, strict=True)),
        }
    )
    return out.reset_index(drop=True)


def pandas_features(raw_dir: Path, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """Every feature table for days start..end, one frame per table with a `day` column
    (the shape of `runway.features.reference.reference_features`)."""
    raw_dir = Path(raw_dir)
    first = start - dt.timedelta(days=contracts.MAX_WINDOW_DAYS - 1)
    flights = read_flights(raw_dir, first, end)
    flights["route"] = flights["origin"] + "-" + flights["dest"]
    flights["one"] = 1
    late = flights["arr_delay"] >= contracts.LABEL_DELAY_MINUTES
    flights["delayed"] = (flights["arr_delay"].isna() | late).astype("int64")
    flights["cancelled"] = flights["dep_time"].isna().astype("int64")
    flights["day_idx"] = (pd.to_datetime(flights["flight_date"]) - pd.Timestamp(first)).dt.days
    planes = pd.read_parquet(raw_dir / "reference" / "planes.parquet")
    out = {
        spec.name: entity_features(
            flights, spec, first, start, end, planes if spec.static else None
        )
        for spec in contracts.ENTITY_TABLES
    }
    out[contracts.WEATHER_TABLE] = weather_features(raw_dir, start, end)
    return out
