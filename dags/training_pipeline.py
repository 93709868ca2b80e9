"""
### Training pipeline

Builds a point-in-time training set from Feast for a window of flights, tunes one candidate
per model family (XGBoost, LightGBM, a PyTorch MLP; each its own task, the GPU families on the
`gpu` queue and pool), logs each to MLflow as a version of `flight_delay`, gates the best
against the current `champion` on the same test window, and promotes it: `challenger` always,
`champion` too when `promotion` is `auto`.

Runs weekly, and on demand: from the REST API, by the drift monitor (with its evidence in
`reason`), or by hand. A logistic regression on schedule-time features trains beside the
candidates as the baseline every family must beat.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

MODEL = Asset(name="model", uri="runway://models/flight_delay")
GPU = {"queue": "gpu", "pool": "gpu"}


def _settings():
    from runway.settings import load_settings

    return load_settings()


def _params() -> dict:
    return get_current_context()["params"]


def _train(family: str, data: dict) -> dict:
    params = _params()
    if family not in params["families"] and family != "logreg":
        raise AirflowSkipException(f"{family} not in params 'families' {params['families']}")
    from runway.training_pipeline import train_family

    return train_family(
        _settings(),
        family,
        data["path"],
        n_trials=params["n_trials"],
        timeout_s=params["timeout_minutes"] * 60,
        valid_days=params["valid_days"],
        test_days=params["test_days"],
        airflow_run_id=get_current_context()["run_id"],
    )


@dag(
    dag_id="training_pipeline",
    doc_md=__doc__,
    schedule="0 3 * * 1",  # Mondays 03:00 New York
    start_date=pendulum.datetime(2026, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "training"],
    default_args={"retries": 1, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "window_start": Param(
            None, type=["null", "string"], format="date", title="Window start",
            description="First flight day of the training window (YYYY-MM-DD); with window_end.",
        ),
        "window_end": Param(
            None, type=["null", "string"], format="date", title="Window end",
            description="Last flight day of the window. Default: the window_days ending the day before the run.",
        ),
        "window_days": Param(
            42, type="integer", minimum=14, maximum=366, title="Window length (days)",
            description="Used when no explicit window is given.",
        ),
        "valid_days": Param(
            7, type="integer", minimum=1, maximum=60, title="Validation days",
            description="Days before the test days, for early stopping and tuning (out of time).",
        ),
        "test_days": Param(
            7, type="integer", minimum=1, maximum=60, title="Test days",
            description="The window's last days: the gate compares candidate and champion on them.",
        ),
        "families": Param(
            ["xgboost", "lightgbm", "torch"], type="array",
            items={"type": "string", "enum": ["xgboost", "lightgbm", "torch"]}, minItems=1,
            title="Model families", description="Candidates to train; each runs as its own task.",
        ),
        "n_trials": Param(
            8, type="integer", minimum=1, maximum=500, title="Optuna trials per family",
            description="Tuning budget: at most this many trials ...",
        ),
        "timeout_minutes": Param(
            5, type="number", exclusiveMinimum=0, maximum=240, title="Time limit per family (minutes)",
            description="... and at most this long per family, whichever ends first.",
        ),
        "promotion": Param(
            "auto", type="string", enum=["auto", "shadow"], title="Promotion policy",
            description="auto: a passing model becomes champion. shadow: it stays challenger, "
            "scored beside the champion, until promoted by hand.",
        ),
        "reason": Param(
            "scheduled", type="string", minLength=1, maxLength=2000, title="Reason",
            description="Why this run: scheduled, manual, drift or decay.",
        ),
        "evidence": Param(
            {}, type="object", title="Evidence",
            description="What triggered the run (the monitor's figures and thresholds); recorded with the model.",
        ),
    },
)
def training_pipeline():
    @task
    def build_training_set() -> dict:
        import datetime as dt

        from runway.training_pipeline import build_training_set, training_window

        context = get_current_context()
        params = context["params"]
        interval_end = context.get("data_interval_end") or pendulum.now("America/New_York")
        last_day = interval_end.in_timezone("America/New_York").date() - dt.timedelta(days=1)
        start, end = training_window(params["window_start"], params["window_end"], params["window_days"], last_day)
        return build_training_set(_settings(), start, end, context["run_id"])

    @task(**GPU)
    def train_xgboost(data: dict) -> dict:
        return _train("xgboost", data)

    @task
    def train_lightgbm(data: dict) -> dict:
        return _train("lightgbm", data)

    @task(**GPU)
    def train_torch(data: dict) -> dict:
        return _train("torch", data)

    @task
    def train_baseline(data: dict) -> dict:
        return _train("logreg", data)

    @task(trigger_rule="none_failed_min_one_success")
    def gate_challenger(data: dict, families: list[str]) -> dict:
        from runway.training_pipeline import gate_best

        context = get_current_context()
        candidates = context["ti"].xcom_pull(task_ids=families)  # skipped families give None
        params = context["params"]
        return gate_best(_settings(), list(candidates), data["path"], params["test_days"], params["valid_days"])

    @task(outlets=[MODEL])
    def promote_model(verdict: dict) -> dict:
        if not verdict["passed"]:
            raise AirflowSkipException(
                f"version {verdict['version']} failed the gate ({', '.join(verdict['failed_checks'])}); "
                "the champion is unchanged"
            )
        from runway.training_pipeline import promote

        params = _params()
        import json

        actor = f"airflow:{get_current_context()['run_id']}"
        reason = params["reason"] + (f"; evidence {json.dumps(params['evidence'])}" if params["evidence"] else "")
        return promote(_settings(), verdict, params["promotion"], actor, reason[:4000])

    data = build_training_set()
    candidates = [train_xgboost(data), train_lightgbm(data), train_torch(data), train_baseline(data)]
    verdict = gate_challenger(data, [c.operator.task_id for c in candidates])
    candidates >> verdict
    promote_model(verdict)


training_pipeline()
