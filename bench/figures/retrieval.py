"""Figure 2: training-set retrieval (the point-in-time join), Feast beside one DuckDB query.

The entity rows are the labelled flights of a window (`runway.entities.entity_rows`, as the
training DAG builds them); the feature tables are the Beam job's partitions of that world.
- feast: `runway.features.store.historical_features(get_store(settings), entity_df)` with the
  definitions applied (Feast's DuckDB offline store over the parquet partitions);
- duckdb: `bench.asof.asof_features`, one ASOF LEFT JOIN per feature table with the views'
  TTLs, over the same partitions.
Both take and return a pandas frame. Time is the call alone; memory the process's peak
resident set (imports included: Feast's are large) and, beside it, the growth during the call.
The first repeat's outputs are compared cell by cell.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from bench.context import Context
from bench.harness import Figure, peak_rss_mb, ratio, rss_mb, run_child

CONTENDERS = ("feast", "duckdb")


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="retrieval",
        title="Training-set retrieval (point-in-time join): time and peak memory",
        contender="feast (runway.features.store.historical_features, DuckDB offline store)",
        baselines=["duckdb (bench.asof: one ASOF LEFT JOIN per feature table, TTLs applied)"],
    )
    start, end = ctx.range(ctx.args.retrieval_range)
    fig.params = {
        "entity_flights": f"{start}..{end}",
        "scales": ctx.args.retrieval_scales,
        "repeats": ctx.repeats,
    }
    labels = []
    for scale in ctx.args.retrieval_scales:
        world = ctx.world(scale)
        label = f"{scale}x"
        labels.append(label)
        last_feature_day = end - dt.timedelta(days=1)  # flights of D see features up to D-1
        ctx.say(
            f"retrieval {label}: preparing features "
            f"{world.ttl_start(start)}..{last_feature_day} and entity rows"
        )
        world.features(world.ttl_start(start), last_feature_day, ctx.log)
        entities = world.entity_frame(start, end, ctx.log)
        out_dir = world.scratch / f"retrieval-{start}-{end}"
        samples = {c: {"s": [], "rss": [], "grow": []} for c in CONTENDERS}
        rows = None
        for rep in range(ctx.repeats):
            for contender in CONTENDERS:
                ctx.say(f"retrieval {label}: {contender} run {rep + 1}/{ctx.repeats}")
                save = str(out_dir / f"{contender}.parquet") if rep == 0 else None
                result = run_child(
                    f"bench.figures.retrieval:{contender}_child",
                    {"entities": str(entities), "save": save},
                    env=world.env(),
                    log=ctx.log,
                )
                samples[contender]["s"].append(result["seconds"])
                samples[contender]["rss"].append(result["peak_rss_mb"])
                samples[contender]["grow"].append(result["peak_rss_mb"] - result["rss_before_mb"])
                rows = result["rows"]
        fig.params.setdefault("entity_rows", {})[label] = rows
        for contender in CONTENDERS:
            s = samples[contender]
            fig.measure(label, contender, "wall_s", s["s"], "s")
            fig.measure(label, contender, "peak_rss_mb", s["rss"], "MiB")
            fig.measure(label, contender, "rss_growth_mb", s["grow"], "MiB")
            fig.measure(label, contender, "rows_per_s", [rows / v for v in s["s"]], "rows/s")
        fig.add_ratio(
            f"{label}: feast / duckdb wall",
            fig.get(label, "feast", "wall_s"),
            fig.get(label, "duckdb", "wall_s"),
            "x the baseline's time",
        )
        fig.add_ratio(
            f"{label}: feast / duckdb peak RSS",
            fig.get(label, "feast", "peak_rss_mb"),
            fig.get(label, "duckdb", "peak_rss_mb"),
            "x the baseline's peak resident set",
        )
        fig.add_ratio(
            f"{label}: feast / duckdb RSS growth during the call",
            fig.get(label, "feast", "rss_growth_mb"),
            fig.get(label, "duckdb", "rss_growth_mb"),
            "x (the join's own memory, imports excluded)",
        )
        check = run_child(
            "bench.figures.retrieval:compare_child",
            {"left": str(out_dir / "feast.parquet"), "right": str(out_dir / "duckdb.parquet")},
            log=ctx.log,
        )
        fig.check(
            f"{label}: feast rows == duckdb ASOF rows (same flights, order, every feature cell)",
            check["ok"],
            check,
        )
    for label in labels:
        fig.target(
            f"{label}: feast <= 1.5x duckdb time",
            ratio(fig.get(label, "feast", "wall_s"), fig.get(label, "duckdb", "wall_s")),
            "<=",
            1.5,
            "x",
        )
        fig.target(
            f"{label}: feast <= 2x duckdb peak memory",
            ratio(fig.get(label, "feast", "peak_rss_mb"), fig.get(label, "duckdb", "peak_rss_mb")),
            "<=",
            2.0,
            "x",
        )
    fig.notes.append(
        "Peak memory is the whole process's (what a task needs); rss_growth_mb is the "
        "growth during the call alone."
    )
    if ctx.quick:
        fig.notes.append("--quick: 1x, a week of flights")
    return fig


# ---- child bodies -----------------------------------------------------------------------------
def _finish(result, seconds: float, imported: float, before: float, save: str | None) -> dict:
    from runway import contracts

    peak = peak_rss_mb()
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        result[["flight_id", contracts.EVENT_TIMESTAMP, *contracts.ALL_FEATURES]].to_parquet(
            save, index=False
        )
    return {
        "seconds": seconds,
        "import_s": imported,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "rows": len(result),
    }


def feast_child(entities: str, save: str | None) -> dict:
    t0 = time.perf_counter()
    import pandas as pd

    from runway.features import store as feature_store
    from runway.settings import load_settings

    settings = load_settings()
    store = feature_store.get_store(settings)
    feature_store.apply_definitions(store)
    imported = time.perf_counter() - t0
    entity_df = pd.read_parquet(entities)
    before = rss_mb()
    t0 = time.perf_counter()
    result = feature_store.historical_features(store, entity_df)
    return _finish(result, time.perf_counter() - t0, imported, before, save)


def duckdb_child(entities: str, save: str | None) -> dict:
    t0 = time.perf_counter()
    import pandas as pd

    from bench.asof import asof_features
    from runway.settings import load_settings

    settings = load_settings()
    imported = time.perf_counter() - t0
    entity_df = pd.read_parquet(entities)
    before = rss_mb()
    t0 = time.perf_counter()
    result = asof_features(entity_df, settings.features_dir, settings.feature_ttl_days)
    return _finish(result, time.perf_counter() - t0, imported, before, save)


def compare_child(left: str, right: str) -> dict:
    import numpy as np
    import pandas as pd

    from runway import contracts

    a, b = pd.read_parquet(left), pd.read_parquet(right)
    features = list(contracts.ALL_FEATURES)
    same_rows = len(a) == len(b) and (a["flight_id"].to_numpy() == b["flight_id"].to_numpy()).all()
    stamp = contracts.EVENT_TIMESTAMP
    same_stamps = same_rows and (a[stamp].to_numpy() == b[stamp].to_numpy()).all()
    mismatched = None
    if same_rows:
        x, y = a[features].to_numpy("float64"), b[features].to_numpy("float64")
        mismatched = int((~np.isclose(x, y, rtol=1e-12, atol=0.0, equal_nan=True)).sum())
    coverage = float(a[features].notna().to_numpy().mean()) if len(a) else 0.0
    return {
        "ok": bool(same_rows and same_stamps and mismatched == 0 and len(a) > 0),
        "rows": len(a),
        "rows_baseline": len(b),
        "same_flights_in_order": bool(same_rows),
        "mismatched_cells": mismatched,
        "feature_coverage": round(coverage, 4),
    }
