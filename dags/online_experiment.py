"""
### Online experiment

Every day, once the day's outcomes have landed: the active experiment's served answers
(`served_predictions`) joined with the realized outcomes, then the decision
(`runway.experiments.decision.decide`): the challenger arm's guardrails (error rate, p99
latency, calibration) that end it at once; a refusal before `RUNWAY_EXPERIMENTS_MIN_DAYS`
labelled days; the test fit for the mode (the days' within-day AUC differences, paired on the
same flights in shadow, the arms' own flights of each day in ab and canary, in a weighted t-test
over days) against a Lan-DeMets O'Brien-Fleming boundary for the daily looks; then continue,
ramp a canary, promote, or roll back (automatic: the service sends every flight to the
champion once the experiment has ended, the champion alias never moved).

The decision, with its signal, value, threshold, interval, test, p-value and sample, goes on
the experiment record and as tags on the challenger version; the HTML report (arms over time,
the interval of the difference) to `.runway/reports/experiments/`. A promotion triggers
`model_promotion` with the evidence as its reason: the gate is re-run there, audited.

**Runs** daily at 02:30 New York time, for its data interval's day; or on demand.

**Params** (each checked at trigger time; an unknown key is refused):

* `start`: first flight day looked at (YYYY-MM-DD); empty: the run's own day
* `end`: last flight day, inclusive; empty: `start`

**Assets**: none produced; the `experiments` record and the challenger's tags change, and a
promotion triggers `model_promotion` with the evidence as conf.

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/online_experiment/dagRuns \\
  -d '{"logical_date": null, "conf": {"start": "2026-06-12", "end": "2026-06-14"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from runway.days import LOCAL_TZ


@dag(
    dag_id="online_experiment",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone=LOCAL_TZ),
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
            description="Optional: look at the flight days start..end (in order) instead of "
            "the interval's day.",
        ),
        "end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Last day",
            description="Optional: last flight day, inclusive. Give with 'start'.",
        ),
    },
)
def online_experiment():
    @task
    def resolve_days() -> list[str]:
        """The flight days to look at: `start`..`end`, else the data interval's day."""
        from runway import days

        return days.of_run(get_current_context())

    @task(multiple_outputs=False)
    def evaluate_experiment(days: list[str]) -> list[dict]:
        """Each day's look at the active experiment: decision recorded, tagged, reported."""
        from runway.days import from_strings
        from runway.experiments.steps import evaluate
        from runway.settings import load_settings

        context = get_current_context()
        moment = context.get("data_interval_end") or context["dag_run"].run_after
        settings = load_settings()
        return [evaluate(settings, day, context["run_id"], moment) for day in from_strings(days)]

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def decide_promotion(looks: list[dict]) -> dict | None:
        """The `model_promotion` conf when a look promoted; skips the trigger otherwise."""
        return next((look["promotion"] for look in looks if "promotion" in look), None)

    conf = decide_promotion(evaluate_experiment(resolve_days()))
    TriggerDagRunOperator(
        task_id="trigger_promotion",
        trigger_dag_id="model_promotion",
        conf=conf,
        wait_for_completion=False,
    )


online_experiment()
