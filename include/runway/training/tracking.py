"""Log a candidate to MLflow: params, validation and test metrics, plots, the pyfunc model
with signature and input example, lineage tags, and a new version of the registered model.

Registration survives a kill at any step. The model is logged to its run first, unregistered;
the version is then created in one registry call that carries the lineage tags and the
description, so no version is ever visible without its lineage. A retry of the same task (same
Airflow run id, family and data hash) finds what an earlier attempt left: its version, which it
completes (the run ended, descriptions set) and returns; or runs without a version, which it
retires (tagged `runway.retired`, ended KILLED) before logging afresh.

Every function takes the tracking URI explicitly and leaves MLflow's process-wide URI as it
found it. Locally the URI is `sqlite:///<home>/mlflow.db` and artifacts go to the `file://`
folder given as the experiment's artifact location; on the cluster, the MLflow server's URL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from runway import contracts
from runway.metrics import classification_metrics, slice_metrics, write_plots
from runway.registry import MODEL_NAME, TAG_PREFIX, ensure_experiment, tracking
from runway.training.candidates import CandidateResult
from runway.training.inputs import CATEGORICAL, RAW_INPUTS, labels

MODEL_ARTIFACT = "model"  # log_model(name=...)
# Lineage every registered version carries: what data, which code, which Airflow run.
LINEAGE_KEYS = (
    "feature_service",
    "feature_service_version",
    "training_window",
    "data_hash",
    "git_commit",
    "airflow_run_id",
)
FAMILY_REQUIREMENTS = {
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "torch": ("torch",),
    "logreg": (),
    "carrier_hour_rate": (),
}
_DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu")}  # the CPU wheel has another name


def lineage_tags(
    *,
    feature_service: str,
    feature_service_version: str | int,
    training_window: str,
    data_hash: str,
    git_commit: str,
    airflow_run_id: str,
) -> dict[str, str]:
    """The lineage tags `log_candidate` requires, under their agreed names."""
    values = locals()
    return {f"{TAG_PREFIX}{key}": str(values[key]) for key in LINEAGE_KEYS}


@dataclasses.dataclass(frozen=True)
class LoggedCandidate:
    run_id: str
    model_name: str
    version: int
    model_uri: str  # models:/<name>/<version>
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]


def _requirements(family: str) -> list[str]:
    def pinned(module: str) -> str:
        for dist in _DISTRIBUTIONS.get(module, (module,)):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                return f"{module}=={importlib.metadata.version(dist)}"
        return module

    return [pinned(m) for m in ("mlflow", "pandas", "numpy", "scikit-learn")] + [
        pinned(m) for m in FAMILY_REQUIREMENTS[family]
    ]


def model_signature():
    """The pyfunc signature: `inputs.RAW_INPUTS`, each required (a missing feature column
    fails loudly; NaN values are fine), and one double per row out: P(delayed)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    types = {"hour": "long", "sched_dep_time": "long", "flight_date": "datetime"}
    types |= {col: "string" for col in CATEGORICAL}
    inputs = Schema([ColSpec(types.get(col, "double"), col) for col in RAW_INPUTS])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double")]))


def _input_example(test: pd.DataFrame) -> pd.DataFrame:
    example = test[list(RAW_INPUTS)].head(5).reset_index(drop=True)
    example["flight_date"] = pd.to_datetime(example["flight_date"])
    for col in contracts.ALL_FEATURES:
        example[col] = example[col].astype("float64")
    return example


def _finite(metrics: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and not math.isnan(v)}


# A version is the same candidate again when all of these tags match (an Airflow retry).
IDENTITY_TAGS = tuple(f"{TAG_PREFIX}{k}" for k in ("airflow_run_id", "family", "data_hash"))
RETIRED_TAG = f"{TAG_PREFIX}retired"  # on runs an attempt left without a version


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _description(family: str, training_window: str, test_window: str, metrics) -> str:
    return (
        f"{family} on {training_window}; test {test_window}: "
        f"AUC {metrics['roc_auc']:.4f}, ECE {metrics['ece']:.4f}"
    )


def _model_description() -> str:
    return f"P(delayed) per scheduled departure: {contracts.LABEL_DEFINITION}"


def _same_candidate(tags: Mapping[str, str], run_tags: Mapping[str, str]) -> bool:
    return all(tags.get(k) == run_tags[k] for k in IDENTITY_TAGS)


def _already_logged(client, model_name: str, run_tags: Mapping[str, str]):
    """The version an earlier attempt of the same task registered, if any."""
    from mlflow.exceptions import MlflowException

    run_id_tag = f"{TAG_PREFIX}airflow_run_id"
    value = _quoted(run_tags[run_id_tag])
    try:
        found = client.search_model_versions(
            f"name='{model_name}' and tags.`{run_id_tag}` = '{value}'"
        )
    except MlflowException:
        return None
    same = [mv for mv in found if _same_candidate(mv.tags, run_tags)]
    return min(same, key=lambda v: int(v.version)) if same else None


def _attempt_runs(client, experiment_id: str, run_tags: Mapping[str, str]) -> list:
    """Every run an attempt of this task started (same identity tags)."""
    query = " and ".join(f"tags.`{k}` = '{_quoted(run_tags[k])}'" for k in IDENTITY_TAGS)
    return client.search_runs([experiment_id], query, max_results=1000)


def _retire_orphans(client, experiment_id: str, run_tags: Mapping[str, str], keep: str = ""):
    """End and tag the runs earlier attempts left without a version (all but `keep`)."""
    from mlflow.entities import RunStatus

    retired = []
    for run in _attempt_runs(client, experiment_id, run_tags):
        if run.info.run_id == keep or RETIRED_TAG in run.data.tags:
            continue
        client.set_tag(
            run.info.run_id,
            RETIRED_TAG,
            "an attempt of this task stopped before its model version was registered",
        )
        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        retired.append(run.info.run_id)
    return retired


def _complete(client, model_name: str, mv, run_tags: Mapping[str, str]) -> LoggedCandidate:
    """What an attempt killed after registering its version did not finish; the version."""
    from mlflow.entities import RunStatus

    run = client.get_run(mv.run_id)
    _retire_orphans(client, run.info.experiment_id, run_tags, keep=mv.run_id)
    if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
        client.set_terminated(mv.run_id, RunStatus.to_string(RunStatus.FINISHED))
    if not client.get_registered_model(model_name).description:
        client.update_registered_model(model_name, description=_model_description())
    metrics = run.data.metrics
    return LoggedCandidate(
        run_id=mv.run_id,
        model_name=model_name,
        version=int(mv.version),
        model_uri=f"models:/{model_name}/{mv.version}",
        valid_metrics={k[6:]: v for k, v in metrics.items() if k.startswith("valid_")},
        test_metrics={k[5:]: v for k, v in metrics.items() if k.startswith("test_")},
    )


def _register(client, model_name: str, info, run_id: str, tags, description: str) -> int:
    """A new version of `model_name` from the logged model, its lineage and description set in
    the same registry call (one transaction in MLflow's SQL store)."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

    try:
        client.create_registered_model(model_name, description=_model_description())
    except MlflowException as err:
        if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    mv = client.create_model_version(
        model_name,
        source=f"models:/{info.model_id}",
        run_id=run_id,
        tags=dict(tags),
        description=description,
        model_id=info.model_id,
    )
    # the logged model's link to its versions (what MLflow's UI shows); not lineage
    logged = client.get_logged_model(info.model_id)
    linked = json.loads(logged.tags.get(MLFLOW_MODEL_VERSIONS) or "[]")
    linked.append({"name": model_name, "version": mv.version})
    client.set_logged_model_tags(info.model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(linked)})
    return int(mv.version)


def log_candidate(
    result: CandidateResult,
    test: pd.DataFrame,
    tracking_uri: str,
    experiment: str,
    tags: Mapping[str, str],
    *,
    artifact_location: str | Path | None = None,
    model_name: str = MODEL_NAME,
    slice_columns: tuple[str, ...] = ("carrier", "origin"),
) -> LoggedCandidate:
    """One MLflow run for a trained candidate, and a new version of `model_name` from it.

    `tags` must hold the lineage tags (see `lineage_tags`); they go on the run and on the
    registered version. Metrics are logged as `valid_<name>` and `test_<name>`.
    Rerunning the same task (same Airflow run id, family and data hash) registers nothing
    new: the version an earlier attempt registered is completed and returned; runs earlier
    attempts left without a version are retired (see the module's docstring)."""
    import mlflow

    from runway.training.pyfunc import ENTRY, SCORER_ARTIFACT, save_scorer

    tags = {k: str(v) for k, v in tags.items()}
    missing = [f"{TAG_PREFIX}{k}" for k in LINEAGE_KEYS if f"{TAG_PREFIX}{k}" not in tags]
    if missing:
        raise ValueError(f"log_candidate needs the lineage tags {missing} (see lineage_tags())")
    y_test = labels(test)
    scores = result.model.predict_proba(test)
    test_metrics = classification_metrics(y_test, scores)
    slices = slice_metrics(test, y_test, scores, slice_columns)
    first, last = test["flight_date"].min(), test["flight_date"].max()
    run_tags = {
        **tags,
        f"{TAG_PREFIX}family": result.family,
        f"{TAG_PREFIX}device": result.device,
        f"{TAG_PREFIX}test_window": f"{first}..{last}",
    }
    with tracking(tracking_uri) as client, tempfile.TemporaryDirectory() as tmp:
        earlier = _already_logged(client, model_name, run_tags)
        if earlier is not None:
            return _complete(client, model_name, earlier, run_tags)
        experiment_id = ensure_experiment(client, experiment, artifact_location)
        _retire_orphans(client, experiment_id, run_tags)
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=result.family, tags=run_tags
        ) as run:
            mlflow.log_params(
                {
                    "family": result.family,
                    "device": result.device,
                    "trials": result.trials,
                    "best_iteration": result.best_iteration,
                    "train_rows": result.train_rows,
                    "valid_rows": result.valid_rows,
                    "test_rows": len(test),
                    "train_window": "..".join(result.train_window),
                    "valid_window": "..".join(result.valid_window),
                    "fit_seconds": round(result.fit_seconds, 2),
                    **{f"hp_{k}": v for k, v in result.params.items()},
                }
            )
            mlflow.log_metrics(
                _finite({f"valid_{k}": v for k, v in result.valid_metrics.items()})
                | _finite({f"test_{k}": v for k, v in test_metrics.items()})
            )
            plots = write_plots(
                y_test,
                scores,
                Path(tmp) / "plots",
                result.model.feature_importance(),
                title=f"({result.family}, test)",
            )
            mlflow.log_artifacts(str(plots[0].parent), "plots")
            mlflow.log_dict(
                [
                    dataclasses.asdict(s)
                    | {"name": s.name, "roc_auc": None if math.isnan(s.roc_auc) else s.roc_auc}
                    for s in slices
                ],
                "evaluation/test_slices.json",
            )
            scorer = save_scorer(result.model, Path(tmp) / "scorer.pkl")
            info = mlflow.pyfunc.log_model(  # logged to the run, not registered yet
                name=MODEL_ARTIFACT,
                python_model=str(ENTRY),
                artifacts={SCORER_ARTIFACT: str(scorer)},
                signature=model_signature(),
                input_example=_input_example(test),
                pip_requirements=_requirements(result.family),
            )
            description = _description(
                result.family,
                run_tags[f"{TAG_PREFIX}training_window"],
                f"{first}..{last}",
                test_metrics,
            )
            version = _register(client, model_name, info, run.info.run_id, run_tags, description)
    return LoggedCandidate(
        run_id=run.info.run_id,
        model_name=model_name,
        version=version,
        model_uri=f"models:/{model_name}/{version}",
        valid_metrics=dict(result.valid_metrics),
        test_metrics=test_metrics,
    )
