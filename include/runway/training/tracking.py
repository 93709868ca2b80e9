"""Log a candidate to MLflow: params, validation and test metrics, plots, the pyfunc model
with signature and input example, lineage tags, and a new version of the registered model.

Every function takes the tracking URI explicitly and leaves MLflow's process-wide URI as it
found it. Locally the URI is `sqlite:///<home>/mlflow.db` and artifacts go to the `file://`
folder given as the experiment's artifact location; on the cluster, the MLflow server's URL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
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


def _already_logged(client, model_name: str, run_tags: Mapping[str, str]):
    """The version an earlier attempt of the same task registered, if any."""
    from mlflow.exceptions import MlflowException

    run_id_tag = f"{TAG_PREFIX}airflow_run_id"
    value = run_tags[run_id_tag].replace("'", "\\'")
    try:
        found = client.search_model_versions(
            f"name='{model_name}' and tags.`{run_id_tag}` = '{value}'"
        )
    except MlflowException:
        return None
    same = [mv for mv in found if all(mv.tags.get(k) == run_tags[k] for k in IDENTITY_TAGS)]
    if not same:
        return None
    mv = min(same, key=lambda v: int(v.version))
    metrics = client.get_run(mv.run_id).data.metrics
    return LoggedCandidate(
        run_id=mv.run_id,
        model_name=model_name,
        version=int(mv.version),
        model_uri=f"models:/{model_name}/{mv.version}",
        valid_metrics={k[6:]: v for k, v in metrics.items() if k.startswith("valid_")},
        test_metrics={k[5:]: v for k, v in metrics.items() if k.startswith("test_")},
    )


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
    new: the version the first attempt registered is returned."""
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
            return earlier
        experiment_id = ensure_experiment(client, experiment, artifact_location)
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
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=str(ENTRY),
                artifacts={SCORER_ARTIFACT: str(scorer)},
                signature=model_signature(),
                input_example=_input_example(test),
                pip_requirements=_requirements(result.family),
                registered_model_name=model_name,
            )
        version = int(info.registered_model_version)
        if not client.get_registered_model(model_name).description:
            client.update_registered_model(
                model_name,
                description=f"P(delayed) per scheduled departure: {contracts.LABEL_DEFINITION}",
            )
        for key, value in run_tags.items():
            client.set_model_version_tag(model_name, str(version), key, value)
        client.update_model_version(
            model_name,
            str(version),
            description=(
                f"{result.family} on {run_tags[f'{TAG_PREFIX}training_window']}; test "
                f"{first}..{last}: AUC {test_metrics['roc_auc']:.4f}, ECE {test_metrics['ece']:.4f}"
            ),
        )
    return LoggedCandidate(
        run_id=run.info.run_id,
        model_name=model_name,
        version=version,
        model_uri=f"models:/{model_name}/{version}",
        valid_metrics=dict(result.valid_metrics),
        test_metrics=test_metrics,
    )
