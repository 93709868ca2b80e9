"""
### Training pipeline

Builds a point-in-time training set from Feast for a window of flights, tunes one candidate
per model family (XGBoost, LightGBM, a PyTorch MLP; each its own task, the GPU families on the
`gpu` queue and pool), logs each to MLflow as a version of `flight_delay`, gates the best
against the current `champion` on the same test window, with its recipe's rolling-origin
backtest against the baselines (`backtest_recipe`) as the evidence that it beats them, and
promotes it: `challenger` always,
`champion` too when `promotion` is `auto`.

Runs weekly, and on demand: from the REST API, by the drift monitor (with its evidence in
`reason`), or by hand. The carrier x hour delay rate of the training days trains beside the
candidates as the baseline every family must beat (the honest champion when none does).

**Runs** weekly, Mondays 03:00 New York time; on demand; and by `model_monitoring` when a signal
fires.

**Params** (each checked at trigger time; an unknown key is refused):

* `window_start`: first flight day of the training window; empty: `window_days` before `window_end`
* `window_end`: last flight day of the window; empty: the last landed day
* `window_days`: window length when `window_start` is empty
* `valid_days`: days before the test days used for early stopping
* `test_days`: the last days of the window, judged by the gate
* `families`: which candidate families to tune (the baseline always trains)
* `n_trials`: tuning trials per family
* `timeout_minutes`: tuning budget per family
* `promotion`: `auto`: a passing model becomes champion; `manual`: challenger only
* `reason`: why this run, recorded on the versions
* `evidence`: the signal that triggered it (set by `model_monitoring`)

**Assets**: produces `runway://models/flight_delay` (a new version, challenger and maybe champion).

**Evidence in the UI**: each `train_*` task links its **MLflow run**; `gate_challenger` links the
**Gate verdict**, the **Model card** and the chosen version's MLflow run.

**Trigger** (`$AIRFLOW`, `$TOKEN` and `H` as in the README's REST section):

```bash
curl -s "${H[@]}" -X POST $AIRFLOW/api/v2/dags/training_pipeline/dagRuns \\
  -d '{"logical_date": null, "conf": {"window_days": 42, "n_trials": 10, "reason": "weekly"}}'
```
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from runway.days import LOCAL_TZ

MODEL = Asset(name="model", uri="runway://models/flight_delay")
GPU = {"queue": "gpu", "pool": "gpu"}


def _settings():
    from runway.settings import load_settings

    return load_settings()


def _params() -> dict:
    return get_current_context()["params"]


def _train(family: str, data: dict) -> dict:
    params = _params()
    from runway.training.steps import BASELINE, train_family

    if family not in params["families"] and family != BASELINE:
        raise AirflowSkipException(f"{family} not in params 'families' {params['families']}")
    from runway import links

    result = train_family(
        _settings(),
        family,
        data["path"],
        n_trials=params["n_trials"],
        timeout_s=params["timeout_minutes"] * 60,
        valid_days=params["valid_days"],
        test_days=params["test_days"],
        airflow_run_id=get_current_context()["run_id"],
        trigger=params["reason"],
        evidence=params["evidence"],
    )
    links.publish(get_current_context(), {"MLflow run": links.mlflow_run_url(result["run_id"])})
    return result


@dag(
    dag_id="training_pipeline",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 3 * * 1", timezone=LOCAL_TZ),  # Mondays 03:00 New York
    start_date=pendulum.datetime(2026, 1, 1, tz=LOCAL_TZ),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "training"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "window_start": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Window start",
            description="First flight day of the training window (YYYY-MM-DD); with window_end.",
        ),
        "window_end": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Window end",
            description=(
                "Last flight day of the window. "
                "Default: the window_days ending the last landed day up to the day before "
                "the run (none landed: refused, give both)."
            ),
        ),
        "window_days": Param(
            None,
            type=["null", "integer"],
            minimum=14,
            maximum=366,
            title="Window length (days)",
            description="Used when no explicit window is given; default: the retrain policy's "
            "(RUNWAY_RETRAIN_WINDOW_DAYS, 42).",
        ),
        "valid_days": Param(
            7,
            type="integer",
            minimum=1,
            maximum=60,
            title="Validation days",
            description="Days before the test days, for early stopping and tuning (out of time).",
        ),
        "test_days": Param(
            7,
            type="integer",
            minimum=1,
            maximum=60,
            title="Test days",
            description="The window's last days: the gate compares candidate and champion on them.",
        ),
        "families": Param(
            ["xgboost", "lightgbm", "torch"],
            type="array",
            items={"type": "string", "enum": ["xgboost", "lightgbm", "torch"]},
            minItems=1,
            title="Model families",
            description="Candidates to train; each runs as its own task.",
        ),
        "n_trials": Param(
            8,
            type="integer",
            minimum=1,
            maximum=500,
            title="Optuna trials per family",
            description="Tuning budget: at most this many trials ...",
        ),
        "timeout_minutes": Param(
            5,
            type="number",
            exclusiveMinimum=0,
            maximum=240,
            title="Time limit per family (minutes)",
            description="... and at most this long per family, whichever ends first.",
        ),
        "promotion": Param(
            "auto",
            type="string",
            enum=["auto", "shadow"],
            title="Promotion policy",
            description="auto: a passing model becomes champion. shadow: it stays challenger, "
            "scored beside the champion, until promoted by hand.",
        ),
        "reason": Param(
            "scheduled",
            type="string",
            minLength=1,
            maxLength=2000,
            title="Reason",
            description="Why this run: scheduled, manual, drift or decay.",
        ),
        "evidence": Param(
            {},
            type="object",
            title="Evidence",
            description=(
                "What triggered the run (the monitor's figures and thresholds); "
                "recorded with the model."
            ),
        ),
    },
)
def training_pipeline():
    @task(multiple_outputs=False)
    def build_training_set() -> dict:
        """The window's labelled flights with point-in-time features from Feast, as parquet."""
        from runway.training.steps import build_training_set, training_window

        context = get_current_context()
        params = context["params"]
        run_moment = context.get("data_interval_end") or context["dag_run"].run_after
        settings = _settings()
        start, end = training_window(
            settings,
            params["window_start"],
            params["window_end"],
            params["window_days"],
            run_moment,
        )
        return build_training_set(settings, start, end, context["run_id"])

    @task(multiple_outputs=False, **GPU)
    def train_xgboost(data: dict) -> dict:
        """Tune XGBoost (GPU when present), log it to MLflow, register a version."""
        return _train("xgboost", data)

    @task(multiple_outputs=False)
    def train_lightgbm(data: dict) -> dict:
        """Tune LightGBM, log it to MLflow, register a version."""
        return _train("lightgbm", data)

    @task(multiple_outputs=False, **GPU)
    def train_torch(data: dict) -> dict:
        """Tune the PyTorch MLP (GPU when present), log it to MLflow, register a version."""
        return _train("torch", data)

    @task(multiple_outputs=False)
    def train_baseline(data: dict) -> dict:
        """The carrier x hour delayed rate every candidate is compared with (the honest
        champion when none beats it)."""
        from runway.training.steps import BASELINE

        return _train(BASELINE, data)

    @task(multiple_outputs=False)
    def backtest_recipe(data: dict) -> dict:
        """Each family's recipe and the baselines, trained and tested on earlier windows of the
        history (rolling origin): the evidence the gate's beats_baseline check reads."""
        from runway.training.steps import backtest_recipe

        context = get_current_context()
        params = context["params"]
        return backtest_recipe(
            _settings(),
            data,
            params["families"],
            valid_days=params["valid_days"],
            test_days=params["test_days"],
            run_id=context["run_id"],
        )

    @task(multiple_outputs=False, trigger_rule="none_failed_min_one_success")
    def gate_challenger(data: dict, families: list[str], recipe: dict) -> dict:
        """The best candidate through the model gate against the champion, on the same test
        days, its recipe judged against the baselines by the backtest."""
        from runway.training.steps import gate_best

        context = get_current_context()
        candidates = context["ti"].xcom_pull(task_ids=families)  # skipped families give None
        params = context["params"]
        from runway import links

        verdict = gate_best(
            _settings(), list(candidates), data["path"], params["test_days"],
            params["valid_days"], recipe=recipe,
        )  # fmt: skip
        links.publish(context, verdict["links"])
        return verdict

    @task(multiple_outputs=False, outlets=[MODEL])
    def promote_model(verdict: dict) -> dict:
        """A passing candidate becomes challenger, and champion under `promotion=auto`."""
        if not verdict["passed"]:
            import logging

            failed = ", ".join(verdict["failed_checks"])
            why = f"version {verdict['version']} failed the gate ({failed}): champion unchanged"
            logging.getLogger(__name__).warning("not promoting: %s", why)  # skips log no reason
            raise AirflowSkipException(why)
        import json

        from runway.training.steps import promote

        params = _params()
        actor = f"airflow:{get_current_context()['run_id']}"
        reason = params["reason"] + (
            f"; evidence {json.dumps(params['evidence'])}" if params["evidence"] else ""
        )
        return promote(_settings(), verdict, params["promotion"], actor, reason[:4000])

    data = build_training_set()
    candidates = [
        train_xgboost(data),
        train_lightgbm(data),
        train_torch(data),
        train_baseline(data),
    ]
    recipe = backtest_recipe(data)
    verdict = gate_challenger(data, [c.operator.task_id for c in candidates], recipe)
    candidates >> verdict
    promote_model(verdict)


training_pipeline()
