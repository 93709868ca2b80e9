"""Every DAG file: imports cleanly, parses fast, imports nothing heavy at top level, and carries
the header a Runway DAG must have (doc, schedule, tz-aware start, tags, retries, typed params)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.heavy import loaded_heavy, top_level_heavy

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
APPROVED_TAGS = {"runway", "features", "training", "scoring", "monitoring", "operations"}
# Every DAG's task graph, exactly: (upstream, downstream) edges, and tasks without any.
_FEATURE_STEPS = [
    "land_raw",
    "validate_raw",
    "build_features",
    "validate_features",
    "materialize_features",
]
_FAMILIES = ["train_xgboost", "train_lightgbm", "train_torch", "train_baseline"]
EXPECTED_TASKS = {
    "feature_pipeline": {
        *(("resolve_days", step) for step in _FEATURE_STEPS),
        *zip(_FEATURE_STEPS, _FEATURE_STEPS[1:], strict=False),
    },
    "training_pipeline": {
        ("build_training_set", "gate_challenger"),
        ("build_training_set", "backtest_recipe"),
        ("backtest_recipe", "gate_challenger"),
        *(("build_training_set", family) for family in _FAMILIES),
        *((family, "gate_challenger") for family in _FAMILIES),
        ("gate_challenger", "promote_model"),
    },
    "batch_scoring": {("resolve_days", "score_flights")},
    "model_monitoring": {
        ("resolve_days", "monitor_days"),
        ("monitor_days", "decide_retraining"),
        ("decide_retraining", "trigger_training"),
    },
    "model_rollback": set(),
    "model_promotion": set(),
    "online_experiment": {
        ("resolve_days", "evaluate_experiment"),
        ("evaluate_experiment", "decide_promotion"),
        ("decide_promotion", "trigger_promotion"),
    },
    "experiment_control": set(),
}
ALONE = {
    "model_rollback": {"rollback_champion"},
    "model_promotion": {"promote_version"},
    "experiment_control": {"control_experiment"},
}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(EXPECTED_TASKS) == set(dagbag.dag_ids)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_heavy_import_at_top_level(path):
    heavy = top_level_heavy(path)  # tests.dags.heavy.HEAVY: the modules a DAG file must not import
    assert not heavy, f"{path.name} imports {heavy} at top level"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_parsing_loads_no_heavy_module(path):
    loaded = loaded_heavy([path], dict(os.environ))  # parsed in a fresh interpreter
    assert loaded == [], f"parsing {path.name} loads {loaded}"


def test_dag_headers(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.doc_md and len(dag.doc_md) > 80, f"{dag_id}: doc_md"
        assert dag.start_date is not None and dag.start_date.tzinfo is not None, (
            f"{dag_id}: start_date"
        )
        assert dag.tags and set(dag.tags) <= APPROVED_TAGS, f"{dag_id}: tags {dag.tags}"
        assert dag.catchup is False, f"{dag_id}: catchup must be stated False"
        for task in dag.tasks:
            assert task.retry_delay is not None, f"{dag_id}.{task.task_id}: retry_delay"
        assert dag.default_args.get("retries", 0) >= 1, f"{dag_id}: default retries"
        for name, param in dag.params.items():
            param = dag.params.get_param(name)
            assert param.schema.get("type"), f"{dag_id}.{name}: untyped param"
            assert param.schema.get("title") and param.description, (
                f"{dag_id}.{name}: title/description"
            )


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_TASKS))
def test_task_graph(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    edges = {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}
    assert edges == EXPECTED_TASKS[dag_id]
    tasks = {task for edge in EXPECTED_TASKS[dag_id] for task in edge} | ALONE.get(dag_id, set())
    assert {t.task_id for t in dag.tasks} == tasks


def test_every_task_has_a_docstring_for_the_ui(dagbag):
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            if task.task_type.endswith("DecoratedOperator") or hasattr(task, "python_callable"):
                assert task.doc_md, f"{dag_id}.{task.task_id} has no docstring"


def test_every_dag_doc_names_its_schedule_params_assets_and_trigger(dagbag):
    """A person reading the DAG's page learns when it runs, what to give it, what it produces
    and how to trigger it from a terminal."""
    for dag_id, dag in dagbag.dags.items():
        doc = dag.doc_md or ""
        assert "**Runs**" in doc and "**Assets**" in doc, dag_id
        missing = [name for name in dag.params if f"`{name}`" not in doc]
        assert missing == [], (dag_id, missing)
        for task in dag.tasks:
            for asset in getattr(task, "outlets", []):
                assert asset.uri in doc, (dag_id, asset.uri)
        assert f'curl -s "${{H[@]}}" -X POST $AIRFLOW/api/v2/dags/{dag_id}/dagRuns' in doc


def test_parse_time_per_file_under_half_a_second(airflow_db):
    """`airflow dags report` times each file's parse; every file must stay under 0.5 s."""
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "report", "-o", "plain"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    durations = {
        row.split()[0]: row.split()[1] for row in out.stdout.splitlines() if " 0:00:" in row
    }
    assert set(durations) == {path.name for path in DAG_FILES}, out.stdout
    for name, duration in durations.items():
        assert float(duration.split(":")[-1]) < 0.5, f"{name} parses in {duration}"
