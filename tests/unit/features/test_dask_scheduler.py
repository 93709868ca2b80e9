"""The Dask runner's pre-flight check, on real scheduler and worker processes (loopback)."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from runway.features import beam_job, steps
from runway.features.dask_scheduler import DaskSchedulerError, check_scheduler
from runway.local_airflow import free_port
from runway.local_dask import LocalDask
from runway.settings import DASK_RUNNER, Settings


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0) until reaped; it runs nothing
    return "State:\tZ" not in open(f"/proc/{pid}/status").read()


def test_an_unreachable_scheduler_is_named_before_the_job_starts(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    settings = Settings(
        home=tmp_path, beam_runner="dask", dask_scheduler=address, dask_connect_timeout_s=2
    )
    with pytest.raises(DaskSchedulerError, match=f"the Dask scheduler at {address} is unreachable"):
        steps.check_beam_runner(settings)
    # the job itself refuses too (run by hand, or by the BeamHook), before it stages anything
    with pytest.raises(DaskSchedulerError, match="RUNWAY_DASK_SCHEDULER"):
        beam_job._check_dask(
            beam_job.PipelineOptions(
                [
                    f"--runner={DASK_RUNNER}",
                    f"--dask_client_address={address}",
                    "--dask_connection_timeout=2",
                ]
            )
        )


def test_a_scheduler_without_workers_is_refused_and_one_with_workers_is_used(tmp_path):
    with LocalDask(tmp_path / "alone", workers=0) as alone:
        with pytest.raises(
            DaskSchedulerError, match=r"has no worker after 2 s: start `dask worker"
        ):
            check_scheduler(alone.address, 2)
    with LocalDask(tmp_path / "two", workers=2) as cluster:
        settings = Settings(
            home=tmp_path,
            beam_runner="dask",
            dask_scheduler=cluster.address,
            dask_connect_timeout_s=10,
        )
        summary = steps.check_beam_runner(settings)
        pids = cluster.pids()
        assert all(_alive(pid) for pid in pids)
    assert summary["dask_workers"] == ["worker-1", "worker-2"]
    assert not any(_alive(pid) for pid in pids)  # stopped: scheduler and both workers gone


def test_the_job_refuses_a_day_range_before_it_contacts_a_scheduler(tmp_path):
    with pytest.raises(ValueError, match="is before start"):
        beam_job.run(
            dt.date(2026, 3, 2),
            dt.date(2026, 3, 1),
            tmp_path,
            tmp_path,
            [f"--runner={DASK_RUNNER}", "--dask_client_address=tcp://127.0.0.1:1"],
        )
