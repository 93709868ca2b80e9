"""The feature pipeline's Beam task through a real Airflow on a real Dask cluster.

A Dask scheduler and two workers run as processes on loopback (`runway.local_dask`); the
supervised local Airflow runs with `RUNWAY_BEAM_RUNNER=dask` and `RUNWAY_DASK_SCHEDULER`
pointing at it; `feature_pipeline` is triggered over the REST API for a week. Its feature
partitions must be byte-identical to what the local FnApiRunner writes from the same raw
partitions, both workers must have run tasks, and no process may outlive the module.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from runway import contracts
from runway.days import day_range
from runway.features import beam_job
from runway.local_airflow import LocalAirflow, free_port
from runway.local_dask import LocalDask
from runway.settings import DASK_RUNNER, Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
WEEK = (dt.date(2026, 3, 2), dt.date(2026, 3, 8))


def _gone(pid: int) -> bool:
    """No process of the group `pid` led is left (its processes ran in a session of their own)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("dask-runner")


@pytest.fixture(scope="module")
def dask_cluster(home):
    # the workers unpickle the job's DoFns: they import `runway` from this checkout
    pythonpath = os.pathsep.join(
        [str(REPO / "include"), str(REPO)]
        + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    )
    cluster = LocalDask(home / "dask", workers=2, env={"PYTHONPATH": pythonpath})
    cluster.start()
    pids = cluster.pids()
    yield cluster
    cluster.stop()
    assert all(_gone(pid) for pid in pids), "a Dask process outlived the test"


@pytest.fixture(scope="module")
def runway_settings(home, dask_cluster):
    return Settings(
        home=home / "runway",
        replay_year=2026,
        beam_runner="dask",
        dask_scheduler=dask_cluster.address,
    )


@pytest.fixture(scope="module")
def airflow(runway_settings, dask_cluster):
    env = {
        "RUNWAY_HOME": str(runway_settings.home),
        "RUNWAY_REPLAY_YEAR": "2026",
        "RUNWAY_BEAM_RUNNER": "dask",
        "RUNWAY_DASK_SCHEDULER": dask_cluster.address,
        # beside another Airflow on this machine: log servers on free ports, not 8793/8794
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    instance = LocalAirflow(
        runway_settings.home / "airflow", port=free_port(), use_schedules=False, extra_env=env
    )
    instance.start()
    pids = [instance.process.pid]
    try:
        api = instance.client()
        api.wait_for_dags(["feature_pipeline"])
        api.unpause("feature_pipeline")
        yield instance
    finally:
        instance.stop()
    assert all(_gone(pid) for pid in pids), "an Airflow process outlived the test"


def test_feature_pipeline_on_dask_writes_what_the_local_runner_writes(
    airflow, dask_cluster, runway_settings, tmp_path
):
    assert runway_settings.beam_runner == DASK_RUNNER
    api = airflow.client()
    started = time.monotonic()
    run_id = api.trigger("feature_pipeline", {"start": str(WEEK[0]), "end": str(WEEK[1])})
    run = api.wait("feature_pipeline", run_id, timeout=600)
    states = api.task_states("feature_pipeline", run_id)
    assert run["state"] == "success", states
    assert states["build_features"] == "success"
    on_dask = time.monotonic() - started

    # the job ran on the cluster, spread over both workers
    stats = dask_cluster.worker_stats()
    assert set(stats) == {"worker-1", "worker-2"}
    assert all(s["executed"] > 0 for s in stats.values()), stats

    # the local runner, on the raw partitions Airflow landed, into a folder of its own
    local_dir = tmp_path / "features-fnapi"
    beam_job.run(*WEEK, runway_settings.raw_dir, local_dir, ["--runner=FnApiRunner"])
    expected = {
        f"{table}/date={day.isoformat()}/part-0.parquet"
        for table in contracts.FEATURE_TABLES
        for day in day_range(*WEEK)
    }
    dask_files = {
        str(p.relative_to(runway_settings.features_dir))
        for p in runway_settings.features_dir.rglob("*.parquet")
    }
    local_files = {str(p.relative_to(local_dir)) for p in local_dir.rglob("*.parquet")}
    assert dask_files == local_files == expected
    different = [
        name
        for name in sorted(expected)
        if (runway_settings.features_dir / name).read_bytes() != (local_dir / name).read_bytes()
    ]
    assert different == [], f"Dask and FnApiRunner partitions differ: {different[:5]}"
    print(f"feature_pipeline on Dask, {len(day_range(*WEEK))} days: {on_dask:.0f} s; {stats}")
