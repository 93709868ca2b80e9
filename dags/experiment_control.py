"""
### Experiment control

Starts or stops the online experiment the serving endpoint follows: never by editing aliases
by hand. `start` plans the experiment from the champion's baseline (a power calculation:
`RUNWAY_EXPERIMENTS_*`), draws nothing at random (the salt is the experiment's id unless
given) and records it; at most one experiment is active. `stop` ends the active one (or the
one named): every flight goes back to the champion.

**Runs** on demand only.

**Params** (each checked at trigger time; an unknown key is refused):

* `action`: `start` or `stop`
* `mode`: `shadow`, `ab` or `canary` (start)
* `challenger`: the version to test; empty: the `challenger` alias (start)
* `share`: ab's challenger share; empty: `RUNWAY_EXPERIMENTS_AB_SHARE` (start)
* `start`: the first flight day served; empty: tomorrow (start)
* `experiment_id`: the experiment to stop; empty: the active one (stop)
* `reason`: why, recorded on the experiment

**Assets**: none; the `experiments` record, which the serving endpoint follows.

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/experiment_control/dagRuns \\
  -d '{"logical_date": null, "conf": {"action": "start", "mode": "canary", "challenger": 7,
       "start": "2026-06-12", "reason": "retrained on the summer weeks"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from runway.days import LOCAL_TZ


@dag(
    dag_id="experiment_control",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "operations"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(seconds=30)},
    params={
        "action": Param(
            "start", type="string", enum=["start", "stop"], title="Action",
            description="start an experiment, or stop the active (or named) one.",
        ),
        "mode": Param(
            "canary", type="string", enum=["shadow", "ab", "canary"], title="Mode",
            description="shadow: both score, the champion answers; ab: a sticky share "
            "answered by the challenger; canary: ab on a ramp of shares.",
        ),
        "challenger": Param(
            None, type=["null", "integer"], minimum=1, title="Challenger version",
            description="The flight_delay version to test; default: the `challenger` alias.",
        ),
        "share": Param(
            None, type=["null", "number"], exclusiveMinimum=0, maximum=0.99, title="Share",
            description="ab only: the challenger's traffic share (default "
            "RUNWAY_EXPERIMENTS_AB_SHARE).",
        ),
        "start": Param(
            None, type=["null", "string"], format="date", title="First flight day",
            description="The first flight day the experiment serves; default: tomorrow.",
        ),
        "experiment_id": Param(
            None, type=["null", "string"], title="Experiment id",
            description="stop only: the experiment to stop; default: the active one.",
        ),
        "reason": Param(
            type="string", minLength=3, maxLength=2000, title="Reason",
            description="Why; recorded on the experiment.",
        ),
    },
)  # fmt: skip
def experiment_control():
    @task(multiple_outputs=False)
    def control_experiment() -> dict:
        """Start (planned, recorded) or stop the experiment; who and why recorded."""
        import datetime as dt

        from runway.days import local_day
        from runway.experiments.steps import start_experiment, stop_experiment
        from runway.settings import load_settings

        context = get_current_context()
        params = context["params"]
        actor = context["dag_run"].conf.get("actor") or f"airflow:{context['run_id']}"
        moment = context.get("data_interval_end") or context["dag_run"].run_after
        settings = load_settings()
        if params["action"] == "stop":
            return stop_experiment(
                settings, params["experiment_id"], actor, params["reason"], moment
            )
        start = (
            dt.date.fromisoformat(params["start"])
            if params["start"]
            else local_day(moment) + dt.timedelta(days=1)
        )
        return start_experiment(
            settings, mode=params["mode"], challenger=params["challenger"],
            share=params["share"], start=start, reason=params["reason"], actor=actor,
            now=moment,
        )  # fmt: skip

    control_experiment()


experiment_control()
