"""The steps the DAGs call, on a real SQL store, a real MLflow registry and raw partitions:
an experiment started from the champion's baseline, looked at day by day from the served
answers joined with the landed outcomes, its decision in the record and the registry's tags."""

from __future__ import annotations

import dataclasses
import datetime as dt

import mlflow
import numpy as np
import pytest
import sqlalchemy as sa

from runway import registry, sql
from runway.experiments import record, steps
from runway.experiments.assignment import CHALLENGER, CHAMPION
from runway.settings import ExperimentPolicy, Settings
from tests.unit.experiments._world import (
    FLIGHTS,
    NOW,
    START,
    land_and_serve,
    registry_with_two_versions,
)


@pytest.fixture()
def world(tmp_path):
    settings = dataclasses.replace(
        Settings(home=tmp_path), experiments=ExperimentPolicy(min_days=3, resamples=100)
    )
    registry_with_two_versions(settings, tmp_path)
    yield settings
    mlflow.set_tracking_uri(None)


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
    nothing = steps.evaluate(settings, START, "run", NOW)  # no answer served yet
    assert nothing["action"] == "refuse" and nothing["days"] == 0
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


def test_a_canary_moves_the_alias_to_its_challenger_and_its_looks_table_reads_the_record(world):
    """The service's arm loads the `challenger` alias: starting a canary of a version the alias
    does not name moves it there. The looks table (what `make demo` prints) has one row a look:
    the share served that day, each arm's figures, the test against its boundary, the action."""
    settings, rng = world, np.random.default_rng(3)
    client = registry.mlflow_client(settings.mlflow_uri)
    client.delete_registered_model_alias(settings.model_name, registry.CHALLENGER)
    with pytest.raises(record.ExperimentError, match="is the champion"):
        steps.start_experiment(
            settings, mode="canary", challenger=1, share=None, start=START, reason="r",
            actor="t", now=NOW,
        )  # fmt: skip
    with pytest.raises(record.ExperimentError, match="no experiment yet"):
        steps.looks(settings)
    started = steps.start_experiment(
        settings, mode="canary", challenger=2, share=None, start=START, reason="canary",
        actor="t", now=NOW,
    )  # fmt: skip
    assert registry.challenger_version(tracking_uri=settings.mlflow_uri) == 2
    bind = sql.engine(settings.sql_url)
    actions = []
    for offset in range(4):
        day = START + dt.timedelta(days=offset)
        experiment = record.get(bind, started["experiment_id"])
        land_and_serve(settings, experiment, day, rng)
        actions.append(steps.evaluate(settings, day, f"run-{day}", NOW)["action"])
    assert actions[:3] == ["refuse", "refuse", "ramp"], actions  # min_days 3, ramp_days 3
    experiment, table = steps.looks(settings)
    assert experiment["experiment_id"] == started["experiment_id"]
    assert table["decision"].tolist() == actions
    assert table["share"].tolist() == [0.05, 0.05, 0.05, 0.25]
    assert abs(table["served share"].iloc[0] - 0.05) < 0.03
    assert abs(table["served share"].iloc[3] - 0.25) < 0.06
    assert (table["n champ"] + table["n chall"] == FLIGHTS).all()
    assert (table["AUC chall"] > table["AUC champ"]).all()  # the world's challenger sees more
    assert table["z"].iloc[:2].isna().all() and table["z"].iloc[2:].notna().all()
    assert table["boundary"].iloc[2] > 2 and table["diff interval"].iloc[2].startswith("[")
    assert 0 <= table["ECE chall"].min() and table["ECE champ"].max() < 0.5


def test_a_failing_challenger_trips_the_error_rate_guardrail(world):
    """The service logs a failed answer (5xx) with its arm, status and no score: the look that
    reads it rolls the experiment back on the challenger's error rate, the champion untouched."""
    settings, rng = world, np.random.default_rng(5)
    started = steps.start_experiment(
        settings, mode="ab", challenger=2, share=0.5, start=START, reason="r", actor="t",
        now=NOW,
    )  # fmt: skip
    experiment = record.get(sql.engine(settings.sql_url), started["experiment_id"])
    land_and_serve(settings, experiment, START, rng)
    table = sql.served_predictions
    with sql.engine(settings.sql_url).begin() as conn:  # 5% of the challenger's answers failed
        ids = conn.execute(
            sa.select(table.c.request_id, table.c.flight_id).where(table.c.arm == CHALLENGER)
        ).fetchall()[::20]
        for request_id, flight_id in ids:
            conn.execute(
                sa.update(table)
                .where(table.c.request_id == request_id, table.c.flight_id == flight_id)
                .values(score=None, status=500)
            )
    look = steps.evaluate(settings, START, "run", NOW)
    assert look["action"] == "rollback" and look["signal"] == "error_rate", look
    assert look["value"] == pytest.approx(len(ids) / look["n"][CHALLENGER], rel=0.1)
    assert look["p_value"] < settings.experiments.guardrail_alpha
    assert record.get(sql.engine(settings.sql_url), started["experiment_id"])["status"] == (
        "rolled_back"
    )
    assert registry.champion_version(tracking_uri=settings.mlflow_uri) == 1
