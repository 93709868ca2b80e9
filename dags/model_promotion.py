"""
### Model promotion

Moves the `champion` alias of `flight_delay` to a version (a shadow challenger, or one the
gate kept back), after re-running the gate's checks against the current champion on the
latest landed days, and records who asked and why as tags on the version, like a rollback.
Manual only: trigger it from the UI's form or the REST API with `version` and `reason`.

A version that fails the re-run checks is refused, the failed checks named in the task log;
the champion is unchanged. Batch scoring picks a new champion up on its next run.

**Runs** never on a schedule: by hand (the Runway view's form, the trigger form) or the REST API.

**Params** (each checked at trigger time; an unknown key is refused):

* `version`: the registered version to promote
* `reason`: why, recorded on the version
* `test_days`: how many of the latest landed days the checks are re-run on

**Assets**: produces `runway://models/flight_delay` (the champion alias moved).

**Evidence in the UI**: none; the verdict is recorded on the version (tags `runway.promoted_by`,
`runway.promotion_reason`).

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/model_promotion/dagRuns \\
  -d '{"logical_date": null, "conf": {"version": 7, "reason": "challenger ahead for two weeks"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from runway.days import LOCAL_TZ

MODEL = Asset(name="model", uri="runway://models/flight_delay")


@dag(
    dag_id="model_promotion",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "operations"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "version": Param(
            type="integer",
            minimum=1,
            title="Version to promote",
            description="The flight_delay version that becomes champion if it passes the "
            "gate's checks.",
        ),
        "reason": Param(
            type="string",
            minLength=3,
            maxLength=2000,
            title="Reason",
            description="Why it is promoted; recorded on the version.",
        ),
        "test_days": Param(
            7,
            type="integer",
            minimum=3,
            maximum=60,
            title="Test days",
            description="The latest landed days the gate's checks are re-run on.",
        ),
    },
)
def model_promotion():
    @task(multiple_outputs=False, outlets=[MODEL])
    def promote_version() -> dict:
        """Re-run the gate against the champion, then move `champion`; who and why recorded."""
        from runway.settings import load_settings
        from runway.training.steps import promote_version as promote

        context = get_current_context()
        params = context["params"]
        from runway.audit import actor as who_asked

        actor = who_asked(context)
        moment = context.get("data_interval_end") or context["dag_run"].run_after
        return promote(
            load_settings(), params["version"], params["reason"], actor, moment,
            params["test_days"], context["run_id"],
        )  # fmt: skip

    promote_version()


model_promotion()
