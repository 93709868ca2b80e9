"""The point-in-time join as one DuckDB query: the baseline of training-set retrieval.

The same rows Feast's `get_historical_features` gives for the `flight_delay_v1` service, over
the same parquet partitions: for each entity row and each feature table, the newest row with
the same keys and `event_timestamp <=` the entity's, kept only when it is not older than the
view's TTL (Feast: `feature_ts + ttl >= entity_ts`), else NULL. One `ASOF LEFT JOIN` per table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from runway import contracts

WEATHER_TTL_DAYS = 2  # feature_repo/features.py: WEATHER_TTL
_ROW = "__bench_row"


def ttl_days(table: str, entity_ttl_days: int) -> int:
    return WEATHER_TTL_DAYS if table == contracts.WEATHER_TABLE else entity_ttl_days


def asof_sql(features_dir: Path, entity_ttl_days: int) -> str:
    selects, joins = [], []
    for i, table in enumerate(contracts.FEATURE_TABLES):
        alias = f"t{i}"
        keys = contracts.TABLE_KEYS[table]
        features = contracts.TABLE_FEATURES[table]
        glob = f"{Path(features_dir) / table}/date=*/*.parquet"
        source = (
            f"(SELECT {', '.join(keys)}, {contracts.EVENT_TIMESTAMP} AS ts, {', '.join(features)} "
            f"FROM read_parquet('{glob}', hive_partitioning = false))"
        )
        on = " AND ".join(f"e.{k} = {alias}.{k}" for k in keys)
        joins.append(
            f"ASOF LEFT JOIN {source} {alias} ON {on} "
            f"AND e.{contracts.EVENT_TIMESTAMP} >= {alias}.ts"
        )
        hours = ttl_days(table, entity_ttl_days) * 24
        fresh = f"{alias}.ts >= e.{contracts.EVENT_TIMESTAMP} - INTERVAL '{hours} hours'"
        selects += [
            f"CAST(CASE WHEN {fresh} THEN {alias}.{f} END AS DOUBLE) AS {f}" for f in features
        ]
    return f"SELECT e.*, {', '.join(selects)} FROM entity e {' '.join(joins)} ORDER BY e.{_ROW}"


def asof_features(
    entity_df: pd.DataFrame,
    features_dir: Path,
    entity_ttl_days: int = 35,
    threads: int | None = None,
) -> pd.DataFrame:
    """`entity_df` (entity columns + `event_timestamp`, UTC) with every feature of
    `contracts.ALL_FEATURES` as float64, one row per input row, in input order and index."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        entity = entity_df.assign(
            **{
                contracts.EVENT_TIMESTAMP: pd.to_datetime(
                    entity_df[contracts.EVENT_TIMESTAMP], utc=True
                ),
                _ROW: np.arange(len(entity_df)),
            }
        )
        con.register("entity", entity)
        result = con.sql(asof_sql(features_dir, entity_ttl_days)).df()
    finally:
        con.close()
    result = result.drop(columns=_ROW)
    result.index = entity_df.index
    for col in entity_df.columns:  # DuckDB may hand columns back in its own dtypes
        if col in result.columns and col != contracts.EVENT_TIMESTAMP:
            result[col] = result[col].astype(entity_df[col].dtype, errors="ignore")
    return result
