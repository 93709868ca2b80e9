"""Figure 3: online feature latency for 1 and 100 flights, SQLite and Redis online stores.

`runway.features.store.online_features(store, rows)` (the `flight_delay_v1` service, five
feature views) after `materialize_interval` loaded one day. SQLite is the local profile's
store (`get_store`); Redis the cluster profile's, on a dedicated db (`--redis-url`, flushed
afterwards), with the same file registry (the cluster's SQL registry is cached for 60 s and
not on the read path). Beside each call, the floor: the provider's `online_read` of the same
keys for each view (the store's own I/O without Feast's request and response handling).
Each repeat is a fresh process; in it every batch size is called `--online-calls` times after
a warm-up, over different flights; p50/p95/p99 per repeat, median and min-max over repeats.
"""

from __future__ import annotations

import datetime as dt
import time

from bench.context import Context
from bench.harness import Figure, percentile, run_child

SIZES = (1, 100)
STORES = ("sqlite", "redis")


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="online",
        title="Online features: latency for 1 and 100 flights",
        contender="runway.features.store.online_features (feature service flight_delay_v1)",
        baselines=[
            "the other online store (SQLite local / Redis cluster)",
            "floor: the provider's online_read of the same keys, per view",
        ],
    )
    world = ctx.world(1)
    start, end = ctx.range(ctx.args.retrieval_range)
    day = end - dt.timedelta(days=1)  # features of `day`, served to the flights of `end`
    ctx.say(f"online: preparing features of {day} and the flights of {end}")
    world.features(day, day, ctx.log)
    world.land(end, end, ctx.log)
    fig.params = {
        "materialized_day": str(day),
        "flights_of": str(end),
        "calls_per_size": ctx.args.online_calls,
        "repeats": ctx.repeats,
        "redis": ctx.args.redis_url,
    }
    samples = {
        (s, n, q): []
        for s in STORES
        for n in SIZES
        for q in ("p50", "p95", "p99", "floor_p50", "floor_p99")
    }
    materialize = {s: [] for s in STORES}
    errors = {}
    try:
        for rep in range(ctx.repeats):
            for store in STORES:
                if store in errors:
                    continue
                ctx.say(f"online: {store} run {rep + 1}/{ctx.repeats}")
                try:
                    result = run_child(
                        "bench.figures.online:online_child",
                        {
                            "kind": store,
                            "redis_url": ctx.args.redis_url,
                            "day": str(day),
                            "flights_day": str(end),
                            "calls": ctx.args.online_calls,
                        },
                        env=world.env(),
                        log=ctx.log,
                        timeout=1800,
                    )
                except Exception as err:  # noqa: BLE001 - Redis down must not cost SQLite's figure
                    errors[store] = f"{type(err).__name__}: {str(err)[-800:]}"
                    continue
                materialize[store].append(result["materialize_s"])
                fig.params.setdefault("coverage", {})[store] = result["coverage"]
                for n in SIZES:
                    lat = result["latency_ms"][str(n)]
                    floor = result["floor_ms"][str(n)]
                    for q in (50, 95, 99):
                        samples[(store, n, f"p{q}")].append(percentile(lat, q))
                    samples[(store, n, "floor_p50")].append(percentile(floor, 50))
                    samples[(store, n, "floor_p99")].append(percentile(floor, 99))
    finally:
        flushed = _flush_redis(ctx.args.redis_url)
        fig.notes.append(f"Redis db of {ctx.args.redis_url} flushed afterwards: {flushed}")
    for store, message in errors.items():
        fig.notes.append(f"{store} not measured: {message}")
    for store in STORES:
        fig.measure("materialize 1 day", store, "materialize_s", materialize[store], "s")
        for n in SIZES:
            case = f"{n} flight{'s' if n > 1 else ''}"
            for q in ("p50", "p95", "p99"):
                fig.measure(case, store, f"{q}_ms", samples[(store, n, q)], "ms")
            fig.measure(case, f"{store} floor", "p50_ms", samples[(store, n, "floor_p50")], "ms")
            fig.measure(case, f"{store} floor", "p99_ms", samples[(store, n, "floor_p99")], "ms")
    for n, limit in ((1, 5.0), (100, 25.0)):
        case = f"{n} flight{'s' if n > 1 else ''}"
        for store in STORES:
            fig.add_ratio(
                f"{case}: {store} p50 / its floor p50",
                fig.get(case, store, "p50_ms"),
                fig.get(case, f"{store} floor", "p50_ms"),
                "x the store's own read (Feast's overhead)",
            )
            fig.target(
                f"{case}: {store} p99 <= {limit:g} ms",
                fig.get(case, store, "p99_ms"),
                "<=",
                limit,
                "ms",
                reason=None if store not in errors else "store not reachable",
            )
        fig.add_ratio(
            f"{case}: redis / sqlite p99",
            fig.get(case, "redis", "p99_ms"),
            fig.get(case, "sqlite", "p99_ms"),
            "x (below 1: Redis faster)",
        )
    return fig


def _flush_redis(url: str) -> str:
    try:
        import redis

        client = redis.Redis.from_url(url)
        client.flushdb()
        return "yes"
    except Exception as err:  # noqa: BLE001
        return f"no ({type(err).__name__}: {err})"


# ---- child body -------------------------------------------------------------------------------
def redis_store(settings, url: str):
    """Runway's store with the cluster profile's Redis online store, file registry beside
    SQLite's."""
    from feast import FeatureStore, RepoConfig

    from runway.features import store as feature_store

    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project=feature_store.PROJECT,
        provider="local",
        registry={
            "registry_type": "file",
            "path": str(settings.feast_dir / "registry-redis.db"),
            "cache_ttl_seconds": 60,
        },
        offline_store={"type": "duckdb"},
        online_store={
            "type": feature_store.ONLINE_STORE_TYPES["redis"],
            "connection_string": feature_store._redis_connection_string(url),
        },
        entity_key_serialization_version=3,
        repo_path=settings.feature_repo_dir,
    )
    return FeatureStore(repo_path=str(settings.feature_repo_dir), config=config)


def _floor(store, views, batch: list[dict]) -> None:
    """The provider's online_read of the batch's keys for each view of the service."""
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    provider = store._get_provider()
    for view in views:
        join_keys = [c.name for c in view.entity_columns]
        entity_keys = [
            EntityKey(
                join_keys=join_keys,
                entity_values=[
                    Value(int64_val=int(row[k])) if k == "hour" else Value(string_val=str(row[k]))
                    for k in join_keys
                ],
            )
            for row in batch
        ]
        provider.online_read(config=store.config, table=view, entity_keys=entity_keys)


def online_child(kind: str, redis_url: str, day: str, flights_day: str, calls: int) -> dict:
    import random

    from runway import entities
    from runway.days import end_of_day_utc
    from runway.features import store as feature_store
    from runway.settings import load_settings

    settings = load_settings()
    store = (
        feature_store.get_store(settings) if kind == "sqlite" else redis_store(settings, redis_url)
    )
    feature_store.apply_definitions(store)
    materialized = dt.date.fromisoformat(day)
    t0 = time.perf_counter()
    feature_store.materialize_interval(
        store, end_of_day_utc(materialized - dt.timedelta(days=1)), end_of_day_utc(materialized)
    )
    materialize_s = time.perf_counter() - t0
    flights = entities.read_flights(settings.raw_dir, [dt.date.fromisoformat(flights_day)])
    rows = entities.entity_rows(flights, with_label=False).to_dict("records")
    random.Random(13).shuffle(rows)
    service = store.get_feature_service(settings.feature_service)
    views = [store.get_feature_view(p.name) for p in service.feature_view_projections]

    def batch(i: int, n: int) -> list[dict]:
        return [rows[(i * n + j) % len(rows)] for j in range(n)]

    latency, floor = {}, {}
    for n in SIZES:
        for i in range(5):  # warm-up: registry cache, connections, first-call imports
            feature_store.online_features(store, batch(i, n))
            _floor(store, views, batch(i, n))
        lat, flo = [], []
        for i in range(calls):
            b = batch(i, n)
            t0 = time.perf_counter()
            feature_store.online_features(store, b)
            lat.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            _floor(store, views, b)
            flo.append((time.perf_counter() - t0) * 1000)
        latency[str(n)], floor[str(n)] = lat, flo
    sample = feature_store.online_features(store, batch(0, 100))
    features = [
        c for c in sample.columns if c not in ("carrier", "origin", "route", "tailnum", "hour")
    ]
    coverage = float(sample[features].notna().to_numpy().mean())
    return {
        "materialize_s": materialize_s,
        "latency_ms": latency,
        "floor_ms": floor,
        "coverage": round(coverage, 4),
        "flights": len(rows),
    }
