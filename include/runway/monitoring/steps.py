"""The steps of `model_monitoring`: monitor scored days, then decide on retraining.

For each day: data drift of the scored flights' features against the reference the model that
scored them was trained with (its test window, logged at training), prediction drift, and the
realized performance once the day's outcomes have landed. Figures go to `monitoring_metrics`;
the HTML reports to the reports folder and MLflow. `decide_retraining` then takes the decision
day by day, in order, on what the table holds up to that day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pandas as pd

from runway import contracts
from runway.days import trailing
from runway.settings import Settings

log = logging.getLogger(__name__)
MONITORING_EXPERIMENT_SUFFIX = "-monitoring"


def reference_frame(settings: Settings, version: int) -> pd.DataFrame:
    """A version's test-window flights with its scores (cached locally once downloaded)."""
    return pd.read_parquet(_reference(settings, version, "REFERENCE_SCORES"))


def reference_entity_days(settings: Settings, version: int) -> tuple[pd.DataFrame, dict]:
    """A version's training-window entity-days and each column's calibrated drift alarm."""
    days = pd.read_parquet(_reference(settings, version, "REFERENCE_ENTITY_DAYS"))
    calibration = json.loads(_reference(settings, version, "REFERENCE_CALIBRATION").read_text())
    return days, calibration


def _reference(settings: Settings, version: int, name: str) -> Path:
    from runway import registry

    return registry.reference_file(
        version, getattr(registry, name), settings.references_dir,
        tracking_uri=settings.mlflow_uri, model_name=settings.model_name,
    )  # fmt: skip


def _champion_facts(settings: Settings, version: int) -> tuple[dict, dt.date | None]:
    """The champion's test figures, and the data day of the last retraining: the newest
    training window's end among all versions, promoted or not (a retraining the gate rejected
    still starts the cooldown: retrying every day on the same evidence would not help)."""
    from runway import registry

    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    metrics = registry.get_version_metrics(version, **where)
    ends = [end for end, _, _ in registry.versions_by_training_end(**where)]
    test = {name: metrics.get(f"test_{name}") for name in ("roc_auc", "log_loss", "ece")}
    return test, max(ends, default=None)


def _labels(raw_dir: Path, day: dt.date) -> pd.DataFrame | None:
    from runway import entities

    try:
        flights = entities.read_flights(raw_dir, [day])
    except FileNotFoundError:
        return None
    return entities.entity_rows(flights, with_label=True)[["flight_id", contracts.LABEL]]


def monitor_day(settings: Settings, day: dt.date, run_id: str, computed_at: dt.datetime) -> dict:
    """Monitor the trailing window ending `day`; write the day's metric rows; return them.

    The current data is the scored flights of the last `monitor_window_days` days that the
    same champion scored. Data drift compares their entity-days (`drift.entity_days`) with the
    champion's training window, each column against its calibrated alarm; prediction drift
    compares their scores with the champion's test window. Once the window's outcomes have
    all landed, realized performance is pooled over its flights, each figure with a day-block
    interval, comparable with the champion's test figures; the day's own AUC is kept beside
    it as `realized_day_auc`.
    """
    from runway import sql
    from runway.monitoring import drift as monitoring
    from runway.scoring import batch

    window = trailing(day, settings.monitor_window_days)
    scored = batch.read_scored(settings.scored_dir, window)  # the window's days, today's included
    today = scored[pd.to_datetime(scored["flight_date"]).dt.date == day] if len(scored) else scored
    if today.empty:
        return {"day": day.isoformat(), "status": "no scored flights"}
    version = int(today["champion_version"].iloc[0])
    scored = scored[scored["champion_version"] == version]
    full = len(set(scored["flight_date"])) == len(window)
    figures = {"flights_scored": len(today), "window_days": len(set(scored["flight_date"]))}
    landed = {d: _labels(settings.raw_dir, d) for d in window}
    landed = {d: frame for d, frame in landed.items() if frame is not None}
    outcomes = (
        pd.concat(landed.values(), ignore_index=True)
        if landed
        else pd.DataFrame(columns=["flight_id", contracts.LABEL])
    )
    labelled = scored[["flight_id", "flight_date", "score_champion"]].merge(
        outcomes, on="flight_id"
    )
    own = labelled[pd.to_datetime(labelled["flight_date"]).dt.date == day]
    own_auc = monitoring.realized_performance(
        own[contracts.LABEL].to_numpy(), own["score_champion"].to_numpy()
    )["auc"]
    if own_auc is not None:
        figures["realized_day_auc"] = own_auc
    status = "labels not landed yet" if day not in landed else "monitored"
    if full:  # the decision's figures need a whole window, comparable with the reference
        reference_days, calibration = reference_entity_days(settings, version)
        drift = monitoring.drift_report(
            reference_days, monitoring.entity_days(scored), list(contracts.ALL_FEATURES), None,
            settings.drift_seed, None, thresholds=calibration["thresholds"],
        )  # fmt: skip
        figures.update(drift_share=drift["drift_share"], drifted_columns=drift["drifted_columns"])
        figures["drift_distance"] = drift["per_column"]
        reference = reference_frame(settings, version)
        shift = monitoring.prediction_drift(reference["score_champion"], scored["score_champion"])
        figures.update(
            {f"prediction_{k}": v for k, v in shift.items() if isinstance(v, (int, float))}
        )
        figures["reference_positive_rate"] = float(reference[contracts.LABEL].mean())
        if set(landed) == set(window):
            realized = monitoring.realized_with_intervals(
                labelled[contracts.LABEL].to_numpy(), labelled["score_champion"].to_numpy(),
                labelled["flight_date"].astype(str).to_numpy(), seed=settings.drift_seed,
            )  # fmt: skip
            figures.update({f"realized_{k}": v for k, v in realized.items() if v is not None})
    else:
        status += (
            f"; window {figures['window_days']}/{len(window)} days: no drift or decay figures yet"
        )
    engine = sql.engine(settings.sql_url)
    sql.ensure_tables(engine)
    rows = monitoring.metric_rows(day, version, figures, run_id, computed_at)
    sql.upsert(engine, sql.monitoring_metrics, rows)
    return {"day": day.isoformat(), "status": status, "model_version": version, **figures}


def drift_html(settings: Settings, days: list[dt.date], version: int) -> Path:
    """The full Evidently report of the days' entity-days against the version's training
    window, each column with its calibrated threshold."""
    from runway.monitoring import drift as monitoring
    from runway.scoring import batch

    scored = batch.read_scored(settings.scored_dir, days)
    scored = scored[scored["champion_version"] == version]
    html = settings.reports_dir / "monitoring" / f"drift-{days[0]}_{days[-1]}-v{version}.html"
    reference_days, calibration = reference_entity_days(settings, version)
    header = "\n".join(
        [
            f"Runway drift report: {days[0]}..{days[-1]} against {settings.model_name} "
            f"version {version}'s training window",
            f"Unit: entity-days (one row per carrier, airport, route, plane or airport-hour and "
            f"day); {len(contracts.ALL_FEATURES)} feature columns.",
            "A column drifts past its own alarm, calibrated on the training window's week-to-week "
            "variation (1.2 x its largest leave-one-week-out distance, at least 0.1).",
            f"A drift day: at least {settings.retrain.drift_threshold:.0%} of the columns drift "
            f"(the dataset line below uses the same share); retraining after "
            f"{settings.retrain.consecutive_days} drift days in a row.",
        ]
    )
    monitoring.drift_report(
        reference_days, monitoring.entity_days(scored), list(contracts.ALL_FEATURES), None,
        settings.drift_seed, html, thresholds=calibration["thresholds"], header=header,
        drift_share=settings.retrain.drift_threshold,
    )  # fmt: skip
    return html


def monitor(
    settings: Settings, days: list[dt.date], *, run_id: str, computed_at: dt.datetime
) -> dict:
    """Monitor the days in order; write their figures and a drift report per champion."""
    results = []
    for day in days:
        figures = monitor_day(settings, day, run_id, computed_at)
        results.append(figures)
        log.info("monitoring %s", json.dumps(figures, default=str))
    monitored = [r for r in results if "model_version" in r]
    reports = [
        str(
            drift_html(
                settings,
                [dt.date.fromisoformat(r["day"]) for r in monitored if r["model_version"] == v],
                v,
            )
        )
        for v in sorted({r["model_version"] for r in monitored})
    ]
    _log_reports(settings, monitored, reports, run_id)
    return {"days": results, "reports": reports}


def _history(settings: Settings, version: int, day: dt.date) -> pd.DataFrame:
    import sqlalchemy as sa

    from runway import sql

    table = sql.monitoring_metrics
    query = sa.select(table.c.day, table.c.metric, table.c.value).where(
        table.c.model_version == version, table.c.day <= day
    )
    with sql.engine(settings.sql_url).connect() as conn:
        return pd.DataFrame(conn.execute(query).fetchall(), columns=["day", "metric", "value"])


def decide_retraining(
    settings: Settings, summary: dict, *, training_active: bool, allowed: bool
) -> dict | None:
    """The conf of the training run to trigger, or None: the first monitored day, in order,
    whose decision (`decision.retraining_decision`) says retrain."""
    from runway.monitoring.decision import describe, retraining_decision

    for figures in summary["days"]:
        if "model_version" not in figures:
            continue
        day, version = dt.date.fromisoformat(figures["day"]), figures["model_version"]
        test, trained_until = _champion_facts(settings, version)
        verdict = retraining_decision(
            _history(settings, version, day),
            today=day,
            champion=test,
            last_retrain=dt.datetime.combine(trained_until, dt.time()) if trained_until else None,
            policy=settings.retrain,
            training_active=training_active,
            allowed=allowed,
        )
        log.info("retraining decision for %s:\n%s", day, describe(verdict))
        if verdict.reason in ("not allowed", "training active"):
            log.info("retraining wanted (%s) but %s: not triggering", verdict.fired, verdict.reason)
            return None
        if verdict.retrain:
            return retraining_conf(
                day, verdict.reason, verdict.evidence, settings.retrain.window_days
            )
    return None


def retraining_conf(day: dt.date, reason: str, evidence: dict, window_days: int) -> dict:
    """The training run's conf for a retraining decided on `day`: the window ending there."""
    return {
        "reason": f"{reason} detected on {day}",
        "evidence": evidence,
        "window_start": (day - dt.timedelta(days=window_days - 1)).isoformat(),
        "window_end": day.isoformat(),
        "promotion": "auto",
    }


def _log_reports(
    settings: Settings, monitored: list[dict], reports: list[str], run_id: str
) -> None:
    """One MLflow run per monitoring run: the daily figures as metrics, the HTML reports."""
    import mlflow

    from runway.registry import ensure_experiment, tracking

    if not monitored:
        return
    with tracking(settings.mlflow_uri) as client:
        experiment = ensure_experiment(
            client,
            settings.experiment + MONITORING_EXPERIMENT_SUFFIX,
            settings.mlflow_artifact_location,
        )
        with mlflow.start_run(
            experiment_id=experiment,
            run_name=f"monitoring {monitored[0]['day']}..{monitored[-1]['day']}",
        ):
            mlflow.set_tag("airflow_run_id", run_id)
            for result in monitored:
                step = dt.date.fromisoformat(result["day"]).toordinal()
                mlflow.log_metrics(
                    {k: float(v) for k, v in result.items() if isinstance(v, (int, float))},
                    step=step,
                )
            for report in reports:
                mlflow.log_artifact(report, "drift_reports")
