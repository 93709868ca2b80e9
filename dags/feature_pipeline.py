"""
### Feature pipeline

Every day: land the replayed NYC flights and weather of the day, gate them with Great
Expectations, build the feature tables with the Beam job, gate those, and materialize them
into Feast's online store.

* **Scheduled runs** cover their data interval's day (New York time).
* **Bootstrap** history in one run by triggering with `start` and `end` (inclusive).
* A failing gate quarantines the day's partition, names every failed expectation in the task
  log and writes Great Expectations Data Docs under `.runway/gx/`; nothing downstream runs.

Rerunning a day (clear the run) rewrites the same partitions byte for byte.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

RAW = Asset(name="raw_flights", uri="runway://raw/flights")
FEATURES = Asset(name="features", uri="runway://features")


def _days() -> tuple[str, str]:
    context = get_current_context()
    params = context["params"]
    from runway.feature_pipeline import resolve_days

    return resolve_days(params.get("start"), params.get("end"), context.get("data_interval_start"))


def _settings():
    from runway.settings import load_settings

    return load_settings()


@dag(
    dag_id="feature_pipeline",
    doc_md=__doc__,
    # A run covers one whole local day and starts once it is over.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="America/New_York"),
    start_date=pendulum.datetime(2026, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "features"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "start": Param(
            None,
            type=["null", "string"],
            format="date",
            title="First day (bootstrap)",
            description="Optional: first local day of a range to build in one run (YYYY-MM-DD).",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Last day (bootstrap)",
            description="Optional: last local day of the range, inclusive. Give with 'start'.",
        ),
    },
)
def feature_pipeline():
    @task(outlets=[RAW])
    def land_raw() -> dict:
        from runway.feature_pipeline import land

        return land(_settings(), *_days())

    @task(retries=0)
    def validate_raw() -> dict:
        from runway.feature_pipeline import validate_raw as gate

        return gate(_settings(), *_days())

    @task
    def build_features() -> str:
        import sys

        from airflow.providers.apache.beam.hooks.beam import BeamHook
        from runway.feature_pipeline import beam_options

        settings = _settings()
        BeamHook(runner=settings.beam_runner).start_python_pipeline(
            variables=beam_options(settings, *_days()),
            py_file="runway.features.beam_job",
            py_options=["-m"],
            py_interpreter=sys.executable,
        )
        return str(settings.features_dir)

    @task(retries=0)
    def validate_features() -> dict:
        from runway.feature_pipeline import validate_features as gate

        return gate(_settings(), *_days())

    @task(outlets=[FEATURES])
    def materialize_features() -> dict:
        from runway.feature_pipeline import materialize

        return materialize(_settings(), *_days())

    land_raw() >> validate_raw() >> build_features() >> validate_features() >> materialize_features()


feature_pipeline()
