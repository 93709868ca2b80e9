"""Feast's SQLite and Redis online stores, writing a key's row only if it is no older than the
one the store holds.

Feast's SQLite store upserts whatever it is given: materializing an earlier day again (a rerun,
a backfill) rolled every key it touched back to that day. Its Redis store skips rows whose event
timestamp is not newer than the stored one, so a rerun of the newest day after a correction
(same timestamp, new values) was dropped. Both stores here keep, per entity key and feature
view, the row with the newest event timestamp, and among rows of equal timestamp the one written
last: after any order of reruns the store holds what the newest day's partition holds.

Feast loads them by class path (`store.repo_config`): `type:
runway.features.online_stores.NewestSqliteOnlineStore` or `...NewestRedisOnlineStore`, with the
options of Feast's own stores. Only Feast imports this module (when a store is built).

The check reads the stored timestamps, then writes. On SQLite both happen in one IMMEDIATE
transaction, so a concurrent writer waits. On Redis they are two round trips: the feature
pipeline materializes one run at a time (`max_active_runs=1`), which is what keeps them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from feast import FeatureView, RepoConfig
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _redis_key
from feast.infra.online_stores.redis import (
    RedisOnlineStore,
    RedisOnlineStoreConfig,
    _versioned_fv_name,
)
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    _quote_id,
    _table_id,
)
from feast.utils import make_tzaware
from google.protobuf.timestamp_pb2 import Timestamp

# (entity key, values, event timestamp, created timestamp), as Feast hands rows to a store
Row = tuple[Any, dict[str, Any], datetime, datetime | None]
_SQLITE_KEYS_PER_QUERY = 900  # under SQLite's bound on the number of ? in one statement


def _newest_per_key(data: Sequence[Row], keys: list[bytes]) -> dict[bytes, tuple[datetime, int]]:
    """Per entity key, the (event time, index) of its newest row in the batch (ties: the last)."""
    newest: dict[bytes, tuple[datetime, int]] = {}
    for index, (key, (_, _, stamp, _)) in enumerate(zip(keys, data, strict=True)):
        stamp = make_tzaware(stamp)
        if key not in newest or stamp >= newest[key][0]:
            newest[key] = (stamp, index)
    return newest


def _keep(
    data: Sequence[Row], keys: list[bytes], stored: dict[bytes, datetime]
) -> tuple[list[Row], int]:
    """The rows to write (the batch's newest per key, unless the store holds a newer one) and
    how many rows were dropped."""
    indexes = sorted(
        index
        for key, (stamp, index) in _newest_per_key(data, keys).items()
        if key not in stored or stamp >= stored[key]
    )
    return [data[index] for index in indexes], len(data) - len(indexes)


# ---- SQLite -------------------------------------------------------------------------------------
class NewestSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Feast's SQLite online store options."""

    type: Literal["runway.features.online_stores.NewestSqliteOnlineStore"] = (
        "runway.features.online_stores.NewestSqliteOnlineStore"
    )


class NewestSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store; a row older than the key's stored one is not written."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if not data:
            return
        conn = self._get_conn(config)
        name = _quote_id(
            _table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        )
        version = config.entity_key_serialization_version
        keys = [
            serialize_entity_key(key, entity_key_serialization_version=version) for key, *_ in data
        ]
        if conn.in_transaction:
            conn.commit()
        conn.execute("BEGIN IMMEDIATE")  # no other writer between the read and the write
        try:
            stored = self._stored_times(conn, name, list(dict.fromkeys(keys)))
            kept, dropped = _keep(data, keys, stored)
        except BaseException:
            conn.rollback()
            raise
        if progress and dropped:
            progress(dropped)
        # Feast's upsert runs inside the open transaction and commits it (`with conn`)
        super().online_write_batch(config, table, kept, progress)
        if conn.in_transaction:  # nothing was kept: end the read
            conn.commit()

    @staticmethod
    def _stored_times(conn, name: str, keys: list[bytes]) -> dict[bytes, datetime]:
        stored: dict[bytes, datetime] = {}
        for start in range(0, len(keys), _SQLITE_KEYS_PER_QUERY):
            chunk = keys[start : start + _SQLITE_KEYS_PER_QUERY]
            rows = conn.execute(
                f'SELECT entity_key, MAX(event_ts) AS "ts [timestamp]" FROM {name} '
                f"WHERE entity_key IN ({','.join('?' * len(chunk))}) GROUP BY entity_key",
                chunk,
            ).fetchall()
            for key, stamp in rows:
                if stamp is not None:  # naive UTC, as Feast writes it
                    stored[bytes(key)] = make_tzaware(_as_datetime(stamp))
        return stored


def _as_datetime(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# ---- Redis --------------------------------------------------------------------------------------
class NewestRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """Feast's Redis online store options. `skip_dedup` stays true: Feast's own check (which
    drops a row of equal timestamp) is replaced by this store's, made before Feast writes."""

    type: Literal["runway.features.online_stores.NewestRedisOnlineStore"] = (
        "runway.features.online_stores.NewestRedisOnlineStore"
    )
    skip_dedup: Literal[True] = True


class NewestRedisOnlineStore(RedisOnlineStore):
    """Feast's Redis online store; a row older than the key's stored one is not written."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        if not data:
            return
        client = self._get_client(config.online_store)
        version = config.entity_key_serialization_version
        keys = [
            _redis_key(config.project, key, entity_key_serialization_version=version)
            for key, *_ in data
        ]
        ts_key = f"_ts:{_versioned_fv_name(table, config)}"
        unique = list(dict.fromkeys(keys))
        with client.pipeline(transaction=False) as pipe:
            for key in unique:
                pipe.hget(key, ts_key)
            answers = pipe.execute()
        stored = {}
        for key, raw in zip(unique, answers, strict=True):
            if raw:
                stamp = Timestamp()
                stamp.ParseFromString(raw)
                stored[key] = make_tzaware(stamp.ToDatetime())
        kept, dropped = _keep(data, keys, stored)
        if progress and dropped:
            progress(dropped)
        if kept:  # Feast's write without its own check (skip_dedup)
            super().online_write_batch(config, table, kept, progress)

    async def online_write_batch_async(self, config, table, data, progress) -> None:
        # the same check; materialization writes synchronously, so this path is rarely taken
        self.online_write_batch(config, table, data, progress)
