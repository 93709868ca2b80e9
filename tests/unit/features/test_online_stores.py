"""Reruns never roll the online store back: after any order of day materializations, on SQLite
and on Redis, each key holds its newest row; a rerun of the newest day with new values (same
event timestamp) replaces them.

The partitions are test_store's: three days, every feature value encoding its day and key, key
1 of every table without a row on the middle day. Redis runs on 127.0.0.1:6379, db 11 (this
test's own; it flushes only that db).
"""

from __future__ import annotations

import itertools
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runway import contracts
from runway.features import store as fs
from runway.io import partition_file, write_parquet_atomic
from runway.settings import Settings, load_settings
from tests.unit.features.test_store import (
    DAYS,
    GAP,
    STAMPS,
    _entity_rows,
    _key_index,
    _value,
    _write_partitions,
)

REDIS_URL = os.environ.get("RUNWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")
CORRECTION = 50  # added to every value of the newest day when it is rewritten


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("online_home")
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


def _redis():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def _store(settings: Settings, backend: str, name: str):
    """A fresh store: its own registry and an empty online store of `backend`."""
    from feast import FeatureStore, RepoConfig

    if backend == "sqlite":
        online = {"type": fs.ONLINE_STORE_TYPES["sqlite"], "path": str(settings.feast_dir / name)}
    else:
        _redis().flushdb()  # db 11 is this test's own
        online = {
            "type": fs.ONLINE_STORE_TYPES["redis"],
            "connection_string": fs._redis_connection_string(REDIS_URL),
        }
    config = RepoConfig(
        project=fs.PROJECT,
        provider="local",
        registry={
            "registry_type": "file",
            "path": str(settings.feast_dir / f"{name}.registry.db"),
            "cache_ttl_seconds": 60,
        },
        offline_store={"type": "duckdb"},
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=settings.feature_repo_dir,
    )
    store = FeatureStore(repo_path=str(settings.feature_repo_dir), config=config)
    fs.apply_definitions(store)
    return store


def _materialize_day(store, d: int) -> None:
    """The interval of day `d` (its rows are stamped STAMPS[d]), as the pipeline loads it."""
    end = STAMPS[d].to_pydatetime()
    fs.materialize_interval(store, end - pd.Timedelta(days=1).to_pytimedelta(), end)


def _expected(table: str, key_index: int | None, loaded: set[int], f: int, corrected=False):
    if key_index is None:
        return None
    days = [d for d in loaded if (table, key_index, d) not in GAP]
    if not days:
        return None
    newest = max(days)
    return _value(newest, key_index, f) + (CORRECTION if corrected and newest == 2 else 0)


def _assert_newest(store, loaded: set[int], corrected: bool = False) -> None:
    rows = _entity_rows()[:2]  # key 0, then key 1, of every table
    online = fs.online_features(store, rows)
    for r, row in enumerate(rows):
        for table in contracts.FEATURE_TABLES:
            key_index = _key_index(table, row)
            for f, feature in enumerate(contracts.TABLE_FEATURES[table]):
                want = _expected(table, key_index, loaded, f, corrected)
                got = online.loc[r, feature]
                where = (table, feature, row, sorted(loaded))
                if want is None:
                    assert pd.isna(got), where
                else:
                    assert got == want, where


def _rewrite_newest_day(settings: Settings) -> None:
    """Day 2's partitions again with every feature value corrected (same keys, same stamps)."""
    for table in contracts.FEATURE_TABLES:
        path = partition_file(settings.features_dir, table, DAYS[2])
        rows = pq.read_table(path)
        for name in contracts.TABLE_FEATURES[table]:
            i = rows.schema.get_field_index(name)
            field = rows.schema.field(name)
            rows = rows.set_column(
                i, field, pa.compute.add(rows[name], CORRECTION).cast(field.type)
            )
        write_parquet_atomic(rows, path)


BACKENDS = ["sqlite", pytest.param("redis", marks=pytest.mark.integration)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_any_order_of_reruns_leaves_the_newest_row_per_key(settings, backend):
    for n, order in enumerate(itertools.permutations(range(len(DAYS)))):
        store = _store(settings, backend, f"{backend}-order-{n}.db")
        loaded: set[int] = set()
        for d in order:
            _materialize_day(store, d)
            loaded.add(d)
            _assert_newest(store, loaded)  # after every step, not only at the end


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rerun_of_the_newest_day_replaces_its_values_and_older_days_do_not(
    settings, backend, tmp_path
):
    store = _store(settings, backend, f"{backend}-correction.db")
    for d in range(len(DAYS)):
        _materialize_day(store, d)
    before = {
        table: pq.read_table(partition_file(settings.features_dir, table, DAYS[2]))
        for table in contracts.FEATURE_TABLES
    }
    try:
        _rewrite_newest_day(settings)
        _materialize_day(store, 2)  # same event timestamps, corrected values
        _assert_newest(store, {0, 1, 2}, corrected=True)
        for d in (0, 1):  # older days again: nothing moves back
            _materialize_day(store, d)
            _assert_newest(store, {0, 1, 2}, corrected=True)
    finally:
        for table, rows in before.items():
            write_parquet_atomic(rows, partition_file(settings.features_dir, table, DAYS[2]))


def test_stores_are_loaded_by_class_path(settings):
    store = _store(settings, "sqlite", "class-path.db")
    provider = store._get_provider()
    assert type(provider.online_store).__name__ == "NewestSqliteOnlineStore"
    assert store.config.online_store.type == fs.ONLINE_STORE_TYPES["sqlite"]
