"""Figure 4: the scoring path's rows/s, a day and the full year, beside the raw booster.

A quick XGBoost model (`train_candidate("xgboost", ..., n_trials=1, timeout_s=30)` on the
training window, Settings.train_threads threads as the training DAG passes) is logged with
`runway.training.tracking.log_candidate` into a scratch SQLite MLflow store and loaded back with
`runway.registry.load_scoring_model` (the pyfunc model of `mlflow.pyfunc.load_model`, as batch
scoring loads it). Contenders, on the same featured frame (`historical_features`' shape: entity
columns + features):
- runway: `load_scoring_model(uri).predict(frame)`, what batch scoring calls: the registered
  model's signature checked by `runway.signature` (same columns and dtype rules as MLflow's),
  then the scorer: the project path of the target;
- pyfunc: the loaded model's `predict(frame)` (MLflow's schema enforcement, then the scorer):
  the public interface users call, reported beside it;
- scorer: the unwrapped `Scorer.predict_proba(frame)` (no MLflow layer), to split the overhead;
- raw: the booster's `inplace_predict` on the matrix the scorer builds (`Vocabulary.matrix`,
  built once, untimed): the baseline of the target;
- raw-frame: `inplace_predict` on the pandas frame with categorical columns the booster was
  trained on (built once, untimed): the usual way to call XGBoost, for reference.
The scores are checked equal. Each case is timed over several calls per repeat, the contenders
called in turn (median call).
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

from bench.context import Context
from bench.harness import Figure, run_child

CONTENDERS = ("runway", "pyfunc", "scorer", "raw", "raw-frame")
DAY_CALLS = 20
YEAR_CALLS = 3  # one timed call of the year varied from 460k to 785k rows/s between repeats


def score_range(ctx: Context) -> tuple[dt.date, dt.date]:
    return ctx.range(ctx.args.train_range) if ctx.quick else ctx.range("flights-year")


def train_frames(ctx: Context):
    """The featured frame of the training window (entity rows + PIT features)."""
    world = ctx.world(1)
    start, end = ctx.range(ctx.args.train_range)
    return world, world.featured_frame(start, end, ctx.log)


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="scoring",
        title="Scoring path: rows/s for a day and the full year",
        contender="runway (registry.load_scoring_model(uri).predict(frame), batch scoring's path)",
        baselines=[
            "pyfunc (mlflow.pyfunc.load_model(...).predict(frame), the public interface)",
            "raw (xgboost Booster.inplace_predict on the scorer's prepared matrix)",
            "scorer (runway Scorer.predict_proba without the MLflow wrapper)",
            "raw-frame (inplace_predict on the prepared pandas categorical frame)",
        ],
    )
    world, train = train_frames(ctx)
    first, last = score_range(ctx)
    ctx.say(f"scoring: preparing the featured flights of {first}..{last}")
    frame = world.featured_frame(first, last, ctx.log)
    scratch = Path(tempfile.mkdtemp(prefix="bench-mlflow-", dir=world.scratch))
    try:
        ctx.say("scoring: training and logging a quick xgboost model")
        model = run_child(
            "bench.figures.scoring:train_child",
            {"train": str(train), "mlflow_dir": str(scratch)},
            env=world.env(),
            log=ctx.log,
        )
        fig.params = {
            "training_window": ctx.args.train_range,
            "scored": f"{first}..{last}",
            "model": model["model_uri"],
            "best_iteration": model["best_iteration"],
            "valid_auc": model["valid_auc"],
            "train_rows": model["train_rows"],
            "day_calls_per_repeat": DAY_CALLS,
            "year_calls_per_repeat": YEAR_CALLS,
            "repeats": ctx.repeats,
        }
        samples: dict[tuple[str, str], list[float]] = {}
        parts: dict[str, list[float]] = {}
        for rep in range(ctx.repeats):
            ctx.say(f"scoring: run {rep + 1}/{ctx.repeats}")
            result = run_child(
                "bench.figures.scoring:score_child",
                {"frame": str(frame), "model_uri": model["model_uri"], "mlflow_dir": str(scratch)},
                env=world.env(),
                log=ctx.log,
            )
            for case, by in result["rows_per_s"].items():
                for contender, value in by.items():
                    samples.setdefault((case, contender), []).append(value)
            for name, value in result["year_parts_s"].items():
                parts.setdefault(name, []).append(value)
            fig.params["rows"] = result["rows"]
            fig.params["max_abs_diff"] = result["max_abs_diff"]
        for (case, contender), values in samples.items():
            fig.measure(case, contender, "rows_per_s", values, "rows/s")
        for name, values in parts.items():
            fig.measure("year: where pyfunc's time goes", name, "seconds", values, "s")
        for case in dict.fromkeys(c for c, _ in samples):
            runway_share = fig.add_ratio(
                f"{case}: runway / raw rows/s",
                fig.get(case, "runway", "rows_per_s"),
                fig.get(case, "raw", "rows_per_s"),
                "share of the raw booster's throughput (batch scoring's path)",
            )
            share = fig.add_ratio(
                f"{case}: pyfunc / raw rows/s",
                fig.get(case, "pyfunc", "rows_per_s"),
                fig.get(case, "raw", "rows_per_s"),
                "share of the raw booster's throughput",
            )
            fig.add_ratio(
                f"{case}: scorer / raw rows/s",
                fig.get(case, "scorer", "rows_per_s"),
                fig.get(case, "raw", "rows_per_s"),
                "share without the MLflow layer",
            )
            fig.add_ratio(
                f"{case}: pyfunc / raw-frame rows/s",
                fig.get(case, "pyfunc", "rows_per_s"),
                fig.get(case, "raw-frame", "rows_per_s"),
                "share of inplace_predict on a pandas frame",
            )
            fig.target(
                f"{case}: runway >= 80% of raw inplace_predict rows/s", runway_share, ">=", 0.8, "x"
            )
            fig.target(
                f"{case}: pyfunc >= 50% of raw inplace_predict rows/s", share, ">=", 0.5, "x"
            )
        fig.check(
            "runway and pyfunc scores == raw booster scores (max abs diff < 1e-6)",
            fig.params["max_abs_diff"] < 1e-6,
            fig.params["max_abs_diff"],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if ctx.quick:
        fig.notes.append("--quick: 'year' is the 3-week training window, not the year")
    return fig


# ---- child bodies -----------------------------------------------------------------------------
def train_child(train: str, mlflow_dir: str) -> dict:
    import pandas as pd

    from runway.settings import load_settings
    from runway.training.candidates import train_candidate
    from runway.training.data import split_by_date, training_data_hash
    from runway.training.tracking import lineage_tags, log_candidate

    settings = load_settings()
    frame = pd.read_parquet(train)
    split = split_by_date(frame, valid_days=7, test_days=7)
    result = train_candidate(
        "xgboost",
        split.train,
        split.valid,
        n_trials=1,
        timeout_s=30,
        device="cpu",
        threads=settings.train_threads or None,
    )
    tags = lineage_tags(
        feature_service=settings.feature_service,
        feature_service_version="1",
        training_window="bench",
        data_hash=training_data_hash(frame),
        git_commit="bench",
        airflow_run_id=f"bench-{time.time_ns()}",
    )
    logged = log_candidate(
        result,
        split.test,
        f"sqlite:///{mlflow_dir}/mlflow.db",
        "bench",
        tags,
        artifact_location=Path(mlflow_dir) / "artifacts",
        model_name="bench_flight_delay",
    )
    return {
        "model_uri": logged.model_uri,
        "best_iteration": result.best_iteration,
        "valid_auc": result.valid_metrics["roc_auc"],
        "train_rows": result.train_rows,
    }


def _timed(fn, calls: int = 1) -> float:
    seconds = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds)


def _interleaved(contenders: dict, calls: int) -> dict[str, float]:
    """Median seconds per contender, called in turn (A B C A B C ...): a neighbour's burst on
    this shared machine slows them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(calls):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in seconds.items()}


def score_child(frame: str, model_uri: str, mlflow_dir: str) -> dict:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models.utils import _enforce_schema

    from runway.contracts import RAW_INPUTS
    from runway.registry import load_scoring_model, tracking
    from runway.training.inputs import model_frame

    uri = f"sqlite:///{mlflow_dir}/mlflow.db"
    with tracking(uri):
        model = mlflow.pyfunc.load_model(model_uri)
    scoring = load_scoring_model(model_uri, tracking_uri=uri)  # what batch scoring loads
    scorer = model.unwrap_python_model().scorer
    booster, best = scorer.booster, scorer.best_iteration
    year = pd.read_parquet(frame)[list(RAW_INPUTS)]  # what batch scoring hands the model
    days = pd.to_datetime(year["flight_date"])
    day = year[days == days.iloc[len(days) // 2]].reset_index(drop=True)
    rows_per_s, rows, diff = {}, {}, 0.0
    for case, data, calls in (("a day", day, DAY_CALLS), ("full year", year, YEAR_CALLS)):
        matrix = scorer.vocab.matrix(data)  # the raw baselines' prepared inputs
        categorical = scorer.vocab.categorical(model_frame(data))
        raw = partial(booster.inplace_predict, matrix, iteration_range=(0, best + 1))
        contenders = {
            "runway": partial(scoring.predict, data),
            "pyfunc": partial(model.predict, data),
            "scorer": partial(scorer.predict_proba, data),
            "raw": raw,
            "raw-frame": partial(
                booster.inplace_predict, categorical, iteration_range=(0, best + 1)
            ),
        }
        for fn in contenders.values():  # warm-up
            fn()
        seconds = _interleaved(contenders, calls)
        rows_per_s[case] = {name: len(data) / s for name, s in seconds.items()}
        rows[case] = len(data)
        for fn in (model.predict, scoring.predict):
            diff = max(diff, float(np.max(np.abs(np.asarray(fn(data)) - raw()))))
    # where the pyfunc's time goes on the year
    matrix = scorer.vocab.matrix(year)
    schema = model.metadata.get_input_schema()
    parts = {
        "runway predict (total)": _timed(lambda: scoring.predict(year)),
        "runway signature check": _timed(lambda: scoring.check(year)),
        "pyfunc predict (total)": _timed(lambda: model.predict(year)),
        "MLflow schema enforcement": _timed(lambda: _enforce_schema(year, schema)),
        "Vocabulary.matrix": _timed(lambda: scorer.vocab.matrix(year)),
        "inplace_predict(matrix)": _timed(
            lambda: booster.inplace_predict(matrix, iteration_range=(0, best + 1))
        ),
        "model_frame + categorical (training's form)": _timed(
            lambda: scorer.vocab.categorical(model_frame(year))
        ),
    }
    return {"rows_per_s": rows_per_s, "rows": rows, "max_abs_diff": diff, "year_parts_s": parts}
