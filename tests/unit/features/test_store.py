"""The Feast layer on small hand-made feature partitions: definitions, materialize, retrieval.

The point-in-time test is the one the architecture promises: no feature row newer than its
entity timestamp reaches a training row, and rows older than the view's TTL are not used.

Every feature value written here encodes the day of its row (`_value`), so any value read back
says which row it came from.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from runway import contracts
from runway.days import LOCAL_TZ
from runway.features import store as fs
from runway.io import partition_file, write_parquet_atomic
from runway.settings import Settings, load_settings

DAYS = ("2026-01-10", "2026-01-11", "2026-01-12")  # D-1, D, D+1 (no DST change near)
# Per table, two keys (the weather table: three (origin, hour) pairs). Key 0 has a row every
# day; key 1 misses day D, so on day D+1 its newest row is D-1's.
KEYS = {
    "carrier_stats": [("AA",), ("UA",)],
    "origin_stats": [("EWR",), ("JFK",)],
    "route_stats": [("EWR-ORD",), ("JFK-LAX",)],
    "plane_stats": [("N101AA",), ("N202UA",)],
    contracts.WEATHER_TABLE: [("EWR", 8), ("JFK", 8), ("EWR", 9)],
}
GAP = {(table, 1, 1) for table in KEYS}  # (table, key index, day index) without a row
TTL = {t: dt.timedelta(days=35) for t in KEYS} | {contracts.WEATHER_TABLE: dt.timedelta(days=2)}


def _end_of(day: str) -> pd.Timestamp:
    """The stamp of a day's feature rows: the next local midnight, in UTC."""
    midnight = pd.Timestamp(day) + pd.Timedelta(days=1)
    return midnight.tz_localize(LOCAL_TZ).tz_convert("UTC")


STAMPS = [_end_of(day) for day in DAYS]


def _value(day_index: int, key_index: int, feature_index: int) -> int:
    return 100_000 * (day_index + 1) + 100 * key_index + feature_index


def _day_of(value) -> int:
    return int(value) // 100_000 - 1


def _write_partitions(features_dir: Path) -> None:
    for table, keys in KEYS.items():
        schema = contracts.feature_schema(table)
        names = contracts.TABLE_KEYS[table]
        for d, day in enumerate(DAYS):
            rows = []
            for k, key in enumerate(keys):
                if (table, k, d) in GAP:
                    continue
                row = dict(zip(names, key, strict=True))
                for f, feature in enumerate(contracts.TABLE_FEATURES[table]):
                    row[feature] = _value(d, k, f)
                row[contracts.EVENT_TIMESTAMP] = STAMPS[d].to_pydatetime()
                rows.append(row)
            table_rows = pa.Table.from_pylist(rows, schema=schema)
            write_parquet_atomic(table_rows, partition_file(features_dir, table, day))


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """Settings of a fresh installation, resolved from the environment as a task would."""
    home = tmp_path_factory.mktemp("runway_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNWAY_HOME", str(home))
        mp.setenv("RUNWAY_REPLAY_YEAR", "2026")
        mp.delenv("RUNWAY_PROFILE", raising=False)
        load_settings.cache_clear()
        resolved = load_settings()
        assert resolved == Settings(home=home, replay_year=2026)
        _write_partitions(resolved.features_dir)
        yield resolved
    load_settings.cache_clear()


@pytest.fixture(scope="module")
def store(settings):
    store = fs.get_store(settings)
    fs.apply_definitions(store)
    return store


def _entity_rows():
    """Flights whose keys pick key 0 or key 1 of every table (row C mixes them)."""
    return [
        {"carrier": "AA", "origin": "EWR", "route": "EWR-ORD", "tailnum": "N101AA", "hour": 8},
        {"carrier": "UA", "origin": "JFK", "route": "JFK-LAX", "tailnum": "N202UA", "hour": 8},
        # (JFK, 9) has no weather row at all; (EWR, 9) has: both weather keys must match
        {"carrier": "UA", "origin": "JFK", "route": "EWR-ORD", "tailnum": "N101AA", "hour": 9},
        {"carrier": "AA", "origin": "EWR", "route": "JFK-LAX", "tailnum": "N202UA", "hour": 9},
        # a cancelled flight may have no tail number
        {"carrier": "AA", "origin": "JFK", "route": "JFK-LAX", "tailnum": None, "hour": 8},
    ]


def _key_index(table: str, row: dict) -> int | None:
    key = tuple(row[k] for k in contracts.TABLE_KEYS[table])
    return KEYS[table].index(key) if key in KEYS[table] else None


def _expected_day(table: str, key_index: int | None, at: pd.Timestamp) -> int | None:
    """Reference point-in-time rule: newest row stamped <= at, and not older than the TTL."""
    if key_index is None:
        return None
    days = [
        d
        for d, stamp in enumerate(STAMPS)
        if (table, key_index, d) not in GAP and stamp <= at and stamp + TTL[table] >= at
    ]
    return max(days) if days else None


def test_definitions_follow_the_contracts(settings, store):
    names = fs.apply_definitions(store)  # a second apply: idempotent
    assert names == fs.apply_definitions(store)
    assert [n for n in names if n.startswith("Entity:")] == [
        "Entity:carrier",
        "Entity:origin",
        "Entity:route",
        "Entity:tailnum",
        "Entity:hour",
    ]
    views = {fv.name: fv for fv in store.list_feature_views()}
    assert sorted(views) == sorted(contracts.FEATURE_TABLES)
    for table, view in views.items():
        assert [f.name for f in view.features] == list(contracts.TABLE_FEATURES[table])
        assert sorted(view.entities) == sorted(contracts.TABLE_KEYS[table])
        assert view.ttl == TTL[table]
        assert view.batch_source.path.startswith(str(settings.features_dir / table) + "/")
    service = store.get_feature_service(settings.feature_service)
    refs = [f.name for p in service.feature_view_projections for f in p.features]
    assert refs == list(contracts.ALL_FEATURES) and len(refs) == 31
    assert (settings.feast_dir / "registry.db").is_file()
    assert not (settings.feature_repo_dir / "data").exists()  # nothing written into the repo


def test_yaml_documents_the_local_config():
    documented = yaml.safe_load((Settings().feature_repo_dir / "feature_store.yaml").read_text())
    built = fs.repo_config(Settings())
    repo = Settings().feature_repo_dir
    assert documented["project"] == built.project == fs.PROJECT
    assert documented["provider"] == built.provider
    assert documented["offline_store"]["type"] == built.offline_store.type == "duckdb"
    assert documented["online_store"]["type"] == built.online_store.type
    assert built.online_store.type == fs.ONLINE_STORE_TYPES["sqlite"]
    assert (repo / documented["online_store"]["path"]).resolve() == Path(built.online_store.path)
    assert (repo / documented["registry"]["path"]).resolve() == Path(built.registry.path)
    assert (
        documented["entity_key_serialization_version"]
        == built.entity_key_serialization_version
        == 3
    )


def test_cluster_profile_uses_postgres_registry_and_redis_online():
    cluster = Settings(
        profile="cluster",
        postgres_url="postgresql+psycopg2://runway@127.0.0.1:5432/runway",
        redis_url="redis://:s3cret@127.0.0.1:6380/2",
        mlflow_tracking_uri="http://mlflow:5000",
    )
    config = fs.repo_config(cluster)
    assert config.registry.registry_type == "sql"
    assert config.registry.path == cluster.postgres_url
    assert config.online_store.type == fs.ONLINE_STORE_TYPES["redis"]
    assert config.online_store.connection_string == "127.0.0.1:6380,db=2,password=s3cret"
    assert config.offline_store.type == "duckdb"


def test_materialize_interval_loads_exactly_the_interval(store):
    rows = _entity_rows()[:2]  # key 0 of every table, then key 1 (which misses day D)
    day_d = (STAMPS[0], STAMPS[1])  # Airflow's daily interval of day D, in UTC

    result = fs.materialize_interval(store, day_d[0].to_pydatetime(), day_d[1].to_pydatetime())
    assert result["chunks"] == [[day_d[0].isoformat(), day_d[1].isoformat()]]
    online = fs.online_features(store, rows)
    assert len(online) == 2
    for table in contracts.FEATURE_TABLES:
        for feature in contracts.TABLE_FEATURES[table]:
            # key 0: day D's row; key 1 has none in (start, end]: D-1's row, stamped exactly
            # at the interval's start, belongs to the previous interval and is not loaded
            assert _day_of(online.loc[0, feature]) == 1, feature
            assert pd.isna(online.loc[1, feature]), feature

    # three days at one day per chunk: every key ends on its newest row
    start = STAMPS[0] - pd.Timedelta(days=1)
    result = fs.materialize_interval(
        store, start.to_pydatetime(), STAMPS[2].to_pydatetime(), chunk=dt.timedelta(days=1)
    )
    assert len(result["chunks"]) == 3
    online = fs.online_features(store, rows)
    for table in contracts.FEATURE_TABLES:
        for f, feature in enumerate(contracts.TABLE_FEATURES[table]):
            assert online.loc[0, feature] == _value(2, 0, f), feature
            assert online.loc[1, feature] == _value(2, 1, f), feature
    assert online["plane_flights_7d"].tolist() == [_value(2, 0, 0), _value(2, 1, 0)]
    assert list(online["carrier"]) == ["AA", "UA"] and list(online["hour"]) == [8, 8]
    assert (online[list(contracts.ALL_FEATURES)].dtypes == "float64").all()

    # a cancelled flight may have no tail number: no plane features, the others as usual
    no_plane = fs.online_features(store, [rows[0] | {"tailnum": None}])
    plane = list(contracts.TABLE_FEATURES["plane_stats"])
    assert no_plane[plane].isna().all().all() and no_plane.loc[0, "tailnum"] is None
    others = [f for f in contracts.ALL_FEATURES if f not in plane]
    assert (no_plane.loc[0, others] == online.loc[0, others]).all()


def test_historical_features_are_point_in_time_correct(store):
    one_us = pd.Timedelta(microseconds=1)
    moments = [
        STAMPS[0] - one_us,  # before any row: nothing
        STAMPS[0],  # exactly a row's stamp: that row counts (known at that instant)
        STAMPS[0] + pd.Timedelta(hours=12),  # during day D: D-1's rows only
        STAMPS[1] - one_us,  # the last instant before D's rows exist
        STAMPS[1],
        STAMPS[1] + pd.Timedelta(hours=9),  # key 1 has no D row: falls back to D-1
        STAMPS[2] + pd.Timedelta(hours=1),
        STAMPS[2] + pd.Timedelta(days=2),  # weather TTL boundary: still valid
        STAMPS[2] + pd.Timedelta(days=2) + one_us,  # weather expired, entity tables not
        STAMPS[2] + pd.Timedelta(days=35) + one_us,  # everything expired
    ]
    records = []
    for m, moment in enumerate(moments):
        for r, row in enumerate(_entity_rows()):
            flight = f"f{m:02d}-{r}"
            records.append(row | {contracts.EVENT_TIMESTAMP: moment, "flight_id": flight})
    entity_df = pd.DataFrame(records).sample(frac=1.0, random_state=7).reset_index(drop=True)
    entity_df[contracts.LABEL] = entity_df.index % 2 == 0

    result = fs.historical_features(store, entity_df)

    assert len(result) == len(entity_df)
    assert result["flight_id"].tolist() == entity_df["flight_id"].tolist()
    assert result[contracts.LABEL].tolist() == entity_df[contracts.LABEL].tolist()
    assert list(result.columns) == list(entity_df.columns) + list(contracts.ALL_FEATURES)
    assert (result[list(contracts.ALL_FEATURES)].dtypes == "float64").all()
    seen = {table: set() for table in contracts.FEATURE_TABLES}
    assert (result[contracts.EVENT_TIMESTAMP] == entity_df[contracts.EVENT_TIMESTAMP]).all()
    for (_, row), at in zip(result.iterrows(), entity_df[contracts.EVENT_TIMESTAMP], strict=True):
        for table in contracts.FEATURE_TABLES:
            key_index = _key_index(table, row)
            expected = _expected_day(table, key_index, at)
            for f, feature in enumerate(contracts.TABLE_FEATURES[table]):
                value = row[feature]
                if expected is None:
                    assert pd.isna(value), (table, feature, at, row["flight_id"])
                    continue
                assert not pd.isna(value), (table, feature, at, row["flight_id"])
                day = _day_of(value)
                # never a row newer than the entity timestamp ...
                assert STAMPS[day] <= at, (table, feature, at, row["flight_id"])
                # ... and exactly the newest one not past the TTL, with that key's values
                assert value == _value(expected, key_index, f), (table, feature, at)
            seen[table].add(expected)
    # the moments exercise every case of every table: no row, each day, and expiry
    for table in contracts.FEATURE_TABLES:
        assert {None, 0, 1, 2} <= seen[table], table
    # the weather table joins on both keys: JFK has hour 8 rows, EWR hour 9 rows, (JFK, 9) none
    weather = result[list(contracts.WEATHER_FEATURES)]
    jfk_9 = (result["origin"] == "JFK") & (result["hour"] == 9)
    ewr_9 = (result["origin"] == "EWR") & (result["hour"] == 9)
    assert weather[jfk_9].isna().all().all()
    assert weather[ewr_9].notna().any().all()


def test_historical_features_keep_duplicates_and_index_and_refuse_feature_columns(store):
    """Rows sharing keys and timestamp (flights of one plane on one day) are joined once per
    view and handed back to each row; the caller's index and order are kept."""
    row = _entity_rows()[0] | {contracts.EVENT_TIMESTAMP: STAMPS[1] + pd.Timedelta(hours=1)}
    entity_df = pd.DataFrame(
        [
            row | {"flight_id": "a"},
            row | {"flight_id": "b", "tailnum": None},
            row | {"flight_id": "c"},
        ],
        index=[30, 10, 20],
    )
    result = fs.historical_features(store, entity_df)
    assert list(result.index) == [30, 10, 20] and result["flight_id"].tolist() == ["a", "b", "c"]
    features = list(contracts.ALL_FEATURES)
    assert result.loc[30, features].notna().all()
    assert result.loc[30, features].equals(result.loc[20, features])
    plane = list(contracts.TABLE_FEATURES["plane_stats"])
    others = [f for f in features if f not in plane]
    assert result.loc[10, plane].isna().all() and result.loc[10, others].equals(
        result.loc[30, others]
    )
    with pytest.raises(ValueError, match="already has the feature columns"):
        fs.historical_features(store, result)


def test_historical_features_rejects_missing_entity_columns(store):
    frame = pd.DataFrame({"carrier": ["AA"], contracts.EVENT_TIMESTAMP: [STAMPS[1]]})
    with pytest.raises(ValueError, match="lacks the columns"):
        fs.historical_features(store, frame)
