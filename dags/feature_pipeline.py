"""
### Feature pipeline

Every day: land the replayed NYC flights and weather of the day, gate them with Great
Expectations, build the feature tables with the Beam job, gate those, and materialize them
into Feast's online store.

* **Scheduled runs** cover their data interval's day (New York time).
* **Bootstrap** history in one run by triggering with `start` and `end` (inclusive).
* A failing gate quarantines the day's partition, names every failed expectation in the task
  log and writes Great Expectations Data Docs under `.runway/gx/`; nothing downstream runs.
* A day whose 28-day windows reach over a quarantined raw day is built over that gap (its
  windows sum the days that exist): `validate_features` names it in its XCom (`window_gaps`,
  the decision record) and its log, or, with `RUNWAY_WINDOW_GAP_POLICY=hold`, quarantines its
  features and fails.

Rerunning a day (clear the run) rewrites the same partitions byte for byte.

**Runs** daily at 00:00 New York time, for its data interval's day; or on demand.

**Params** (each checked at trigger time; an unknown key is refused):

* `start`: first day to land and build (YYYY-MM-DD); empty: the run's own day
* `end`: last day, inclusive; empty: `start`

**Assets**: produces `runway://raw/flights` (landed, gated raw days) and `runway://features/` (the
feature tables in Feast).

**Evidence in the UI**: `validate_raw` and `validate_features` link their **Data Docs**.

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/feature_pipeline/dagRuns \\
  -d '{"logical_date": null, "conf": {"start": "2026-03-01", "end": "2026-03-07"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

from runway.days import LOCAL_TZ

RAW = Asset(name="raw_flights", uri="runway://raw/flights")
FEATURES = Asset(name="features", uri="runway://features")


def _settings():
    from runway.settings import load_settings

    return load_settings()


def _days(days: list[str]):
    from runway.days import from_strings

    return from_strings(days)


@dag(
    dag_id="feature_pipeline",
    doc_md=__doc__,
    # A run covers one whole local day and starts once it is over.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
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
    @task
    def resolve_days() -> list[str]:
        """The local days this run covers: `start`..`end`, else the data interval's day."""
        from runway import days

        return days.of_run(get_current_context())

    @task(multiple_outputs=False, outlets=[RAW])
    def land_raw(days: list[str]) -> dict:
        """Copy the days' flights and weather from the replayed source into the raw zone."""
        from runway.features.steps import land

        return land(_settings(), _days(days))

    @task(multiple_outputs=False, retries=0)
    def validate_raw(days: list[str]) -> dict:
        """Raw gate (Great Expectations): a failing day is quarantined whole and fails the run."""
        from runway import links
        from runway.features.steps import validate_raw as gate

        return links.gate_with_docs(get_current_context(), _settings(), gate, _days(days))

    @task
    def build_features(days: list[str]) -> str:
        """The Beam feature job over the days, through Airflow's BeamHook (runner from settings:
        the local FnApiRunner, or Beam's DaskRunner on the Dask scheduler it names)."""
        from airflow.providers.apache.beam.hooks.beam import BeamHook

        from runway.features.steps import check_beam_runner, run_beam_job

        settings = _settings()
        check_beam_runner(settings)
        hook = BeamHook(runner=settings.beam_runner)
        return run_beam_job(settings, _days(days), hook.start_python_pipeline)

    @task(multiple_outputs=False, retries=0)
    def validate_features(days: list[str]) -> dict:
        """Feature gate (Great Expectations) on the days' feature partitions; days whose windows
        hold a quarantined raw day are named in the result (`window_gaps`) or held."""
        from runway import links
        from runway.features.steps import validate_features as gate

        return links.gate_with_docs(get_current_context(), _settings(), gate, _days(days))

    @task(multiple_outputs=False, outlets=[FEATURES])
    def materialize_features(days: list[str]) -> dict:
        """Apply the Feast definitions and load the days' feature rows into the online store."""
        from runway.features.steps import materialize

        return materialize(_settings(), _days(days))

    days = resolve_days()
    landed = land_raw(days)
    raw_gate = validate_raw(days)
    features = build_features(days)
    feature_gate = validate_features(days)
    landed >> raw_gate >> features >> feature_gate >> materialize_features(days)


feature_pipeline()
