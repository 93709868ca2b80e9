"""Registration survives a kill at every step: SIGKILL before each write `log_candidate` makes
(MLflow's tracking store, model registry and artifact repository), then the task's retry.

No model version is ever visible without its lineage tags, at any kill point; the retry ends
with exactly one version of the candidate, complete (lineage, description, its run finished,
loadable), and every run the killed attempt left is retired or is the version's own.
The kills are real: `_kill_registration.py` forks one process per write and kills it with
SIGKILL just before that write starts.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

import runway
from runway import registry
from runway.registry import tracking
from runway.training.candidates import train_candidate
from runway.training.data import split_by_date, training_data_hash
from runway.training.tracking import (
    IDENTITY_TAGS,
    LINEAGE_KEYS,
    RETIRED_TAG,
    lineage_tags,
    log_candidate,
)
from tests.unit._training_data import TEST_DAYS, VALID_DAYS, sample_frame

EXPERIMENT = "flight_delay_faults"
HARNESS = Path(__file__).with_name("_kill_registration.py")


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """A logistic-regression candidate, and one store per kill point of its registration."""
    scratch = tmp_path_factory.mktemp("kills")
    split = split_by_date(sample_frame(tmp_path_factory), VALID_DAYS, TEST_DAYS)
    result = train_candidate("logreg", split.train, split.valid, n_trials=1, seed=0, threads=1)
    tags = lineage_tags(
        feature_service="flight_delay_v1",
        feature_service_version=1,
        training_window=split.windows()["train"],
        data_hash=training_data_hash(split.train),
        git_commit="0123abcd",
        airflow_run_id="scheduled__2026-06-09T00:00:00+00:00",
    )
    with open(scratch / "candidate.pkl", "wb") as f:
        pickle.dump(result, f)
    split.test.to_parquet(scratch / "test.parquet", index=False)
    plan = {
        "candidate": str(scratch / "candidate.pkl"),
        "test": str(scratch / "test.parquet"),
        "tags": tags,
        "experiment": EXPERIMENT,
        "scratch": str(scratch),
    }
    (scratch / "plan.json").write_text(json.dumps(plan))
    include = Path(runway.__file__).parents[1]
    repo = include.parent
    env = os.environ | {"PYTHONPATH": f"{include}:{repo}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, str(HARNESS), str(scratch / "plan.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    outcome = json.loads((scratch / "result.json").read_text())
    return outcome | {"result": result, "test": split.test, "tags": tags}


def _versions(uri: str) -> list:
    return MlflowClient(tracking_uri=uri, registry_uri=uri).search_model_versions(
        f"name='{registry.MODEL_NAME}'"
    )


def _identity(run_tags) -> bool:
    return all(key in run_tags for key in IDENTITY_TAGS)


def test_every_write_of_a_registration_was_a_kill_point(killed):
    steps, stores = killed["steps"], killed["stores"]
    names = set(steps)
    assert "SqlAlchemyStore.create_model_version" in names  # the registry's one lineage call
    assert "LocalArtifactRepository.log_artifacts" in names  # the model's files
    assert len(stores) == len(steps) >= 10
    assert all(store["signal"] == 9 for store in stores), [s["signal"] for s in stores]
    # registration itself: a version appears in one call, never before its lineage is set
    created = steps.index("SqlAlchemyStore.create_model_version")
    assert "SqlAlchemyStore.set_model_version_tag" not in steps[created:]


def test_no_version_is_ever_visible_without_its_lineage(killed):
    lineage = [f"runway.{key}" for key in LINEAGE_KEYS] + list(IDENTITY_TAGS)
    seen = 0
    for store in killed["stores"]:
        for mv in _versions(store["uri"]):
            seen += 1
            assert all(mv.tags.get(k) == killed["tags"].get(k, mv.tags.get(k)) for k in lineage)
            assert all(k in mv.tags for k in lineage), (store["k"], sorted(mv.tags))
            assert mv.description, store["k"]  # described in the same call
    assert seen >= 1  # the kills after the version's creation left one each


def test_a_retry_after_any_kill_ends_with_one_complete_version(killed):
    result, test, tags = killed["result"], killed["test"], killed["tags"]
    for store in killed["stores"]:
        uri, k = store["uri"], store["k"]
        before = {mv.version for mv in _versions(uri)}

        logged = log_candidate(
            result, test, uri, EXPERIMENT, tags, artifact_location=store["artifacts"]
        )

        versions = _versions(uri)
        assert [int(mv.version) for mv in versions] == [logged.version], k
        assert before <= {mv.version for mv in versions}, k  # an orphan version is completed
        mv = versions[0]
        assert all(f"runway.{key}" in mv.tags for key in LINEAGE_KEYS), k
        assert mv.run_id == logged.run_id and mv.description, k
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        assert client.get_registered_model(registry.MODEL_NAME).description, k
        runs = client.search_runs(
            [client.get_experiment_by_name(EXPERIMENT).experiment_id], max_results=100
        )
        for run in runs:
            assert _identity(run.data.tags), k
            if run.info.run_id == logged.run_id:
                assert run.info.status == "FINISHED", k
                assert RETIRED_TAG not in run.data.tags, k
            else:  # what the killed attempt left, retired
                assert run.info.status != "RUNNING" and RETIRED_TAG in run.data.tags, k
        assert logged.test_metrics["roc_auc"] > 0.55, k
        again = log_candidate(
            result, test, uri, EXPERIMENT, tags, artifact_location=store["artifacts"]
        )
        assert (again.version, again.run_id) == (logged.version, logged.run_id), k
    # the version a retry completes is a usable model: load the last store's and score
    with tracking(uri):
        model = mlflow.pyfunc.load_model(logged.model_uri)
    assert len(model.predict(test.head(20))) == 20
