"""Kill `log_candidate` with SIGKILL before each of its writes, one fresh process per kill point.

Run as a script by test_tracking_faults.py: `python _kill_registration.py <plan.json>`. The plan
names the pickled candidate, its test frame, the lineage tags, a scratch folder and the
experiment. This process imports MLflow and Runway once and computes nothing (so forking it is
safe); each kill point is a child forked from it, which wraps every write method of MLflow's
SQL tracking store, SQL model registry store and local artifact repository so that its K-th
write call (any of them, nested ones included) kills the child with SIGKILL before it starts.

First a child with no kill point records the writes of a whole registration (their names, in
order); then one child per write, K = 1..N, each on its own copy of a freshly created store.
Writes `<scratch>/result.json`: {"steps": [name], "stores": [{"k", "uri", "artifacts",
"signal"}]}, `signal` being what ended the child (9 for SIGKILL, 0 for a clean exit).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import pickle
import shutil
import signal
import sys
from pathlib import Path

import pandas as pd
from mlflow import MlflowClient
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

from runway.training.tracking import log_candidate

WRITES = ("create_", "log_", "set_", "update_", "delete_", "record_", "finalize", "rename_")


def _writes(cls) -> list[str]:
    return sorted(
        name
        for name, value in vars(cls).items()
        if inspect.isfunction(value) and name.startswith(WRITES)
    )


def _hook(on_write) -> None:
    """Call `on_write(step name)` before every write method of the stores runs."""
    for cls in (TrackingStore, RegistryStore, LocalArtifactRepository):
        for name in _writes(cls):
            original = getattr(cls, name)

            @functools.wraps(original)
            def wrapped(self, *args, _original=original, _name=f"{cls.__name__}.{name}", **kw):
                on_write(_name)
                return _original(self, *args, **kw)

            setattr(cls, name, wrapped)


def _child(plan: dict, store: dict, kill_at: int | None, record: Path | None) -> None:
    steps: list[str] = []

    def on_write(name: str) -> None:
        steps.append(name)
        if kill_at is not None and len(steps) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    _hook(on_write)
    with open(plan["candidate"], "rb") as f:
        result = pickle.load(f)
    test = pd.read_parquet(plan["test"])
    log_candidate(
        result,
        test,
        store["uri"],
        plan["experiment"],
        plan["tags"],
        artifact_location=store["artifacts"],
    )
    if record is not None:
        record.write_text(json.dumps(steps))


def _run_child(plan: dict, store: dict, kill_at: int | None, record: Path | None = None) -> int:
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _child(plan, store, kill_at, record)
        except BaseException:  # noqa: BLE001 - report, never return into the parent's code
            import traceback

            traceback.print_exc()
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status)
    return -os.WEXITSTATUS(status) if os.WEXITSTATUS(status) else 0


def main(plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    scratch = Path(plan["scratch"])
    template = scratch / "template.db"
    MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()  # migrate once

    def fresh(name: str) -> dict:
        db = scratch / f"{name}.db"
        shutil.copy(template, db)
        return {"uri": f"sqlite:///{db}", "artifacts": str(scratch / f"{name}-artifacts")}

    record = scratch / "steps.json"
    status = _run_child(plan, fresh("record"), None, record)
    if status != 0:
        raise SystemExit(f"the recording child failed (status {status})")
    steps = json.loads(record.read_text())
    stores = []
    for k in range(1, len(steps) + 1):
        store = fresh(f"kill-{k:03d}")
        stores.append({"k": k, **store, "signal": _run_child(plan, store, k)})
    (scratch / "result.json").write_text(json.dumps({"steps": steps, "stores": stores}))


if __name__ == "__main__":
    main(sys.argv[1])
