"""The feature pipeline's steps: the Beam job's options, and refusals before any work."""

from __future__ import annotations

import datetime as dt

import pytest

from runway.days import RunConfigError
from runway.features import steps
from runway.settings import Settings

DAYS = [dt.date(2026, 3, 1), dt.date(2026, 3, 2)]


def test_beam_options_name_the_runner_days_and_folders(tmp_path):
    settings = Settings(home=tmp_path, beam_extra_options="--flink_master=host:8081 --streaming")
    options = steps.beam_options(settings, DAYS)
    assert options["runner"] == "FnApiRunner"
    assert (options["start"], options["end"]) == ("2026-03-01", "2026-03-02")
    assert options["raw_dir"] == str(settings.raw_dir) and options["features_dir"] == str(
        settings.features_dir
    )
    assert options["flink_master"] == "host:8081" and options["streaming"] is True
    assert "dask_client_address" not in options
    assert steps.check_beam_runner(settings) == {"runner": "FnApiRunner"}


def test_the_dask_runner_gets_its_scheduler_and_timeout(tmp_path):
    settings = Settings(
        home=tmp_path,
        beam_runner="dask",
        dask_scheduler="tcp://10.0.0.5:8786",
        dask_connect_timeout_s=7,
    )
    options = steps.beam_options(settings, DAYS)
    assert options["runner"] == "apache_beam.runners.dask.dask_runner.DaskRunner"
    assert options["dask_client_address"] == "tcp://10.0.0.5:8786"
    assert options["dask_connection_timeout"] == 7


def test_landing_a_day_outside_the_replay_is_refused_with_the_range(tmp_path):
    settings = Settings(home=tmp_path, replay_year=2026)
    with pytest.raises(
        RunConfigError,
        match=r"no source data for 2030-01-01: the replay covers 2025-12-30\.\.2026-12-29",
    ):
        steps.land(settings, [dt.date(2030, 1, 1)])
    assert not settings.raw_dir.exists()


@pytest.mark.parametrize("step", ["land", "materialize", "beam_options"])
def test_a_step_given_no_days_says_so(tmp_path, step):
    settings = Settings(home=tmp_path, replay_year=2026)
    with pytest.raises(RunConfigError, match=r"given no days: give at least one"):
        getattr(steps, step)(settings, [])
    assert not settings.raw_dir.exists()


@pytest.mark.parametrize("step", ["land", "materialize", "beam_options"])
def test_a_step_given_days_out_of_order_names_them(tmp_path, step):
    settings = Settings(home=tmp_path, replay_year=2026)
    with pytest.raises(RunConfigError, match=r"in order.*2026-06-01 comes after 2026-06-05"):
        getattr(steps, step)(settings, [dt.date(2026, 6, 5), dt.date(2026, 6, 1)])


def test_a_failing_beam_job_surfaces_its_own_error(tmp_path):
    """Through Airflow's real BeamHook, as the task runs it: the job's traceback, not only
    'return code 1', is in the error the task logs."""
    from airflow.providers.apache.beam.hooks.beam import BeamHook

    settings = Settings(home=tmp_path, replay_year=2026)  # nothing landed: the job fails
    hook = BeamHook(runner=settings.beam_runner)
    with pytest.raises(steps.BeamJobError) as failure:
        steps.run_beam_job(settings, [dt.date(2026, 6, 1)], hook.start_python_pipeline)
    message = str(failure.value)
    assert "return code 1" in message
    assert "its own error:\nTraceback" in message
    assert "FileNotFoundError: raw partitions missing for the feature job" in message
