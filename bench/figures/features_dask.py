"""Figure: the Beam feature job on a Dask cluster (Beam's DaskRunner) beside the local runner.

    python -m bench --only features_dask                  # 30x over --range-large (4 weeks)
    python -m bench --only features_dask --dask-scale 1   # 1x over the same days

A Dask scheduler and `--dask-workers` workers of one thread each run on loopback
(`runway.local_dask.LocalDask`, started for the figure and stopped after it). Contenders, each
in a fresh process, interleaved repeat by repeat, on the same raw partitions:
- fnapi: `runway.features.beam_job.run` with `--runner=FnApiRunner` (the local profile);
- dask: the same call with `RUNWAY_BEAM_RUNNER=dask`'s options (`steps.beam_options`): Beam's
  DaskRunner on the cluster's scheduler.
Time is the call alone (the pre-flight scheduler check included for dask); `peak_rss_mb` is the
driver process's peak, and the workers' own peaks are reported beside it. The two runs' feature
partitions are checked byte-identical.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from bench.context import Context
from bench.harness import Figure, child_env, run_child
from bench.world import day_range

CONTENDERS = ("fnapi", "dask")
TABLES = ("carrier_stats", "origin_stats", "route_stats", "plane_stats", "origin_hour_weather")


def run(ctx: Context) -> Figure:
    from runway.local_dask import LocalDask

    scale = ctx.args.dask_scale or (1 if ctx.quick else 30)
    start, end = ctx.range(ctx.args.quick_range if ctx.quick else ctx.args.range_large)
    label = f"{scale}x {start}..{end}"
    fig = Figure(
        name="features_dask",
        title="Beam feature job on a Dask cluster (DaskRunner) beside the local FnApiRunner",
        contender="dask (runway.features.beam_job.run, RUNWAY_BEAM_RUNNER=dask)",
        baselines=["fnapi (the same job, FnApiRunner: the local profile)"],
    )
    world = ctx.world(scale)
    ctx.say(f"features_dask {label}: preparing data (scale {scale})")
    world.land_for_features(start, end, ctx.log)
    rows_in = world.flight_rows(day_range(world.history_start(start), end))
    fig.params = {
        "case": label,
        "scale": scale,
        "targets": f"{start}..{end}",
        "target_days": (end - start).days + 1,
        "rows_in": rows_in,
        "repeats": ctx.repeats,
        "dask_workers": ctx.args.dask_workers,
        "threads_per_worker": 1,
    }
    outputs = {c: world.scratch / f"features-{c}-{start}-{end}" for c in CONTENDERS}
    samples = {c: {"s": [], "rss": [], "proc": []} for c in CONTENDERS}
    cluster = LocalDask(
        world.scratch / "dask", workers=ctx.args.dask_workers, env=child_env(world.env())
    )
    ctx.say(f"features_dask: starting a Dask scheduler and {ctx.args.dask_workers} workers")
    cluster.start()
    try:
        fig.params["dask_scheduler"] = cluster.address
        for rep in range(ctx.repeats):
            for contender in CONTENDERS:
                ctx.say(f"features_dask {label}: {contender} run {rep + 1}/{ctx.repeats}")
                result = run_child(
                    "bench.figures.features_dask:job_child",
                    {
                        "start": start.isoformat(),
                        "end": end.isoformat(),
                        "raw_dir": str(world.raw_dir),
                        "features_dir": str(outputs[contender]),
                        "dask_scheduler": cluster.address if contender == "dask" else None,
                    },
                    env=world.env(),
                    log=ctx.log,
                )
                samples[contender]["s"].append(result["seconds"])
                samples[contender]["rss"].append(result["peak_rss_mb"])
                samples[contender]["proc"].append(result["process_s"])
                fig.params.setdefault("rows_out", result["rows_out"])
        workers = cluster.worker_stats()
    finally:
        cluster.stop()
    fig.params["dask_tasks_per_worker"] = {n: w["executed"] for n, w in workers.items()}
    for contender in CONTENDERS:
        s = samples[contender]
        fig.measure(label, contender, "wall_s", s["s"], "s")
        fig.measure(label, contender, "peak_rss_mb", s["rss"], "MiB")
        fig.measure(label, contender, "process_s", s["proc"], "s")
        fig.measure(label, contender, "rows_per_s", [rows_in / v for v in s["s"]], "rows/s")
    peaks = [w["peak_rss_mb"] for w in workers.values() if w.get("peak_rss_mb")]
    if peaks:
        fig.measure(label, "dask workers (sum of peaks)", "peak_rss_mb", [sum(peaks)], "MiB")
    fig.add_ratio(
        f"{label}: dask / fnapi wall",
        fig.get(label, "dask", "wall_s"),
        fig.get(label, "fnapi", "wall_s"),
        "x the local runner's time (lower is better)",
    )
    fig.check(
        f"{label}: dask tasks ran on every worker",
        len(workers) == ctx.args.dask_workers and all(w["executed"] > 0 for w in workers.values()),
        fig.params["dask_tasks_per_worker"],
    )
    expected = {f"{t}/date={d}/part-0.parquet" for t in TABLES for d in day_range(start, end)}
    found = {c: {str(p.relative_to(o)) for p in o.rglob("*.parquet")} for c, o in outputs.items()}
    different = sorted(
        name
        for name in expected & found["dask"] & found["fnapi"]
        if (outputs["dask"] / name).read_bytes() != (outputs["fnapi"] / name).read_bytes()
    )
    fig.check(
        f"{label}: dask partitions byte-identical to fnapi's ({len(expected)} files)",
        found["dask"] == found["fnapi"] == expected and not different,
        {
            "missing_dask": sorted(expected - found["dask"])[:5],
            "missing_fnapi": sorted(expected - found["fnapi"])[:5],
            "different": different[:5],
        },
    )
    fig.notes.append(
        f"The cluster: {ctx.args.dask_workers} worker processes of one thread on this machine "
        "(loopback), beside the driver; on a shared 2-core machine they compete with it and "
        "with each other. The ratio says what the move to a distributed runner costs here, "
        "not what more machines would give."
    )
    fig.notes.append(
        "peak_rss_mb of dask is its driver's (the pipeline graph, not the data); the workers' "
        "peaks are summed apart (each worker's peak over all repeats, not simultaneous)."
    )
    if scale != 30:
        fig.notes.append(f"measured at {scale}x, not 30x (--quick, or --dask-scale {scale})")
    return fig


# ---- child body ----------------------------------------------------------------------------------
def job_child(
    start: str, end: str, raw_dir: str, features_dir: str, dask_scheduler: str | None
) -> dict:
    t0 = time.perf_counter()
    from runway.features import beam_job, steps
    from runway.settings import Settings

    imported = time.perf_counter() - t0
    days = [dt.date.fromisoformat(start), dt.date.fromisoformat(end)]
    if dask_scheduler:  # the options the DAG's task gives the job (steps.beam_options)
        settings = Settings(beam_runner="dask", dask_scheduler=dask_scheduler)
        options = steps.beam_options(settings, days)
        args = [f"--{k}={options[k]}" for k in ("runner", "dask_client_address")]
        args.append(f"--dask_connection_timeout={options['dask_connection_timeout']}")
    else:
        args = ["--runner=FnApiRunner"]
    t0 = time.perf_counter()
    written = beam_job.run(*days, Path(raw_dir), Path(features_dir), args)
    return {"seconds": time.perf_counter() - t0, "import_s": imported, "rows_out": written}
