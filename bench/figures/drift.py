"""Figure 5: the drift check for a day and a month, beside scipy's per-column Wasserstein.

`runway.monitoring.drift_report(reference, current, contracts.ALL_FEATURES, sample, seed,
html_path)` with the monitoring DAG's settings (Settings.drift_sample_rows, drift_seed): the
reference is the training window's featured flights, the current frame one day or 30 days
after it. The baseline draws the same samples (`monitoring._sample`, same seed) and computes
`scipy.stats.wasserstein_distance` per column, normed by the reference's standard deviation
(what Evidently reports for numeric columns). Each repeat is a fresh process: the first call
pays Evidently's import, as a monitoring task does ("cold"): in each process the daily check
runs first, so its first call carries the import and the full report's does not; then a few
warm calls of each.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.context import Context
from bench.harness import Figure, run_child

WARM_CALLS = 3


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="drift",
        title="Drift check: a day and a month",
        contender="runway.monitoring.drift_report: the daily check (DriftedColumnsCount) and the "
        "full DataDriftPreset + HTML report (once per monitoring run)",
        baselines=["scipy.stats.wasserstein_distance per column on the same sample"],
    )
    world = ctx.world(1)
    ref_start, ref_end = ctx.range(ctx.args.train_range)
    month = 7 if ctx.quick else 30
    cur_start, cur_end = ref_end + dt.timedelta(days=1), ref_end + dt.timedelta(days=month)
    ctx.say(f"drift: preparing reference {ref_start}..{ref_end} and current {cur_start}..{cur_end}")
    reference = world.featured_frame(ref_start, ref_end, ctx.log)
    current = world.featured_frame(cur_start, cur_end, ctx.log)
    label_month = "a month" if not ctx.quick else "a week (--quick)"
    fig.params = {
        "reference": f"{ref_start}..{ref_end}",
        "day": str(cur_start),
        "month": f"{cur_start}..{cur_end}",
        "repeats": ctx.repeats,
        "warm_calls": 1 if ctx.quick else WARM_CALLS,
    }
    samples: dict[tuple[str, str, str], list[float]] = {}
    for rep in range(ctx.repeats):
        ctx.say(f"drift: run {rep + 1}/{ctx.repeats}")
        result = run_child(
            "bench.figures.drift:drift_child",
            {
                "reference": str(reference),
                "current": str(current),
                "day": str(cur_start),
                "scratch": str(world.scratch),
                "warm_calls": 1 if ctx.quick else WARM_CALLS,
            },
            env=world.env(),
            log=ctx.log,
        )
        fig.params.update(result["params"])
        for case, by in result["seconds"].items():
            for key, value in by.items():
                contender, metric = key.split(":")
                samples.setdefault(
                    (case if case == "a day" else label_month, contender, metric), []
                ).append(value)
    for (case, contender, metric), values in samples.items():
        fig.measure(case, contender, metric, values, "s")
    for case in ("a day", label_month):
        fig.add_ratio(
            f"{case}: drift_report warm / scipy",
            fig.get(case, "drift_report", "warm_s"),
            fig.get(case, "scipy", "warm_s"),
            "x the baseline's time",
        )
    fig.add_ratio(
        "a day: daily check / scipy, first call in a fresh process",
        fig.get("a day", "drift_daily", "first_call_s"),
        fig.get("a day", "scipy", "first_call_s"),
        "x (Evidently's import included: what a monitoring task pays)",
    )
    fig.target(
        "a day: the daily check (DriftedColumnsCount, no HTML: what monitoring runs per day) "
        "<= 10 s, first call",
        fig.get("a day", "drift_daily", "first_call_s"),
        "<=",
        10.0,
        "s",
    )
    fig.add_ratio(
        "a day: daily check warm / scipy",
        fig.get("a day", "drift_daily", "warm_s"),
        fig.get("a day", "scipy", "warm_s"),
        "x the baseline's time",
    )
    fig.target(
        "a day: drift_report <= 10 s, first call (after the daily check imported Evidently)",
        fig.get("a day", "drift_report", "first_call_s"),
        "<=",
        10.0,
        "s",
    )
    fig.target(
        "a day: drift_report <= 10 s (warm)",
        fig.get("a day", "drift_report", "warm_s"),
        "<=",
        10.0,
        "s",
    )
    return fig


# ---- child body -------------------------------------------------------------------------------
def _scipy_drift(reference, current, columns, sample: int, seed: int) -> dict:
    import numpy as np
    from scipy import stats

    from runway.monitoring.drift import _sample

    ref = _sample(reference[columns], sample, seed)
    cur = _sample(current[columns], sample, seed)
    out = {}
    for col in columns:
        r = ref[col].to_numpy("float64")
        c = cur[col].to_numpy("float64")
        r, c = r[np.isfinite(r)], c[np.isfinite(c)]
        if len(r) == 0 or len(c) == 0:
            out[col] = None
            continue
        std = r.std()
        out[col] = float(stats.wasserstein_distance(r, c) / std) if std > 0 else None
    return out


def drift_child(reference: str, current: str, day: str, scratch: str, warm_calls: int) -> dict:
    import pandas as pd

    from runway import contracts
    from runway.monitoring.drift import drift_report
    from runway.settings import load_settings

    settings = load_settings()
    ref = pd.read_parquet(reference)
    month = pd.read_parquet(current)
    one_day = month[pd.to_datetime(month["flight_date"]).dt.date == dt.date.fromisoformat(day)]
    columns = list(contracts.ALL_FEATURES)
    sample, seed = settings.drift_sample_rows, settings.drift_seed
    seconds: dict[str, dict[str, float]] = {}
    shares = {}
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        for case, cur in (("a day", one_day), ("a month", month)):
            html = Path(tmp) / f"drift-{case.replace(' ', '-')}.html"
            timings = {}
            for name, fn in (
                ("drift_daily", partial(drift_report, ref, cur, columns, sample, seed, None)),
                ("drift_report", partial(drift_report, ref, cur, columns, sample, seed, html)),
                ("scipy", partial(_scipy_drift, ref, cur, columns, sample, seed)),
            ):
                t0 = time.perf_counter()
                out = fn()
                if case == "a day":  # the first call of the process: imports included
                    timings[f"{name}:first_call_s"] = time.perf_counter() - t0
                warm = []
                for _ in range(warm_calls):
                    t0 = time.perf_counter()
                    fn()
                    warm.append(time.perf_counter() - t0)
                timings[f"{name}:warm_s"] = statistics.median(warm)
                if name == "drift_report":
                    shares[case] = out["drift_share"]
            seconds[case] = timings
    return {
        "seconds": seconds,
        "params": {
            "reference_rows": len(ref),
            "day_rows": len(one_day),
            "month_rows": len(month),
            "sample_rows": sample,
            "drift_share": shares,
        },
    }
