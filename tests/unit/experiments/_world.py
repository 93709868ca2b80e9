"""A small world for the experiment steps: a registry with a champion and a challenger,
raw flights with their outcomes, and the service's answers (shared by unit and Airflow tests)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from scipy import special

from runway import contracts, registry, sql
from runway.experiments.assignment import CHALLENGER, arms
from runway.io import partition_file, write_parquet_atomic
from runway.settings import Settings

START = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
FLIGHTS = 800
SERVED = sql.served_predictions


def registry_with_two_versions(settings: Settings, tmp_path) -> None:
    """Versions 1 (champion) and 2 (challenger) of the model, each with a test AUC and a
    reference frame of 7 days x FLIGHTS at a delayed rate of 0.25: real MLflow, no model."""
    client = registry.mlflow_client(settings.mlflow_uri)
    client.create_registered_model(settings.model_name)
    experiment = client.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    reference = pd.DataFrame(
        {
            "flight_date": np.repeat(pd.date_range("2026-02-01", periods=7).date, FLIGHTS),
            contracts.LABEL: (np.arange(7 * FLIGHTS) % 4 == 0).astype("int64"),
            "score_champion": 0.25,
        }  # fmt: skip
    )
    for _ in range(2):
        run = client.create_run(experiment)
        client.log_metric(run.info.run_id, "test_roc_auc", 0.70)
        registry.log_reference(
            run.info.run_id, {registry.REFERENCE_SCORES: reference},
            tracking_uri=settings.mlflow_uri,
        )  # fmt: skip
        mv = client.create_model_version(
            settings.model_name, f"{run.info.artifact_uri}/model", run.info.run_id
        )
        client.set_model_version_tag(
            settings.model_name, mv.version, registry.GATE_PASSED_TAG, "true"
        )
    client.set_registered_model_alias(settings.model_name, registry.CHAMPION, "1")
    client.set_registered_model_alias(settings.model_name, registry.CHALLENGER, "2")


def land_and_serve(settings: Settings, experiment: dict, day: dt.date, rng) -> None:
    """A day's raw flights (their outcomes) and the service's answers for them."""
    x = rng.normal(size=FLIGHTS)
    delayed = rng.random(FLIGHTS) < special.expit(-1.2 + rng.normal(0, 0.5) + x)
    ids = [f"{day}-UA-{i}-EWR-0900" for i in range(FLIGHTS)]
    raw = pa.table(
        {name: pa.nulls(FLIGHTS, type=field.type) for name, field in
         zip(contracts.RAW_FLIGHTS_SCHEMA.names, contracts.RAW_FLIGHTS_SCHEMA, strict=True)}
    )  # fmt: skip
    columns = {
        "flight_id": ids, "flight_date": [day] * FLIGHTS, "carrier": ["UA"] * FLIGHTS,
        "flight": list(range(FLIGHTS)), "tailnum": ["N1"] * FLIGHTS, "origin": ["EWR"] * FLIGHTS,
        "dest": ["ORD"] * FLIGHTS, "sched_dep_time": [900] * FLIGHTS, "hour": [9] * FLIGHTS,
        "distance": [700.0] * FLIGHTS, "arr_delay": np.where(delayed, 60.0, 0.0).tolist(),
    }  # fmt: skip
    for name, values in columns.items():
        index = raw.schema.get_field_index(name)
        raw = raw.set_column(index, name, pa.array(values, type=raw.schema.field(name).type))
    write_parquet_atomic(raw, partition_file(settings.raw_dir, "flights", day.isoformat()))
    arm = arms(experiment["salt"], ids, experiment["share"])
    noise = np.where(arm == CHALLENGER, 0.2, 1.5)  # the challenger sees much more
    score = special.expit(-1.2 + (x + noise * rng.normal(size=FLIGHTS)) / (1 + noise**2))
    rows = [
        {"request_id": f"r-{day}-{i // 50}", "flight_id": ids[i], "flight_date": day,
         "model_version": experiment["challenger_version"] if arm[i] == CHALLENGER
         else experiment["champion_version"], "score": float(score[i]),
         "latency_ms": float(rng.gamma(4, 2)),
         "served_at": dt.datetime.combine(day - dt.timedelta(days=1), dt.time(20), dt.UTC),
         "arm": str(arm[i]), "experiment_id": experiment["experiment_id"]}
        for i in range(FLIGHTS)
    ]  # fmt: skip
    bind = sql.engine(settings.sql_url)
    sql.ensure_tables(bind)
    with bind.begin() as conn:
        conn.execute(sa.insert(SERVED), rows)
