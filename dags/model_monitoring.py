"""
### Model monitoring

Every day, once the day's flights have landed with their outcomes: Evidently data drift of the
scored flights' features against the champion's training reference, prediction drift, and the
realized performance (AUC, Brier, calibration) of the predictions made for those flights. The
figures go to the `monitoring_metrics` table, the HTML report to `.runway/reports/` and MLflow.

Then the retraining decision: drift past its threshold for several consecutive days, or
realized AUC down by more than the allowed drop against the champion's test AUC, outside the
cooldown after the champion's training and while no training runs, triggers
`training_pipeline` with the reason and the evidence as its conf.

**Runs** daily at 02:00 New York time, for its data interval's day; or on demand.

**Params** (each checked at trigger time; an unknown key is refused):

* `start`: first monitored day (YYYY-MM-DD); empty: the run's own day
* `end`: last monitored day, inclusive; empty: `start`
* `allow_retraining`: whether a fired signal may trigger `training_pipeline`

**Assets**: none produced; it may trigger `training_pipeline` with its evidence as conf.

**Evidence in the UI**: `monitor_days` links the newest **Drift report**.

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/model_monitoring/dagRuns \\
  -d '{"logical_date": null, "conf": {"start": "2026-03-23", "allow_retraining": false}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from runway.days import LOCAL_TZ


@dag(
    dag_id="model_monitoring",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=LOCAL_TZ),
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "monitoring"],
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "start": Param(
            None,
            type=["null", "string"],
            format="date",
            title="First day",
            description=(
                "Optional: monitor the flight days start..end (in order) instead of the "
                "interval's day."
            ),
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Last day",
            description="Optional: last flight day, inclusive. Give with 'start'.",
        ),
        "allow_retraining": Param(
            True,
            type="boolean",
            title="Allow retraining",
            description=(
                "When false, the decision is computed and logged but never triggers training."
            ),
        ),
    },
)
def model_monitoring():
    @task
    def resolve_days() -> list[str]:
        """The flight days to monitor: `start`..`end`, else the data interval's day."""
        from runway import days

        return days.of_run(get_current_context())

    @task(multiple_outputs=False)
    def monitor_days(days: list[str]) -> dict:
        """Drift, prediction drift and realized performance of each day into
        `monitoring_metrics`."""
        from runway import links
        from runway.days import from_strings
        from runway.monitoring.steps import monitor
        from runway.settings import load_settings

        context = get_current_context()
        computed_at = context.get("data_interval_end") or context["dag_run"].run_after
        settings = load_settings()
        summary = monitor(
            settings, from_strings(days), run_id=context["run_id"], computed_at=computed_at
        )
        newest = summary["reports"][-1] if summary["reports"] else None
        links.files(context, settings.reports_dir, settings.gx_dir, Drift_report=newest)
        return summary

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def decide_retraining(summary: dict) -> dict | None:
        """The retraining decision; skips the trigger unless it says retrain."""
        from runway.monitoring.steps import decide_retraining as decide
        from runway.settings import load_settings

        context = get_current_context()
        active = context["ti"].get_dr_count(
            dag_id="training_pipeline", states=["queued", "running"]
        )
        return decide(
            load_settings(),
            summary,
            training_active=active > 0,
            allowed=context["params"]["allow_retraining"],
        )

    decision = decide_retraining(monitor_days(resolve_days()))
    TriggerDagRunOperator(
        task_id="trigger_training",
        trigger_dag_id="training_pipeline",
        conf=decision,
        wait_for_completion=False,
    )


model_monitoring()
