"""The feature arithmetic, on Arrow tables: what the Beam job's DoFns call for each batch.

Three steps, each vectorised over a whole batch (pyarrow compute and numpy, no Python call per
flight):

1. `daily_partials`: per entity and day, the additive sums every statistic is built from.
2. `window_features`: per entity and target day, the 1/7/28-day windows over those sums.
3. `weather_features`: per origin and local hour, that hour's observation of the day.

The definitions are the contracts' (`runway.contracts`); `runway.features.reference` computes
the same features independently in DuckDB SQL, and the tests hold the two equal.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runway import contracts
from runway.days import end_of_day_utc

# The additive sums behind every statistic, in this order.
SUMS = (
    "n",
    "n_delayed",
    "n_cancelled",
    "sum_arr_delay",
    "n_arr_delay",
    "sum_dep_delay",
    "n_dep_delay",
)
_EPOCH = dt.date(1970, 1, 1)
_TABLES = {table.name: table for table in contracts.ENTITY_TABLES}


def day_index(dates: pa.Array, first_day: dt.date) -> pa.Array:
    return pc.subtract(dates.cast(pa.int32()), pa.scalar((first_day - _EPOCH).days, pa.int32()))


def with_flight_columns(flights: pa.Table) -> pa.Table:
    """Add the derived columns the statistics need: route, delayed, cancelled."""
    delayed = pc.or_kleene(
        pc.is_null(flights["arr_delay"]),
        pc.greater_equal(flights["arr_delay"], contracts.LABEL_DELAY_MINUTES),
    )
    return (
        flights.append_column(
            "route", pc.binary_join_element_wise(flights["origin"], flights["dest"], "-")
        )
        .append_column("one", pa.array(np.ones(flights.num_rows, dtype=np.int64)))
        .append_column("is_delayed", delayed.cast(pa.int64()))
        .append_column("is_cancelled", pc.is_null(flights["dep_time"]).cast(pa.int64()))
    )


_FNV_BASIS, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def shards_of(keys: pa.Array | pa.ChunkedArray, shards: int) -> np.ndarray:
    """A stable shard per string key (Python's hash() is salted per process): FNV-1a of its
    UTF-8 bytes, read from the Arrow buffers one byte position at a time for all keys."""
    keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
    keys = keys.cast(pa.large_string())  # int64 offsets
    _, offsets, data = keys.buffers()
    n = len(keys)
    starts = np.frombuffer(offsets, dtype=np.int64, count=n + 1, offset=keys.offset * 8)
    lengths = np.diff(starts)
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    hashes = np.full(n, _FNV_BASIS)
    with np.errstate(over="ignore"):  # FNV multiplies modulo 2**64
        for position in range(int(lengths.max()) if n else 0):
            live = np.flatnonzero(lengths > position)
            byte = data[starts[live] + position].astype(np.uint64)
            hashes[live] = (hashes[live] ^ byte) * _FNV_PRIME
    return (hashes % np.uint64(shards)).astype(np.int64)


def split_by(rows: pa.Table, values: pa.Array | np.ndarray):
    """(value, the rows holding it) for each distinct value, in ascending value order; each
    part keeps the rows' order (one stable sort and a slice per value, not a scan per value)."""
    values = pa.array(values) if isinstance(values, np.ndarray) else values
    order = pc.sort_indices(values)
    ordered, taken = values.take(order), rows.take(order)
    sorted_values = ordered.to_numpy(zero_copy_only=False)
    cuts = [0, *(np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1), len(rows)]
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=False):
        if hi > lo:
            yield ordered[lo].as_py(), taken.slice(lo, hi - lo)


_PARTIAL_AGGREGATES = (
    ("one", "sum"),
    ("is_delayed", "sum"),
    ("is_cancelled", "sum"),
    ("arr_delay", "sum"),
    ("arr_delay", "count"),
    ("dep_delay", "sum"),
    ("dep_delay", "count"),
)


def daily_partials(flights: pa.Table, first_day: dt.date) -> dict[str, pa.Table]:
    """Per entity table, per (entity key, day index): the SUMS of one batch of flights (the
    derived flight columns computed once for all the tables)."""
    batch = with_flight_columns(flights)
    batch = batch.append_column("day_idx", day_index(batch["flight_date"], first_day))
    out = {}
    for spec in contracts.ENTITY_TABLES:
        key = spec.keys[0]
        rows = batch.filter(pc.is_valid(batch[key])) if batch[key].null_count else batch
        grouped = rows.group_by([key, "day_idx"]).aggregate(list(_PARTIAL_AGGREGATES))
        sums = [
            grouped[f"{column}_{how}"].cast(pa.float64()).fill_null(0.0)
            for column, how in _PARTIAL_AGGREGATES
        ]
        out[spec.name] = pa.table(
            [grouped[key], grouped["day_idx"], *sums], names=[key, "day_idx", *SUMS]
        )
    return out


def combine_partials(partials: list[pa.Table], table: str) -> pa.Table:
    """Sum partials of the same (entity, day) coming from different batches."""
    key = _TABLES[table].keys[0]
    merged = pa.concat_tables(partials)
    grouped = merged.group_by([key, "day_idx"]).aggregate([(name, "sum") for name in SUMS])
    return pa.table(
        [grouped[key], grouped["day_idx"], *(grouped[f"{name}_sum"] for name in SUMS)],
        names=[key, "day_idx", *SUMS],
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


_STAT_COLUMNS = {  # stat -> (numerator, denominator) indexes into SUMS; None = plain count
    "flights": (0, None),
    "delay_rate": (1, 0),
    "cancel_rate": (2, 0),
    "mean_arr_delay": (3, 4),
    "mean_dep_delay": (5, 6),
}


def window_features(
    partials: pa.Table,
    table: str,
    first_day: dt.date,
    target_days: list[dt.date],
    planes: pa.Table | None = None,
) -> pa.Table:
    """Rolling-window features of every entity active in the longest window, per target day.

    `partials` holds combined daily sums (one row per entity and day index, day 0 = first_day).
    The result follows `contracts.feature_schema(table)` plus a `date` column (the day).
    """
    spec = _TABLES[table]
    key = spec.keys[0]
    encoded = pc.dictionary_encode(partials[key]).combine_chunks()
    codes = encoded.indices.to_numpy()
    entities = encoded.dictionary
    n_days = (max(target_days) - first_day).days + 1
    dense = np.zeros((len(entities), n_days + 1, len(SUMS)))
    day_idx = partials["day_idx"].to_numpy()
    inside = (day_idx >= 0) & (day_idx < n_days)
    values = np.column_stack([partials[name].to_numpy() for name in SUMS])
    dense[codes[inside], day_idx[inside] + 1] = values[inside]
    cumulative = np.cumsum(dense, axis=1)  # cumulative[:, i + 1] = sums of days 0..i

    targets = np.array([(day - first_day).days for day in target_days])
    longest = contracts.MAX_WINDOW_DAYS

    upper = targets + 1
    longest_n = cumulative[:, upper, 0] - cumulative[:, np.clip(upper - longest, 0, None), 0]
    active_entity, active_target = np.nonzero(longest_n > 0)
    at_upper = upper[active_target]

    def window(days: int) -> np.ndarray:  # (active rows, sums): only where an entity is active
        lower = np.clip(at_upper - days, 0, None)
        return cumulative[active_entity, at_upper] - cumulative[active_entity, lower]

    columns: dict[str, pa.Array] = {key: entities.take(pa.array(active_entity))}
    windows: dict[int, np.ndarray] = {}
    for stat, days in spec.stats:
        if days not in windows:
            windows[days] = window(days)
        sums = windows[days]
        numerator, denominator = _STAT_COLUMNS[stat]
        name = f"{spec.prefix}_{stat}_{days}d"
        if denominator is None:
            columns[name] = pa.array(sums[:, numerator].astype(np.int64))
        else:
            columns[name] = pa.array(
                _ratio(sums[:, numerator], sums[:, denominator]), from_pandas=True
            )
    if spec.static:
        at = pc.index_in(columns[key], value_set=planes[key]) if planes is not None else None
        for col in spec.static:
            values = planes[col].take(at) if at is not None else pa.nulls(len(active_entity))
            columns[f"{spec.prefix}_{col}"] = values.cast(pa.int64())
    at_target = pa.array(active_target)  # one value per target day, taken per row
    stamps = pa.array([end_of_day_utc(day) for day in target_days], contracts.UTC_US)
    columns[contracts.EVENT_TIMESTAMP] = stamps.take(at_target)
    columns["date"] = pa.array(list(target_days), pa.date32()).take(at_target)
    return pa.table(columns)


def weather_features(weather: pa.Table, target_days: set[dt.date]) -> pa.Table:
    """Each origin's observation at each local hour of the day (the first one, if repeated)."""
    batch = weather.filter(
        pc.is_in(weather["obs_date"], pa.array(sorted(target_days), pa.date32()))
    )
    batch = batch.sort_by(
        [
            ("obs_date", "ascending"),
            ("origin", "ascending"),
            ("hour", "ascending"),
            ("obs_ts", "ascending"),
        ]
    )
    keys = (
        np.column_stack(
            [
                batch["obs_date"].cast(pa.int32()).to_numpy(),
                pc.dictionary_encode(batch["origin"]).combine_chunks().indices.to_numpy(),
                batch["hour"].to_numpy(),
            ]
        )
        if batch.num_rows
        else np.empty((0, 3))
    )
    first = np.ones(batch.num_rows, dtype=bool)
    first[1:] = np.any(keys[1:] != keys[:-1], axis=1)
    batch = batch.filter(pa.array(first))
    days = batch["obs_date"].to_pylist()
    columns = {"origin": batch["origin"], "hour": batch["hour"]}
    for col in contracts.WEATHER_COLUMNS:
        columns[f"wx_{col}"] = batch[col]
    stamps = {day: end_of_day_utc(day) for day in set(days)}
    columns[contracts.EVENT_TIMESTAMP] = pa.array([stamps[d] for d in days], contracts.UTC_US)
    columns["date"] = batch["obs_date"]
    return pa.table(columns)


def to_partition(parts: list[pa.Table], table: str) -> pa.Table:
    """One day's rows of a feature table, sorted by key, in the contract's schema."""
    rows = pa.concat_tables(parts).drop_columns(["date"])
    keys = [(k, "ascending") for k in contracts.TABLE_KEYS[table]]
    return (
        rows.sort_by(keys)
        .select(contracts.feature_schema(table).names)
        .cast(contracts.feature_schema(table))
    )
