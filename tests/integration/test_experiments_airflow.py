"""The experiment DAGs through a real Airflow (`airflow standalone`, REST API): started by
`experiment_control` with typed params, looked at daily by `online_experiment` over the
served answers and the landed outcomes, the decision on the record and the registry's tags,
and a promotion handed to `model_promotion` with the evidence as its reason."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest

from runway import registry, sql
from runway.experiments import record
from runway.local_airflow import LocalAirflow, free_port
from runway.settings import ExperimentPolicy, Settings
from tests.unit.experiments._world import START, land_and_serve, registry_with_two_versions

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
DAYS = 10


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("experiments-airflow")


@pytest.fixture(scope="module")
def settings(home):
    settings = dataclasses.replace(
        Settings(home=home / "runway"), experiments=ExperimentPolicy(min_days=3, resamples=100)
    )
    registry_with_two_versions(settings, home)
    return settings


@pytest.fixture(scope="module")
def airflow(settings, home):
    env = {
        "RUNWAY_HOME": str(settings.home),
        "RUNWAY_EXPERIMENTS_MIN_DAYS": "3",
        "RUNWAY_EXPERIMENTS_RESAMPLES": "100",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    instance = LocalAirflow(home / "airflow", port=free_port(), use_schedules=False, extra_env=env)
    instance.start()
    try:
        api = instance.client()
        dags = ["experiment_control", "online_experiment", "model_promotion"]
        api.wait_for_dags(dags)
        for dag_id in dags:
            api.unpause(dag_id)
        yield instance
    finally:
        instance.stop()


def test_an_experiment_started_looked_at_and_promoted_through_airflow(airflow, settings):
    api = airflow.client()
    with pytest.raises(RuntimeError, match="mode"):  # typed params: 400 naming the field
        api.trigger("experiment_control", {"action": "start", "mode": "yolo", "reason": "bad"})
    run_id = api.trigger(
        "experiment_control",
        {"action": "start", "mode": "ab", "share": 0.5, "start": START.isoformat(),
         "reason": "retrained challenger, through Airflow"},
    )  # fmt: skip
    assert api.wait("experiment_control", run_id, timeout=300)["state"] == "success"
    bind = sql.engine(settings.sql_url)
    experiment = record.active(bind)
    assert experiment["mode"] == "ab" and experiment["created_by"].startswith("airflow:")

    rng = np.random.default_rng(11)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    for day in days:
        land_and_serve(settings, experiment, day, rng)
    run_id = api.trigger(
        "online_experiment", {"start": days[0].isoformat(), "end": days[-1].isoformat()}
    )
    run = api.wait("online_experiment", run_id, timeout=600)
    states = api.task_states("online_experiment", run_id)
    assert run["state"] == "success", states
    done = record.get(bind, experiment["experiment_id"])
    actions = [d["action"] for d in done["decisions"]]
    assert actions[:2] == ["refuse", "refuse"] and actions[-1] == "promote", actions
    assert done["status"] == "promoted"
    tags = registry.version_tags(2, tracking_uri=settings.mlflow_uri)
    assert tags["runway.experiment_decision"] == "promote"
    assert states["trigger_promotion"] == "success"
    promotions = api.runs("model_promotion")
    assert len(promotions) == 1
    conf = promotions[0]["conf"]
    assert conf["version"] == 2 and conf["actor"] == f"experiment:{experiment['experiment_id']}"
    assert "daily_auc_difference" in conf["reason"]
