"""Runway's data contracts, each defined once: raw schemas, the label, the feature tables.

Everything here is data. The Beam job, the DuckDB reference, the gates, Feast's definitions and
the tests all read these objects; `tests/unit/test_contracts.py` checks their invariants.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

UTC_US = pa.timestamp("us", tz="UTC")

# ---- raw partitions (one per replayed local day) ------------------------------------------
RAW_FLIGHTS_SCHEMA = pa.schema(
    [
        ("flight_id", pa.string()),  # "<date>-<carrier>-<flight>-<origin>-<hhmm>", unique
        ("flight_date", pa.date32()),  # local (New York) date of scheduled departure
        ("carrier", pa.string()),
        ("flight", pa.int64()),
        ("tailnum", pa.string()),
        ("origin", pa.string()),
        ("dest", pa.string()),
        ("sched_dep_time", pa.int64()),  # local hhmm
        ("sched_arr_time", pa.int64()),
        ("dep_time", pa.float64()),  # null when cancelled
        ("arr_time", pa.float64()),
        ("dep_delay", pa.float64()),  # minutes
        ("arr_delay", pa.float64()),  # minutes; null when cancelled or diverted
        ("air_time", pa.float64()),
        ("distance", pa.float64()),  # miles
        ("hour", pa.int64()),  # local hour of scheduled departure
        ("minute", pa.int64()),
        ("sched_dep_ts", UTC_US),
    ]
)

RAW_WEATHER_SCHEMA = pa.schema(
    [
        ("origin", pa.string()),
        ("obs_date", pa.date32()),  # local date of the observation
        ("hour", pa.int64()),  # local hour
        ("obs_ts", UTC_US),
        ("temp", pa.float64()),  # °F
        ("dewp", pa.float64()),
        ("humid", pa.float64()),  # %
        ("wind_dir", pa.float64()),
        ("wind_speed", pa.float64()),  # mph
        ("wind_gust", pa.float64()),
        ("precip", pa.float64()),  # inches
        ("pressure", pa.float64()),  # millibars
        ("visib", pa.float64()),  # miles
    ]
)

RAW_TABLES = {"flights": RAW_FLIGHTS_SCHEMA, "weather": RAW_WEATHER_SCHEMA}
NYC_ORIGINS = ("EWR", "JFK", "LGA")

# ---- the label -------------------------------------------------------------------------------
LABEL = "delayed"
LABEL_DELAY_MINUTES = 15.0
LABEL_DEFINITION = (
    f"arrives {LABEL_DELAY_MINUTES:g}+ minutes late, or does not arrive (cancelled or diverted: "
    "arr_delay is null)"
)


def label_expression(arr_delay: str = "arr_delay") -> str:
    """The label as a SQL expression (DuckDB, SQLite and Postgres agree on it)."""
    return f"({arr_delay} IS NULL OR {arr_delay} >= {LABEL_DELAY_MINUTES})"


# ---- feature tables ------------------------------------------------------------------------
# Each entity table aggregates the flights of the last `window` days, day D included, and is
# stamped with the end of day D (local midnight, in UTC): everything in it is known by then.
# A flight departing on day D+1 is predicted at that moment, so it sees exactly day D's row.
STATS = {
    "flights": "count of scheduled flights",
    "delay_rate": f"share of flights labelled delayed ({LABEL_DEFINITION})",
    "cancel_rate": "share of flights cancelled (no departure time)",
    "mean_arr_delay": "mean arrival delay in minutes, over flights that arrived",
    "mean_dep_delay": "mean departure delay in minutes, over flights that departed",
}


@dataclasses.dataclass(frozen=True)
class EntityTable:
    name: str  # feature table, Feast feature view and parquet folder name
    keys: tuple[str, ...]  # entity join keys
    prefix: str  # feature-name prefix
    stats: tuple[tuple[str, int], ...]  # (stat, window days)
    static: tuple[str, ...] = ()  # static attributes joined in (planes)
    description: str = ""

    @property
    def features(self) -> list[str]:
        names = [f"{self.prefix}_{stat}_{days}d" for stat, days in self.stats]
        return names + [f"{self.prefix}_{col}" for col in self.static]


ENTITY_TABLES = (
    EntityTable(
        "carrier_stats",
        ("carrier",),
        "carrier",
        (
            ("flights", 1),
            ("delay_rate", 1),
            ("cancel_rate", 1),
            ("flights", 7),
            ("delay_rate", 7),
            ("cancel_rate", 7),
            ("mean_arr_delay", 7),
            ("delay_rate", 28),
        ),
        description="Airline punctuality over the last 1, 7 and 28 days.",
    ),
    EntityTable(
        "origin_stats",
        ("origin",),
        "origin",
        (
            ("flights", 1),
            ("delay_rate", 1),
            ("delay_rate", 7),
            ("cancel_rate", 7),
            ("mean_dep_delay", 7),
            ("delay_rate", 28),
        ),
        description="Departure-airport congestion and punctuality.",
    ),
    EntityTable(
        "route_stats",
        ("route",),
        "route",
        (("flights", 28), ("delay_rate", 7), ("delay_rate", 28), ("mean_arr_delay", 28)),
        description="Origin-destination pair punctuality.",
    ),
    EntityTable(
        "plane_stats",
        ("tailnum",),
        "plane",
        (("flights", 7), ("delay_rate", 7), ("delay_rate", 28)),
        static=("year", "seats", "engines"),
        description="Aircraft utilisation and punctuality, with its static attributes.",
    ),
)
MAX_WINDOW_DAYS = max(days for table in ENTITY_TABLES for _, days in table.stats)

# Weather at the origin at the same local hour of day D, for flights of day D+1: tomorrow's
# weather is not known at prediction time, yesterday's same hour is.
WEATHER_TABLE = "origin_hour_weather"
WEATHER_KEYS = ("origin", "hour")
WEATHER_COLUMNS = ("temp", "dewp", "humid", "wind_speed", "precip", "pressure", "visib")
WEATHER_FEATURES = tuple(f"wx_{col}" for col in WEATHER_COLUMNS)

FEATURE_TABLES = tuple(t.name for t in ENTITY_TABLES) + (WEATHER_TABLE,)
ALL_FEATURES = tuple(f for t in ENTITY_TABLES for f in t.features) + WEATHER_FEATURES
TABLE_KEYS = {t.name: t.keys for t in ENTITY_TABLES} | {WEATHER_TABLE: WEATHER_KEYS}
TABLE_FEATURES = {t.name: tuple(t.features) for t in ENTITY_TABLES} | {
    WEATHER_TABLE: WEATHER_FEATURES
}
EVENT_TIMESTAMP = "event_timestamp"
# The flight's entity columns, as scoring and training build them from a raw flight.
ENTITY_COLUMNS = ("carrier", "origin", "route", "tailnum", "hour")

# ---- the model's inputs ----------------------------------------------------------------------
# What a frame handed to the registered model must hold (its pyfunc signature): a flight's
# schedule columns, then every feature of the service (NaN where the store has none).
MODEL_CATEGORICAL = ("carrier", "origin", "dest")
RAW_INPUTS = (
    MODEL_CATEGORICAL + ("hour", "distance", "sched_dep_time", "flight_date") + ALL_FEATURES
)


def feature_schema(table: str) -> pa.Schema:
    """Arrow schema of a feature table's parquet partition."""
    fields = [pa.field(k, pa.int64() if k == "hour" else pa.string()) for k in TABLE_KEYS[table]]
    for name in TABLE_FEATURES[table]:
        is_count = "_flights_" in name or name.endswith(("_year", "_seats", "_engines"))
        fields.append(pa.field(name, pa.int64() if is_count else pa.float64()))
    fields.append(pa.field(EVENT_TIMESTAMP, UTC_US))
    return pa.schema(fields)
