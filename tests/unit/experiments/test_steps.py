"""The steps the DAGs call, on a real SQL store, a real MLflow registry and raw partitions:
an experiment started from the champion's baseline, looked at day by day from the served
answers joined with the landed outcomes, its decision in the record and the registry's tags."""

from __future__ import annotations

import dataclasses
import datetime as dt

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from scipy import special

from runway import contracts, registry, sql
from runway.experiments import record, steps
from runway.experiments.assignment import CHALLENGER, CHAMPION, arms
from runway.io import partition_file, write_parquet_atomic
from runway.settings import ExperimentPolicy, Settings

START = dt.date(2026, 3, 2)
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
FLIGHTS = 800
# the serving wing's table, as its branch defines it (request id, flight, version, arm, ...)
SERVED = sa.Table(
    "served_predictions", sa.MetaData(),
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("flight_id", sa.String(64), primary_key=True),
    sa.Column("flight_date", sa.Date, nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("arm", sa.String(64)),
    sa.Column("experiment_id", sa.String(64)),
)  # fmt: skip


@pytest.fixture()
def world(tmp_path):
    settings = dataclasses.replace(
        Settings(home=tmp_path), experiments=ExperimentPolicy(min_days=3, resamples=100)
    )
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
    yield settings
    mlflow.set_tracking_uri(None)


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
    SERVED.create(bind, checkfirst=True)
    with bind.begin() as conn:
        conn.execute(sa.insert(SERVED), rows)


def test_an_ab_experiment_from_start_to_promotion(world):
    settings, rng = world, np.random.default_rng(7)
    started = steps.start_experiment(
        settings, mode="ab", challenger=None, share=0.5, start=START, reason="retrained",
        actor="test", now=NOW,
    )  # fmt: skip
    assert started["challenger_version"] == 2 and started["champion_version"] == 1
    assert started["planned_days"] >= settings.experiments.min_days
    again = steps.start_experiment(
        settings, mode="ab", challenger=2, share=0.5, start=START, reason="rerun", actor="t",
        now=NOW,
    )  # fmt: skip
    assert again["experiment_id"] == started["experiment_id"]  # idempotent
    bind = sql.engine(settings.sql_url)
    experiment = record.active(bind)
    assert experiment["plan"]["baseline_rate"] == pytest.approx(0.25)
    assert experiment["plan"]["flights_per_day"] == FLIGHTS

    results = []
    for offset in range(experiment["planned_days"]):
        day = START + dt.timedelta(days=offset)
        land_and_serve(settings, experiment, day, rng)
        results.append(steps.evaluate(settings, day, f"run-{day}", NOW))
        if results[-1]["action"] in ("promote", "rollback"):
            break
    assert [r["action"] for r in results[:2]] == ["refuse", "refuse"]
    last = results[-1]
    assert last["action"] == "promote" and last["status"] == "promoted"
    assert last["promotion"]["version"] == 2 and "p =" in last["promotion"]["reason"]
    shares = [r["n"][CHALLENGER] / (r["n"][CHALLENGER] + r["n"][CHAMPION]) for r in results]
    assert 0.45 < shares[-1] < 0.55
    # the record and the registry say the same
    done = record.get(bind, started["experiment_id"])
    assert [d["action"] for d in done["decisions"]] == [r["action"] for r in results]
    assert done["decisions"][-1]["p_value"] < 0.05 and done["decisions"][-1]["test"]
    tags = registry.version_tags(2, tracking_uri=settings.mlflow_uri)
    assert tags["runway.experiment_decision"] == "promote"
    assert tags["runway.experiment_status"] == "promoted"
    assert "signal daily_auc_difference" in tags["runway.experiment_evidence"]
    assert registry.champion_version(tracking_uri=settings.mlflow_uri) == 1  # model_promotion's job
    report = (settings.reports_dir / "experiments" / f"{started['experiment_id']}.html").read_text()
    assert "data:image/png;base64" in report and "promote" in report
    # a rerun of the last day records the same look once
    steps.evaluate(settings, dt.date.fromisoformat(last["day"]), "rerun", NOW)
    assert len(record.get(bind, started["experiment_id"])["decisions"]) == len(results)
    assert steps.evaluate(settings, START, "x", NOW)["status"] == "no active experiment"


def test_stop_and_refusals(world):
    settings = world
    with pytest.raises(record.ExperimentError, match="no active experiment"):
        steps.stop_experiment(settings, None, "ops", "nothing", NOW)
    steps.start_experiment(
        settings, mode="canary", challenger=2, share=None, start=START, reason="r", actor="t",
        now=NOW,
    )  # fmt: skip
    with pytest.raises(record.ExperimentError, match="is active"):
        steps.start_experiment(
            settings, mode="ab", challenger=2, share=0.5, start=START + dt.timedelta(days=1),
            reason="r", actor="t", now=NOW,
        )  # fmt: skip
    stopped = steps.stop_experiment(settings, None, "ops", "wrong model", NOW)
    assert stopped["status"] == "stopped" and stopped["share"] == 0.05
    with pytest.raises(record.ExperimentError, match="MAX_DAYS"):
        steps.start_experiment(
            settings, mode="ab", challenger=2, share=0.02, start=START, reason="r", actor="t",
            now=NOW, flights_per_day=50,
        )  # fmt: skip


def test_the_promotion_conf_passes_the_model_promotion_params():
    """What `online_experiment` hands `model_promotion` is what its typed params accept."""
    import json
    from pathlib import Path

    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dags = Path(__file__).resolve().parents[3] / "dags"
    bag = DagBag(dag_folder=str(dags / "model_promotion.py"))
    params = DagSerialization.from_dict(
        DagSerialization.to_dict(bag.dags["model_promotion"])
    ).params
    verdict = {"action": "promote", "day": "2026-03-09", "reason": "x" * 3000, "signal": "s",
               "value": 0.03, "threshold": 2.1, "interval": [0.01, 0.05], "test": "t",
               "p_value": 0.001, "n": {"champion": 10, "challenger": 10}, "days": 8}  # fmt: skip
    conf = steps.promotion_conf({"experiment_id": "exp-v1-v2", "challenger_version": 2}, verdict)
    assert json.loads(json.dumps(conf)) == conf
    resolved = params.deep_merge(conf).validate()
    assert resolved["version"] == 2 and resolved["reason"].startswith("online experiment")
