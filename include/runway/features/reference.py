"""The feature definitions again, independently, as DuckDB SQL over the raw partitions.

Not on the production path: the tests hold the Beam job's output equal to this, and the
benchmark harness uses it as the baseline the Beam job is measured against.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from runway import contracts

_AGGREGATES = {
    "flights": "count(*) FILTER (WHERE {w})",
    "delay_rate": "avg(delayed) FILTER (WHERE {w})",
    "cancel_rate": "avg(cancelled) FILTER (WHERE {w})",
    "mean_arr_delay": "avg(arr_delay) FILTER (WHERE {w})",
    "mean_dep_delay": "avg(dep_delay) FILTER (WHERE {w})",
}


def _entity_sql(
    spec: contracts.EntityTable, flights_glob: str, planes: str, start: dt.date, end: dt.date
) -> str:
    key = spec.keys[0]
    longest = contracts.MAX_WINDOW_DAYS
    stats = ",\n  ".join(
        _AGGREGATES[stat].format(w=f"f.flight_date > d.day - {days}")
        + f" AS {spec.prefix}_{stat}_{days}d"
        for stat, days in spec.stats
    )
    static = "".join(f", p.{col}::BIGINT AS {spec.prefix}_{col}" for col in spec.static)
    join_planes = (
        f"LEFT JOIN read_parquet('{planes}') p ON p.tailnum = s.{key}" if spec.static else ""
    )
    return f"""
WITH f AS (
  SELECT flight_date, carrier, origin, origin || '-' || dest AS route, tailnum,
         arr_delay, dep_delay,
         CAST({contracts.label_expression()} AS INTEGER) AS delayed,
         CAST(dep_time IS NULL AS INTEGER) AS cancelled
  FROM read_parquet('{flights_glob}')
),
d AS (
  SELECT CAST(unnest(generate_series(DATE '{start}', DATE '{end}', INTERVAL 1 DAY)) AS DATE) AS day
),
s AS (
  SELECT d.day, f.{key},
  {stats}
  FROM d JOIN f ON f.flight_date > d.day - {longest} AND f.flight_date <= d.day
  WHERE f.{key} IS NOT NULL
  GROUP BY d.day, f.{key}
)
SELECT s.*{static} FROM s {join_planes}
ORDER BY s.day, s.{key}
"""


def _weather_sql(weather_glob: str, start: dt.date, end: dt.date) -> str:
    columns = ", ".join(f"{col} AS wx_{col}" for col in contracts.WEATHER_COLUMNS)
    return f"""
SELECT obs_date AS day, origin, hour, {columns}
FROM read_parquet('{weather_glob}')
WHERE obs_date BETWEEN DATE '{start}' AND DATE '{end}'
QUALIFY row_number() OVER (PARTITION BY obs_date, origin, hour ORDER BY obs_ts) = 1
ORDER BY day, origin, hour
"""


def reference_features(raw_dir: Path, start: dt.date, end: dt.date) -> dict[str, pd.DataFrame]:
    """Every feature table for days start..end, one frame per table with a `day` column."""
    import duckdb

    raw_dir = Path(raw_dir)
    flights = str(raw_dir / "flights" / "*" / "*.parquet")
    planes = str(raw_dir / "reference" / "planes.parquet")
    con = duckdb.connect()
    try:
        out = {
            spec.name: con.sql(_entity_sql(spec, flights, planes, start, end)).df()
            for spec in contracts.ENTITY_TABLES
        }
        out[contracts.WEATHER_TABLE] = con.sql(
            _weather_sql(str(raw_dir / "weather" / "*" / "*.parquet"), start, end)
        ).df()
    finally:
        con.close()
    return out


def featured_flights(raw_dir: Path, source: Path, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The replayed flights of start..end, each with the features of the day before (as Feast's
    point-in-time join hands them), computed here in DuckDB: a fast stand-in for the feature
    store over long ranges (drift controls, research). The raw zone must hold start - 28 days
    through end - 1."""
    flights = pd.read_parquet(
        Path(source) / "flights.parquet",
        columns=["flight_id", "flight_date", "carrier", "origin", "dest", "tailnum", "hour"],
        filters=[("flight_date", ">=", start), ("flight_date", "<=", end)],
    )
    frame = flights.assign(route=flights["origin"] + "-" + flights["dest"])
    frame["flight_date"] = pd.to_datetime(frame["flight_date"])
    tables = reference_features(raw_dir, start - dt.timedelta(days=1), end - dt.timedelta(days=1))
    for table, rows in tables.items():
        rows = rows.assign(flight_date=pd.to_datetime(rows.pop("day")) + pd.Timedelta(days=1))
        frame = frame.merge(rows, on=[*contracts.TABLE_KEYS[table], "flight_date"], how="left")
    frame["flight_date"] = frame["flight_date"].dt.date
    return frame
