"""
### Model rollback

Moves the `champion` alias of `flight_delay` back to an earlier version that passed the model
gate, and records who asked and why as tags on the versions. Manual only: trigger it from the
UI's form or the REST API with `version` and `reason`.

Batch scoring picks the new champion up on its next run; rescore a day with `batch_scoring`
and `start`/`end` to apply it to days already scored.

**Runs** never on a schedule: by hand (the Runway view's form, the trigger form) or the REST API.

**Params** (each checked at trigger time; an unknown key is refused):

* `version`: the earlier version to restore
* `reason`: why, recorded on both versions

**Assets**: produces `runway://models/flight_delay` (the champion alias moved back).

**Evidence in the UI**: none; who and why are tags on both versions (`runway.rollback_*`,
`runway.rolled_back_*`).

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/model_rollback/dagRuns \\
  -d '{"logical_date": null, "conf": {"version": 3, "reason": "realized AUC fell"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

from runway.days import LOCAL_TZ

MODEL = Asset(name="model", uri="runway://models/flight_delay")


@dag(
    dag_id="model_rollback",
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
            title="Version to restore",
            description=(
                "The flight_delay version that becomes champion again "
                "(it must have passed the gate)."
            ),
        ),
        "reason": Param(
            type="string",
            minLength=3,
            maxLength=2000,
            title="Reason",
            description="Why the champion is rolled back; recorded on the model versions.",
        ),
    },
)
def model_rollback():
    @task(multiple_outputs=False, outlets=[MODEL])
    def rollback_champion() -> dict:
        """Move `champion` back to `version`; who and why recorded on both versions."""
        from runway.registry import rollback
        from runway.settings import load_settings

        context = get_current_context()
        params, settings = context["params"], load_settings()
        from runway.audit import actor as who_asked

        actor = who_asked(context)
        change = rollback(
            params["version"],
            params["reason"],
            actor,
            tracking_uri=settings.mlflow_uri,
            model_name=settings.model_name,
        )
        return {"champion": change.current, "previous": change.previous, "changed": change.changed}

    rollback_champion()


model_rollback()
