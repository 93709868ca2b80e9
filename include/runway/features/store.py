"""Feast access: build the store for a profile, apply definitions, materialize, retrieve.

The definitions live in `feature_repo/features.py` (declarative); this module builds the
`RepoConfig` from the settings object rather than from `feature_store.yaml`, so that the
registry and online store follow the installation (`Settings.feast_dir` locally, Postgres and
Redis on the cluster). Feast is imported here, and this module only inside tasks: never from
a DAG file.

Online writes go through `runway.features.online_stores` (Feast's SQLite and Redis stores, by
class path): a key's row is written only if it is no older than the stored one, so rerunning or
backfilling an earlier day never rolls the online store back.

Bounds: feature rows of local day D are stamped with the end of D (the next local midnight, in
UTC), which is the end of the Airflow daily interval of D. `materialize_interval` therefore
loads the half-open interval (start, end]: day D's rows, never day D-1's again. Feast itself
reads [start, end], both ends included (see `materialize_interval`).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from runway import contracts
from runway.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

PROJECT = "runway"
# Feast's online stores, writing only rows no older than the stored ones (by class path)
ONLINE_STORE_TYPES = {
    "sqlite": "runway.features.online_stores.NewestSqliteOnlineStore",
    "redis": "runway.features.online_stores.NewestRedisOnlineStore",
}
DEFINITIONS_FILE = "features.py"
MATERIALIZE_CHUNK = dt.timedelta(days=7)  # materialize loads its whole range at once
_ONE_TICK = dt.timedelta(microseconds=1)  # feature timestamps are microsecond precision
_SERVICES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # store -> {name: (t, service)}


def _redis_connection_string(url: str) -> str:
    """`redis://[:password@]host:port/db` as Feast's `host:port,db=N[,password=…][,ssl=true]`."""
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise ValueError(f"RUNWAY_REDIS_URL must look like redis://host:port/db, got {url!r}")
    parts = [f"{parsed.hostname}:{parsed.port or 6379}"]
    db = parsed.path.lstrip("/")
    if db:
        parts.append(f"db={int(db)}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def repo_config(settings: Settings):
    """The Feast `RepoConfig` of the settings' profile (mirrors `feature_store.yaml` locally)."""
    from feast import RepoConfig

    if settings.profile == "cluster":
        registry = {
            "registry_type": "sql",
            "path": settings.postgres_url,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
        online_store = {
            "type": ONLINE_STORE_TYPES["redis"],
            "connection_string": _redis_connection_string(settings.redis_url),
        }
    else:
        registry = {
            "registry_type": "file",
            "path": str(settings.feast_dir / "registry.db"),
            "cache_ttl_seconds": 60,
        }
        online_store = {
            "type": ONLINE_STORE_TYPES["sqlite"],
            "path": str(settings.feast_dir / "online_store.db"),
        }
    return RepoConfig(
        project=PROJECT,
        provider="local",
        registry=registry,
        offline_store={"type": "duckdb"},  # parquet partitions on a shared path, both profiles
        online_store=online_store,
        entity_key_serialization_version=3,
        repo_path=settings.feature_repo_dir,
    )


def get_store(settings: Settings) -> FeatureStore:
    """A FeatureStore for the settings' profile; its repo path is `feature_repo/`."""
    from feast import FeatureStore

    if settings.profile == "local":
        settings.feast_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(settings.feature_repo_dir), config=repo_config(settings))


def load_definitions(repo_dir: Path) -> list:
    """The Feast objects of the definitions module, in the order they are declared.

    The module is executed afresh on every call (not taken from `sys.modules`), so the source
    paths follow the settings of the environment at call time, as `feast apply` would.
    """
    from feast import Entity, FeatureService, FeatureView
    from feast.data_source import DataSource

    path = Path(repo_dir) / DEFINITIONS_FILE
    spec = importlib.util.spec_from_file_location("runway_feature_definitions", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"no Feast definitions at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kinds = (Entity, DataSource, FeatureView, FeatureService)
    return [obj for obj in vars(module).values() if isinstance(obj, kinds)]


def apply_definitions(store: FeatureStore) -> list[str]:
    """Register the definitions and create their online tables; idempotent.

    The sources' paths come from the environment's settings (`load_settings`, read by the
    definitions module), the same settings a task hands to `get_store`. Objects removed from
    the definitions stay registered (Feast's `apply` only adds and updates).
    Returns `"<Kind>:<name>"` for every object applied, in dependency order.
    """
    objects = load_definitions(store.repo_path)
    store.apply(objects)
    _SERVICES.pop(store, None)
    return [f"{type(obj).__name__}:{obj.name}" for obj in objects]


def materialize_interval(
    store: FeatureStore,
    start: dt.datetime,
    end: dt.datetime,
    chunk: dt.timedelta = MATERIALIZE_CHUNK,
) -> dict:
    """Load the feature rows stamped in (start, end] into the online store.

    Feast's offline read keeps `start <= event_timestamp <= end`, both ends included
    (`feast/infra/offline_stores/ibis.py`, `pull_all_from_table_or_query_ibis`, as the local
    compute engine calls it with `pull_latest_features` off), then the newest row per entity
    key (`MaterializationTask.only_latest`). Starting one
    microsecond after `start` makes consecutive daily intervals disjoint: the interval of day
    D loads the rows stamped with its end (day D's), not those stamped with its start (day
    D-1's, already loaded by the previous interval). Long ranges go in chunks of `chunk`,
    oldest first, because Feast loads a whole range into memory at once. The online stores
    keep each key's newest row (`runway.features.online_stores`), so an interval older than
    what the store holds changes nothing there.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("materialize_interval needs timezone-aware datetimes")
    if end <= start:
        raise ValueError(f"empty interval: start {start} >= end {end}")
    if chunk <= dt.timedelta(0):
        raise ValueError("chunk must be positive")
    views = [fv.name for fv in store.list_feature_views()]
    if not views:
        raise RuntimeError("no feature views registered: apply the definitions first")
    chunks = []
    lower = start
    while lower < end:
        upper = min(lower + chunk, end)
        store.materialize(start_date=lower + _ONE_TICK, end_date=upper, feature_views=views)
        chunks.append([lower.isoformat(), upper.isoformat()])
        lower = upper
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "bounds": "(start, end]",
        "chunks": chunks,
        "feature_views": views,
    }


def _service_features(service) -> list[str]:
    return [f.name for projection in service.feature_view_projections for f in projection.features]


def _as_float(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """Features as float64, NaN where missing: counts come back int64 or float64 depending on
    whether a batch happens to hold a null, and training and scoring must see one dtype."""
    return frame.astype({name: "float64" for name in features})


def _online_key(name: str, value):
    # Feast's online read fails on a null join key (feast/utils.py, _get_unique_entities);
    # a value no table holds gives the same answer a null key should: no features.
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return -1 if name == "hour" else ""
    return int(value) if name == "hour" else value


def _cached_service(store: FeatureStore, name: str):
    """The registered feature service, rebuilt at most once per registry cache period.

    Feast's `get_feature_service(allow_cache=True)` reads the cached registry but rebuilds the
    object from its proto on every call, which costs more than a one-flight online read. The
    object kept here expires with the registry's `cache_ttl_seconds`, and `apply_definitions`
    drops it.
    """
    kept = _SERVICES.setdefault(store, {})
    now = time.monotonic()
    if name not in kept or now - kept[name][0] > store.config.registry.cache_ttl_seconds:
        kept[name] = (now, store.get_feature_service(name, allow_cache=True))
    return kept[name][1]


def _response_floats(values) -> np.ndarray:
    """One feature's values of an online response as float64, NaN where Feast found none.

    Read off the response's protos (double or int64), rather than through `to_dict`, which
    converts every value through Feast's generic type map and doubled the call for 100 flights.
    """
    out = np.empty(len(values), dtype="float64")
    for i, value in enumerate(values):
        kind = value.WhichOneof("val")
        out[i] = getattr(value, kind) if kind else np.nan
    return out


def online_features(
    store: FeatureStore,
    entity_rows: list[dict],
    service: str = Settings.feature_service,
) -> pd.DataFrame:
    """The service's features for each entity row (keys `contracts.ENTITY_COLUMNS`).

    One output row per entity row, in order: the entity keys as given, then the features as
    float64. A key never materialized, or null (a cancelled flight's tailnum), gives NaN.
    """
    missing = [k for k in contracts.ENTITY_COLUMNS if any(k not in row for row in entity_rows)]
    if missing:
        raise ValueError(f"entity rows lack the keys {missing}")
    keys = {k: [_online_key(k, row[k]) for row in entity_rows] for k in contracts.ENTITY_COLUMNS}
    feature_service = _cached_service(store, service)
    response = store.get_online_features(
        features=feature_service, entity_rows=keys
    ).proto  # columnar
    vectors = dict(zip(response.metadata.feature_names.val, response.results, strict=True))
    columns = {key: [row[key] for row in entity_rows] for key in contracts.ENTITY_COLUMNS}
    features = _service_features(feature_service)
    for name in features:
        columns[name] = _response_floats(vectors[name].values)
    return pd.DataFrame(columns, columns=[*contracts.ENTITY_COLUMNS, *features])


def historical_features(
    store: FeatureStore,
    entity_df: pd.DataFrame,
    service: str = Settings.feature_service,
) -> pd.DataFrame:
    """Point-in-time correct features for each entity row, one output row per input row.

    `entity_df` holds `contracts.ENTITY_COLUMNS`, the entity timestamp `event_timestamp`
    (tz-aware, UTC) and any passthrough columns (flight_id, label, ...). Each feature comes
    from the newest row of its table with `event_timestamp <=` the entity's and not older than
    the view's TTL; otherwise it is NaN. Rows come back in the order and with the index of
    `entity_df`: its columns, then the features as float64.

    Feast joins each view of the service separately, over the distinct (keys, timestamp) of
    that view: the flights of a day share one prediction time, so a carrier's features are
    looked up once per day instead of once per flight. Feast's join expands every entity row
    over the view's TTL before keeping the newest row, so this is what its time and memory
    grow with (the training-set retrieval figure of `bench/`).
    """
    needed = [*contracts.ENTITY_COLUMNS, contracts.EVENT_TIMESTAMP]
    missing = [c for c in needed if c not in entity_df.columns]
    if missing:
        raise ValueError(f"entity_df lacks the columns {missing}")
    feature_service = store.get_feature_service(service)
    features = _service_features(feature_service)
    clashing = [c for c in features if c in entity_df.columns]
    if clashing:
        raise ValueError(f"entity_df already has the feature columns {clashing}")
    stamps = pd.to_datetime(entity_df[contracts.EVENT_TIMESTAMP], utc=True)
    entities = entity_df.assign(**{contracts.EVENT_TIMESTAMP: stamps})
    blocks = [entities]
    for projection in feature_service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        keys = [projection.join_key_map.get(c.name, c.name) for c in view.entity_columns]
        on = [*keys, contracts.EVENT_TIMESTAMP]
        distinct = entities[on].drop_duplicates(ignore_index=True)
        refs = [f"{projection.name_to_use()}:{f.name}" for f in projection.features]
        got = store.get_historical_features(entity_df=distinct, features=refs).to_df()
        if len(got) != len(distinct):
            raise RuntimeError(
                f"Feast returned {len(got)} rows of {view.name} for {len(distinct)} entity rows"
            )
        got = got.astype({c: entities[c].dtype for c in on})  # Feast may hand back its own dtypes
        names = [f.name for f in projection.features]
        # only the keys are matched: the entity rows' other columns are not copied per view
        aligned = entities[on].merge(got[[*on, *names]], on=on, how="left", validate="many_to_one")
        blocks.append(aligned[names].set_axis(entity_df.index))
    return _as_float(pd.concat(blocks, axis=1), features)
