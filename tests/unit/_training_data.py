"""A real training frame for the training tests, built with pandas from the replayed source.

The production features come from the Beam job through Feast; this stand-in computes the same
contract (`contracts.ALL_FEATURES`, day D's windows for flights of day D+1) directly from the
raw flights, weather and planes, on the shared entity rows (`entities.entity_rows`), so the
models learn from real signal on real days.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from runway import contracts
from runway.entities import entity_rows
from runway.features import sources
from runway.settings import Settings


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last `window` rows (days), the current one included."""
    total = np.cumsum(values, axis=0)
    total[window:] = total[window:] - total[:-window].copy()
    return total


def _window_stats(flights: pd.DataFrame, days: pd.DatetimeIndex, table) -> pd.DataFrame:
    """The table's features for every (key, day D + 1) from flights of days D-w+1..D."""
    keys = list(table.keys)
    assert len(keys) == 1, "every entity table of the contract has a single key"
    daily = flights.groupby(keys + ["day"]).agg(
        flights=("flight_id", "size"),
        delayed=(contracts.LABEL, "sum"),
        cancelled=("cancelled", "sum"),
        arr_sum=("arr_delay", "sum"),
        arr_n=("arr_delay", "count"),
        dep_sum=("dep_delay", "sum"),
        dep_n=("dep_delay", "count"),
    )
    entities = daily.index.droplevel("day").unique()
    wide = {
        col: daily[col].unstack("day").reindex(index=entities, columns=days).fillna(0).to_numpy().T
        for col in daily.columns
    }  # each: days x entities
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for stat, window in table.stats:
            summed = {col: _rolling_sum(v, window) for col, v in wide.items()}
            n = summed["flights"]
            value = {
                "flights": n,
                "delay_rate": summed["delayed"] / n,
                "cancel_rate": summed["cancelled"] / n,
                "mean_arr_delay": summed["arr_sum"] / summed["arr_n"],
                "mean_dep_delay": summed["dep_sum"] / summed["dep_n"],
            }[stat]
            out[f"{table.prefix}_{stat}_{window}d"] = np.where(n > 0, value, np.nan).ravel()
    stats = pd.DataFrame(out)
    stats["day"] = np.repeat(days + pd.Timedelta(days=1), len(entities))  # D's row serves D + 1
    stats[keys[0]] = np.tile(entities.to_numpy(), len(days))
    return stats.dropna(subset=list(out), how="all")


def training_frame(home: Path, first: dt.date, days: int) -> pd.DataFrame:
    """Flights of `days` days from `first` (a replayed 2026 date) with the label and features."""
    settings = Settings(home=Path(home), replay_year=2026)
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, 1)
    flights = pd.read_parquet(source / "flights.parquet")
    flights["day"] = pd.to_datetime(flights["flight_date"])
    start = pd.Timestamp(first)
    end = start + pd.Timedelta(days=days)
    history = start - pd.Timedelta(days=contracts.MAX_WINDOW_DAYS)
    flights = flights[(flights["day"] >= history) & (flights["day"] < end)].copy()
    flights["route"] = flights["origin"] + "-" + flights["dest"]  # as entities.entity_rows
    flights[contracts.LABEL] = (
        flights["arr_delay"].isna() | (flights["arr_delay"] >= contracts.LABEL_DELAY_MINUTES)
    ).astype("int64")
    flights["cancelled"] = flights["dep_time"].isna().astype("int64")

    frame = entity_rows(flights[flights["day"] >= start], with_label=True)
    frame["day"] = pd.to_datetime(frame["flight_date"])
    all_days = pd.date_range(history, end, freq="D")
    for table in contracts.ENTITY_TABLES:
        stats = _window_stats(flights, all_days, table)
        frame = frame.merge(stats, on=["day", *table.keys], how="left")

    planes = pd.read_parquet(source / "planes.parquet")[["tailnum", "year", "seats", "engines"]]
    frame = frame.merge(
        planes.add_prefix("plane_").rename(columns={"plane_tailnum": "tailnum"}),
        on="tailnum",
        how="left",
    )

    weather = pd.read_parquet(source / "weather.parquet")
    weather["day"] = pd.to_datetime(weather["obs_date"]) + pd.Timedelta(days=1)
    weather = weather.drop_duplicates(["origin", "day", "hour"])
    weather = weather[["origin", "day", "hour", *contracts.WEATHER_COLUMNS]]
    frame = frame.merge(
        weather.rename(
            columns=dict(zip(contracts.WEATHER_COLUMNS, contracts.WEATHER_FEATURES, strict=True))
        ),
        on=["origin", "day", "hour"],
        how="left",
    )

    for col in contracts.ALL_FEATURES:
        frame[col] = frame[col].astype("float64")
    columns = [
        "flight_id",
        "flight_date",
        contracts.EVENT_TIMESTAMP,
        *contracts.ENTITY_COLUMNS,
        *contracts.ALL_FEATURES,
        "distance",
        "sched_dep_time",
        "dest",
        contracts.LABEL,
    ]
    return frame[columns].sort_values("flight_id", ignore_index=True)


def shuffled_labels(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The same rows with the label permuted: no signal left to learn."""
    rng = np.random.default_rng(seed)
    return frame.assign(**{contracts.LABEL: rng.permutation(frame[contracts.LABEL].to_numpy())})


# The shared sample: real late-April..early-June 2013 flights replayed onto 2026, split into
# four weeks of training, one of validation, one of test.
SAMPLE_FIRST = dt.date(2026, 4, 28)
SAMPLE_DAYS = 42
VALID_DAYS = 7
TEST_DAYS = 7


def sample_frame(tmp_path_factory) -> pd.DataFrame:
    """The sample, built once per pytest session and shared by the training test files."""
    path = tmp_path_factory.getbasetemp() / "runway-training-sample" / "frame.parquet"
    if not path.exists():
        frame = training_frame(path.parent, SAMPLE_FIRST, SAMPLE_DAYS)
        frame.to_parquet(path, index=False)
    return pd.read_parquet(path)
