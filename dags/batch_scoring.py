"""
### Batch scoring

Every day, once the day's features are in Feast: scores the next day's scheduled flights with
`models:/flight_delay@champion`, and in shadow with `@challenger` when one exists. Features are
read at each flight's prediction time (the end of the day before), exactly as training reads
them. Predictions are upserted into the `predictions` table by (flight, model version): a
rerun replaces, never duplicates.

**Rescore** any flight days with `start` and `end` (e.g. after a rollback).

**Runs** daily at 01:00 New York time, for its data interval's day; or on demand.

**Params** (each checked at trigger time; an unknown key is refused):

* `start`: first flight day to score (YYYY-MM-DD); empty: the run's own day
* `end`: last flight day to score, inclusive; empty: `start`

**Assets**: produces `runway://tables/predictions`.

**Evidence in the UI**: none (the predictions are rows of the `predictions` table).

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/batch_scoring/dagRuns \\
  -d '{"logical_date": null, "conf": {"start": "2026-03-23", "end": "2026-03-24"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

from runway.days import LOCAL_TZ

PREDICTIONS = Asset(name="predictions", uri="runway://tables/predictions")


@dag(
    dag_id="batch_scoring",
    doc_md=__doc__,
    # 01:00 New York: the feature pipeline for the day just ended has run at midnight.
    schedule=CronDataIntervalTimetable("0 1 * * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "scoring"],
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "start": Param(
            None,
            type=["null", "string"],
            format="date",
            title="First flight day",
            description=(
                "Optional: score (or rescore) the flights of start..end instead of tomorrow's."
            ),
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Last flight day",
            description="Optional: last flight day, inclusive. Give with 'start'.",
        ),
    },
)
def batch_scoring():
    @task
    def resolve_days() -> list[str]:
        """The flight days to score: `start`..`end`, else tomorrow's (the day after the
        interval's)."""
        from runway import days

        return days.of_run(get_current_context(), flights=True)

    @task(multiple_outputs=False, outlets=[PREDICTIONS])
    def score_flights(days: list[str]) -> dict:
        """Score the days' flights with the champion (and challenger) and upsert `predictions`."""
        from runway.days import from_strings
        from runway.scoring.steps import score
        from runway.settings import load_settings

        context = get_current_context()
        scored_at = context.get("data_interval_end") or context["dag_run"].run_after
        return score(
            load_settings(), from_strings(days), run_id=context["run_id"], scored_at=scored_at
        )

    score_flights(resolve_days())


batch_scoring()
