"""Batch scoring: tomorrow's scheduled flights, scored by the champion (and the challenger).

Features come from Feast at each flight's prediction time (`entities.prediction_time`, the
definition training uses), so a rescored past day gets exactly what it would have got then.
Predictions are upserted by (flight_id, model_version); the scored frame (features + scores)
is kept per day for monitoring's drift check.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from runway import entities
from runway.io import partition_file, write_parquet_atomic

log = logging.getLogger(__name__)
SCORED_TABLE = "scored"


class ChampionMissing(LookupError):
    """No model version carries the champion alias: scoring refuses and writes nothing."""


def scheduled_flights(source: Path, day: dt.date) -> pd.DataFrame:
    """The schedule of `day` from the replayed source: what is known the day before.

    Outcome columns (delays, times flown) are never read here.
    """
    columns = [
        "flight_id",
        "flight_date",
        "carrier",
        "flight",
        "tailnum",
        "origin",
        "dest",
        "sched_dep_time",
        "hour",
        "distance",
        "sched_dep_ts",
    ]
    table = ds.dataset(Path(source) / "flights.parquet").to_table(
        columns=columns, filter=ds.field("flight_date") == day
    )
    return table.to_pandas()


def _models(tracking_uri: str, model_name: str) -> dict[str, tuple[int, object]]:
    """{alias: (version, model)} for the champion and a distinct challenger: each the registered
    version's pyfunc behind `registry.load_scoring_model` (signature checked, no per-call
    MLflow conversion)."""
    from runway import registry

    champion = registry.champion_version(tracking_uri=tracking_uri, model_name=model_name)
    if champion is None:
        raise ChampionMissing(
            f"registered model {model_name!r} has no 'champion' alias: run training_pipeline "
            "(or model_rollback) first; nothing was scored"
        )
    challenger = registry.challenger_version(tracking_uri=tracking_uri, model_name=model_name)
    aliases = {"champion": champion} | (
        {"challenger": challenger} if challenger not in (None, champion) else {}
    )
    return {
        alias: (
            v,
            registry.load_scoring_model(
                registry.version_uri(v, model_name), tracking_uri=tracking_uri
            ),
        )
        for alias, v in aliases.items()
    }


def score_days(
    *,
    store,
    source: Path,
    days: list[dt.date],
    tracking_uri: str,
    model_name: str,
    sql_url: str,
    scored_dir: Path,
    run_id: str,
    scored_at: dt.datetime,
) -> dict:
    """Score the flights of each day; upsert predictions; keep the scored frames."""
    from runway import sql
    from runway.contracts import RAW_INPUTS
    from runway.features import store as feature_store

    models = _models(tracking_uri, model_name)  # refuses before anything is written
    engine = sql.engine(sql_url)
    sql.ensure_tables(engine)
    summary = {"days": len(days), "flights": 0, "models": {a: v for a, (v, _) in models.items()}}
    flights = pd.concat([scheduled_flights(source, day) for day in days], ignore_index=True)
    if flights.empty:
        log.info("no flights scheduled on %s: nothing to score", ", ".join(map(str, days)))
        return summary
    # One point-in-time retrieval for all the days: each flight still gets its own timestamp.
    frame = feature_store.historical_features(
        store, entities.entity_rows(flights, with_label=False)
    )
    model_input = frame[list(RAW_INPUTS)]  # the signature's columns: nothing for MLflow to drop
    for alias, (_, model) in models.items():
        frame[f"score_{alias}"] = pd.Series(model.predict(model_input), index=frame.index).astype(
            "float64"
        )
    frame["champion_version"] = models["champion"][0]
    for day, day_frame in frame.groupby("flight_date", sort=True):
        rows = [
            {
                "flight_id": flight_id,
                "model_version": version,
                "flight_date": day,
                "model_alias": alias,
                "score": float(score),
                "scored_at": scored_at,
                "run_id": run_id,
            }
            for alias, (version, _) in models.items()
            for flight_id, score in zip(
                day_frame["flight_id"], day_frame[f"score_{alias}"], strict=True
            )
        ]
        sql.upsert(engine, sql.predictions, rows)  # the day's rows in one transaction
        write_parquet_atomic(
            pa.Table.from_pandas(day_frame.reset_index(drop=True), preserve_index=False),
            partition_file(scored_dir, SCORED_TABLE, day.isoformat()),
        )
        summary["flights"] += len(day_frame)
        log.info("scored %d flights of %s with %s", len(day_frame), day, summary["models"])
    return summary


def read_scored(scored_dir: Path, days: list[dt.date]) -> pd.DataFrame:
    """The scored frames of `days` that exist (features, scores, champion version)."""
    paths = [partition_file(scored_dir, SCORED_TABLE, d.isoformat()) for d in days]
    present = [str(p) for p in paths if p.exists()]
    if not present:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(p) for p in present], ignore_index=True)
