"""Is the champion still fit for the flights it scores? Drift and realized performance.

Measurements, each a plain function of its inputs: data drift of the model's input columns
against its training window (Evidently, with an HTML report), drift of the scores and of the
realized delayed rate, and realized performance once the day's labels have landed. They become
rows of the `monitoring_metrics` table (`metric_rows`), which `runway.monitoring.decision`
reads to decide whether to retrain.

Data drift is judged where the features vary: every feature is constant within an entity and
a day (a carrier's delay rate of yesterday is the same for all its flights), so it is measured
over entity-days (`entity_days`: one row per entity and flight day, per feature table), not
over flights, and each column's alarm is calibrated on the variation its own training window
shows week to week (`calibrate`): a column drifts when today's distance exceeds what any week
of the reference showed against the others, with a margin. A normal week is then quiet, and a
season is loud.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from runway.metrics import classification_metrics

# Evidently 0.7 metric types in `Snapshot.dict()["metrics"][i]["config"]["type"]`.
_DRIFTED_COLUMNS_COUNT = "evidently:metric_v2:DriftedColumnsCount"
_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"

TABLE = "_table"  # which feature table an entity-day row belongs to
CALIBRATED_METHOD = "wasserstein"  # Evidently's normed Wasserstein distance
CALIBRATION_MARGIN = 1.2  # alarm above 1.2x the largest week-to-week distance of the reference
CALIBRATION_FLOOR = 0.1  # and never below Evidently's own default threshold
WEEK = 7


# ---- data drift --------------------------------------------------------------------------------
def _sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    if rows is not None and len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def _write_html_atomic(snapshot, html_path: Path, header: str = "") -> Path:
    """Evidently's report, with `header` (what the report covers) at the top of its page."""
    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=html_path.parent, prefix=f".{html_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        snapshot.save_html(tmp)  # Evidently writes only when given a str path
        if header:
            _add_header(Path(tmp), header)
        os.replace(tmp, html_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return html_path


def _add_header(path: Path, header: str) -> None:
    import html
    import re

    text = path.read_text()
    title = html.escape(header.splitlines()[0])
    text = re.sub(r"<title>.*?</title>", f"<title>{title}</title>", text, count=1, flags=re.S)
    lines = "".join(f"<div>{html.escape(line)}</div>" for line in header.splitlines()[1:])
    banner = (
        '<div style="font-family:system-ui,sans-serif;margin:1rem 1.5rem;padding:.6rem 1rem;'
        'border:1px solid #d8dee6;border-radius:6px;background:#f6f8fa">'
        f"<h2 style='margin:.2rem 0'>{title}</h2>{lines}</div>"
    )
    text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, text, count=1)
    path.write_text(text)


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    sample: int | None,
    seed: int,
    html_path: Path | None,
    thresholds: Mapping[str, float] | None = None,
    method: str = CALIBRATED_METHOD,
    header: str = "",
    drift_share: float = 0.5,
) -> dict:
    """Evidently's data drift of `columns`, `current` against `reference`.

    With `thresholds` ({column: alarm}, from `calibrate`), every numeric column is tested with
    `method` (normed Wasserstein distance) against its own threshold, and each column's
    distance is itemised; without, Evidently's defaults (below) apply.

    With `html_path`, the full DataDriftPreset runs and its HTML report is written there (per
    column distributions: rich, and ~7x slower, most of it plotting). Without, only Evidently's
    DriftedColumnsCount runs, with the same per-column tests: the daily figure, cheaply.

    Both frames are sampled to at most `sample` rows with `seed` (Evidently's cost grows with
    rows; the same seed gives the same report on a rerun; None: every row). Numeric columns are
    numerical, every other column categorical; Evidently picks each column's test by its type
    and the reference's size (above 1000 rows: normed Wasserstein distance, drift at >= 0.1, for
    numbers with more than 5 values, else Jensen-Shannon distance; up to 1000 rows: K-S,
    chi-square or z-test p-values, drift below 0.05), and `methods` names the one used.

    A column without values on one side only counts as drifted (its score is None); one
    empty on both sides as not drifted; neither reaches Evidently, which refuses them.

    Returns `drift_share` (drifted / all `columns`), `drifted_columns`, `columns` (their
    number), `per_column` ({column: the test's score or p-value}), `methods` ({column: the
    test}), `empty_columns` and `html` (the report's path, written atomically).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = list(columns)
    if not columns:
        raise ValueError("drift_report needs at least one column")
    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise KeyError(f"the {name} frame lacks the columns {missing}")
        if frame.empty:
            raise ValueError(f"the {name} frame has no rows: nothing to compare")
    reference = _sample(reference[columns], sample, seed)
    current = _sample(current[columns], sample, seed)
    if thresholds is not None:
        unknown = [c for c in columns if c not in thresholds]
        if unknown:
            raise KeyError(f"no calibrated threshold for the columns {unknown}")
    numerical = [c for c in columns if pd.api.types.is_numeric_dtype(reference[c])]
    categorical = [c for c in columns if c not in numerical]
    for frame in (reference, current):
        for col in numerical:  # one dtype on both sides (int in one frame, float in the other)
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        for col in categorical:
            frame[col] = frame[col].where(frame[col].isna(), frame[col].astype(str))

    # Evidently refuses a column without values. Empty on one side only is drift (a feature
    # that stopped arriving, or one the reference never had); empty on both sides is not.
    empty_ref = {c for c in columns if reference[c].isna().all()}
    empty_cur = {c for c in columns if current[c].isna().all()}
    one_sided = sorted(empty_ref ^ empty_cur, key=columns.index)
    compared = [c for c in columns if c not in empty_ref | empty_cur]
    if not compared:
        raise ValueError(f"no column of {columns} has values on both sides: nothing to compare")

    definition = DataDefinition(
        numerical_columns=[c for c in numerical if c in compared],
        categorical_columns=[c for c in categorical if c in compared],
    )
    options = {}
    if thresholds is not None:
        options = {
            "method": method,
            "per_column_threshold": {c: float(thresholds[c]) for c in compared},
        }
    if thresholds is not None and categorical:
        raise ValueError(f"calibrated thresholds are for numeric columns, not {categorical}")
    if html_path is None and thresholds is not None:
        # the daily figure, itemised: Evidently's own test of each column, without the report's
        # per-column plots (which cost ~60 ms a column)
        per_column = {
            c: _distance(reference[c], current[c], method, thresholds[c]) for c in compared
        }
        drifted = sum(1 for c in compared if per_column[c] >= thresholds[c]) + len(one_sided)
        return {
            "drift_share": drifted / len(columns),
            "drifted_columns": drifted,
            "columns": len(columns),
            "per_column": {c: (None if c in one_sided else per_column.get(c)) for c in columns},
            "methods": {
                c: (
                    method
                    if c in per_column
                    else "empty on one side"
                    if c in one_sided
                    else "empty on both sides"
                )
                for c in columns
            },
            "empty_columns": sorted(empty_ref | empty_cur, key=columns.index),
            "thresholds": dict(thresholds),
            "html": None,
        }
    if html_path is None:
        from evidently.metrics import DriftedColumnsCount

        report = Report([DriftedColumnsCount(columns=compared)], include_tests=False)
    else:
        preset = DataDriftPreset(columns=compared, drift_share=drift_share, **options)
        report = Report([preset], include_tests=False)
    snapshot = report.run(  # current first, then the reference
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    results = snapshot.dict()["metrics"]
    counts = [m for m in results if m.get("config", {}).get("type") == _DRIFTED_COLUMNS_COUNT]
    if len(counts) != 1:
        raise RuntimeError(f"Evidently's report holds {len(counts)} DriftedColumnsCount, not 1")
    per_column, methods = {}, {}
    for m in results:
        config = m.get("config", {})
        if config.get("type") == _VALUE_DRIFT:
            per_column[config["column"]] = _finite(m["value"])
            methods[config["column"]] = config.get("method")
    drifted_compared = int(counts[0]["value"]["count"])
    for col in one_sided:
        per_column[col], methods[col] = None, "empty on one side"
    html = _write_html_atomic(snapshot, html_path, header) if html_path is not None else None
    drifted = drifted_compared + len(one_sided)
    return {
        "drift_share": drifted / len(columns),
        "drifted_columns": drifted,
        "columns": len(columns),
        "per_column": {c: per_column.get(c) for c in columns},
        "methods": {
            c: methods.get(
                c, "empty on both sides" if c in empty_ref & empty_cur else "counted, not itemised"
            )
            for c in columns
        },
        "empty_columns": sorted(empty_ref | empty_cur, key=columns.index),
        "thresholds": dict(thresholds) if thresholds is not None else None,
        "html": str(html) if html else None,
    }


def _distance(reference: pd.Series, current: pd.Series, method: str, threshold: float) -> float:
    """Evidently's stat test `method` of one numeric column (NaN dropped, as its reports do)."""
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    test = get_stattest(reference, current, ColumnType.Numerical, method)
    result = test(reference.dropna(), current.dropna(), ColumnType.Numerical, threshold)
    return float(result.drift_score)


# ---- entity-days and the calibration of each column's alarm -------------------------------------


def entity_days(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per entity and flight day, for each feature table, stacked.

    From flights carrying their features (a training set, scored frames), each table's rows
    are its keys' distinct (entity, flight_date) pairs with that table's features; a stacked
    row holds its own table's features and NaN for the other tables' (Evidently drops NaN per
    column, so each column is compared over its own table's entity-days). Columns: `_table`,
    `flight_date`, then `contracts.ALL_FEATURES`.
    """
    from runway import contracts

    missing = [c for c in ("flight_date", *contracts.ENTITY_COLUMNS, *contracts.ALL_FEATURES)
               if c not in frame.columns]  # fmt: skip
    if missing:
        raise KeyError(f"the frame lacks the columns {missing}")
    parts = []
    for table in contracts.FEATURE_TABLES:
        keys = list(contracts.TABLE_KEYS[table])
        rows = frame[[*keys, "flight_date", *contracts.TABLE_FEATURES[table]]]
        rows = rows.drop_duplicates([*keys, "flight_date"]).drop(columns=keys)
        parts.append(rows.assign(**{TABLE: table}))
    stacked = pd.concat(parts, ignore_index=True)
    stacked["flight_date"] = pd.to_datetime(stacked["flight_date"]).dt.date
    return stacked[[TABLE, "flight_date", *contracts.ALL_FEATURES]]


def _blocks(days: list[dt.date]) -> list[list[dt.date]]:
    """The reference's whole weeks, counted back from its last day; a reference shorter than
    three weeks is cut into three equal blocks instead (each at least a day)."""
    days = sorted(set(days))
    size = WEEK if len(days) >= 3 * WEEK else len(days) // 3
    if size < 1:
        return []
    blocks = []
    end = len(days)
    while end - size >= 0:
        blocks.append(days[end - size : end])
        end -= size
    return blocks[::-1]


def calibrate(
    reference: pd.DataFrame,
    columns: list[str],
    margin: float = CALIBRATION_MARGIN,
    floor: float = CALIBRATION_FLOOR,
) -> dict:
    """Each column's drift alarm, from the week-to-week variation of the reference itself.

    `reference` holds entity-days (`entity_days`), normally of several weeks. For every week
    of it, Evidently's normed Wasserstein distance of each column, that week against the other
    weeks: the distances a no-change week produces. A column's threshold is `margin` times the
    largest of them, at least `floor`. A reference shorter than three weeks is cut into three
    blocks instead (shorter blocks vary more: its alarms are more lenient). Returns
    {"thresholds": {column: threshold}, "null": {column: [distance per block]}, "weeks":
    [[first, last]], "margin", "floor", "method"}, JSON-serialisable.
    """
    days = pd.to_datetime(reference["flight_date"]).dt.date
    weeks = _blocks(list(days.unique()))
    if len(weeks) < 3:
        raise ValueError(
            f"calibrating drift needs at least 3 days of reference, got {days.nunique()} "
            f"({days.min()}..{days.max()})"
        )
    null: dict[str, list[float | None]] = {c: [] for c in columns}
    for week in weeks:
        inside = days.isin(week).to_numpy()
        found = drift_report(
            reference[~inside], reference[inside], columns, None, 0, None,
            thresholds={c: 1.0 for c in columns},
        )  # fmt: skip
        for c in columns:
            null[c].append(found["per_column"][c])
    thresholds = {}
    for c in columns:
        seen = [v for v in null[c] if v is not None]
        thresholds[c] = max(floor, margin * max(seen)) if seen else floor
    return {
        "thresholds": thresholds,
        "null": null,
        "weeks": [[w[0].isoformat(), w[-1].isoformat()] for w in weeks],
        "margin": margin,
        "floor": floor,
        "method": CALIBRATED_METHOD,
    }


# ---- prediction drift and realized performance --------------------------------------------------
def _finite(value) -> float | None:
    """A float, or None where it is undefined (JSON and SQL have no NaN)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _scores(values) -> np.ndarray:
    values = np.asarray(values, dtype="float64").ravel()
    return values[np.isfinite(values)]


def prediction_drift(reference_scores, current_scores) -> dict:
    """How far today's scores moved from the reference scores (the champion on its test set).

    `score_wasserstein`: Wasserstein distance divided by the reference scores' standard
    deviation (the measure Evidently uses for numbers; ~0.1 is a noticeable move);
    `score_ks_pvalue` / `score_ks_statistic`: two-sample Kolmogorov-Smirnov test;
    `score_mean_shift`: current mean - reference mean; `score_mean` and `score_rows` of today.
    Undefined values (no scores, constant reference) are None. NaN scores are ignored.
    """
    from scipy import stats

    ref = _scores(reference_scores)
    cur = _scores(current_scores)
    out = {
        "score_wasserstein": None,
        "score_ks_pvalue": None,
        "score_ks_statistic": None,
        "score_mean_shift": None,
        "score_mean": float(cur.mean()) if len(cur) else None,
        "score_rows": int(len(cur)),
    }
    if len(ref) == 0 or len(cur) == 0:
        return out
    ks = stats.ks_2samp(ref, cur)
    std = float(ref.std())
    out["score_ks_pvalue"] = _finite(ks.pvalue)
    out["score_ks_statistic"] = _finite(ks.statistic)
    out["score_mean_shift"] = float(cur.mean() - ref.mean())
    if ref.max() > ref.min():  # a constant reference has no spread to measure against
        out["score_wasserstein"] = _finite(stats.wasserstein_distance(ref, cur) / std)
    return out


def realized_performance(y, p) -> dict:
    """How the scores of labelled flights did: `auc`, `brier`, `ece`, `n`, `positive_rate`.

    `auc` is None when the rows hold one class (or none); everything but `n` is None on
    zero rows.
    """
    y = np.asarray(y, dtype="int64").ravel()
    p = np.asarray(p, dtype="float64").ravel()
    if len(y) != len(p):
        raise ValueError(f"{len(y)} labels but {len(p)} scores")
    if len(y) == 0:
        return {"auc": None, "brier": None, "ece": None, "n": 0, "positive_rate": None}
    metrics = classification_metrics(y, p)
    return {
        "auc": _finite(metrics["roc_auc"]),
        "brier": _finite(metrics["brier"]),
        "ece": _finite(metrics["ece"]),
        "n": int(len(y)),
        "positive_rate": _finite(y.mean()),
    }


INTERVAL_METRICS = {  # figure name -> runway.intervals metric
    "auc": "roc_auc",
    "daily_auc": "daily_auc",
    "log_loss": "log_loss",
    "ece": "ece",
    "positive_rate": "rate",
}


def realized_with_intervals(y, p, days, *, resamples: int = 1000, seed: int = 0) -> dict:
    """`realized_performance`, and for AUC, the mean daily AUC, log loss, ECE and the delayed
    rate a day-block bootstrap interval (`<name>_low`, `<name>_high`, 90%) over `days`: the
    flights of a day share its weather, so only whole days are resampled."""
    from runway import intervals

    out = realized_performance(y, p)
    if out["n"] == 0:
        return out
    for name, metric in INTERVAL_METRICS.items():
        estimate = intervals.estimate(y, p, days, metric, resamples=resamples, seed=seed)
        out[name] = _finite(estimate.value)
        out[f"{name}_low"], out[f"{name}_high"] = _finite(estimate.low), _finite(estimate.high)
    out["days"] = int(len(set(np.asarray(days).tolist())))
    return out


def metric_rows(
    day: dt.date, model_version: int, metrics: dict, run_id: str, computed_at: dt.datetime
) -> list[dict]:
    """Rows of `monitoring_metrics` for one day and model version.

    Numbers (and None: undefined that day) become rows; nested dicts are flattened with
    dots (`per_column.dep_delay`); strings (report paths, method names) are not metrics
    and are left out. Booleans are stored as 0/1.
    """
    rows = []

    def add(name: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                add(f"{name}.{key}", inner)
        elif isinstance(value, str):
            return
        elif value is None or isinstance(value, (bool, int, float, np.number)):
            rows.append(
                {
                    "day": day,
                    "model_version": int(model_version),
                    "metric": name,
                    "value": _finite(value),
                    "run_id": run_id,
                    "computed_at": computed_at,
                }
            )
        else:
            raise TypeError(f"metric {name!r} is a {type(value).__name__}, not a number")

    for name, value in metrics.items():
        add(name, value)
    return rows
