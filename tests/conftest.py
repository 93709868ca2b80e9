"""Test-wide environment: Airflow reads this repo's airflow.cfg with its state in a scratch
folder, so tests never touch the demo's `.runway/`. Set before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRATCH = Path(tempfile.mkdtemp(prefix="runway-tests-"))

os.environ["RUNWAY_REPO"] = str(REPO)
os.environ["AIRFLOW_CONFIG"] = str(REPO / "airflow.cfg")
os.environ["AIRFLOW_HOME"] = str(SCRATCH / "airflow")
os.environ.setdefault("RUNWAY_HOME", str(SCRATCH / "runway"))
os.environ.setdefault("RUNWAY_REPLAY_YEAR", "2026")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
(SCRATCH / "airflow").mkdir(parents=True, exist_ok=True)

import datetime as dt  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """The tests' own Airflow metadata DB (SQLite in the scratch folder), migrated once."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return SCRATCH / "airflow"


# The longest files first, as the last clean-clone run measured them (bench/results/
# test_timings.json: their tests' time summed, 2026-12-02). `make test` hands whole files to two
# processes (`--dist loadfile`); started first, they run side by side and the short files fill
# the gaps, instead of one of them starting last while the other process idles.
LONGEST_FIRST = (
    "tests/e2e/test_loop_through_airflow.py",  # 349 s
    "tests/unit/features/test_gates_raw.py",  # 212 s
    "tests/integration/test_cluster_profile.py",  # 200 s
    "tests/e2e/test_serving.py",  # 164 s
    "tests/integration/test_airflow_load.py",  # 78 s
    "tests/integration/test_dask_runner.py",  # 75 s
    "tests/integration/test_experiments_airflow.py",  # 73 s
    "tests/unit/training/test_tracking_faults.py",  # 65 s
    "tests/unit/features/test_gates_features.py",  # 45 s
    "tests/integration/test_scoring_monitoring.py",  # 36 s
)


def pytest_collection_modifyitems(config, items):
    """Longest files first, every file's tests in their own order (a stable sort by file)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)


# `make test`'s wall time and its slowest files, for the bench's `tests` figure
# (bench/figures/tests.py): written by the controlling process once the session ends.
TIMINGS = REPO / "bench" / "results" / "test_timings.json"
_session: dict = {}


def pytest_sessionstart(session):
    _session.update(started=time.time(), files={}, outcomes={})


def pytest_runtest_logreport(report):
    if "started" not in _session:
        return
    path = report.nodeid.split("::")[0]
    _session["files"][path] = _session["files"].get(path, 0.0) + report.duration
    if report.when == "call" or report.outcome != "passed":
        outcome = report.outcome if report.when == "call" else f"{report.when} {report.outcome}"
        _session["outcomes"][outcome] = _session["outcomes"].get(outcome, 0) + 1


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput") or "started" not in _session:
        return  # an xdist worker: the controller sees every report and writes the file
    if session.config.option.collectonly or session.testscollected < 100:
        return  # a listing or a few tests picked by hand: not `make test`
    slowest = sorted(_session["files"].items(), key=lambda kv: -kv[1])[:10]
    record = {
        "wall_s": round(time.time() - _session["started"], 1),
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "exitstatus": int(exitstatus),
        "tests": session.testscollected,
        "outcomes": _session["outcomes"],
        "workers": getattr(session.config.option, "numprocesses", None) or 1,
        "slowest_files_s": {path: round(seconds, 1) for path, seconds in slowest},
    }
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    scratch = TIMINGS.with_suffix(".tmp")
    scratch.write_text(json.dumps(record, indent=2) + "\n")
    scratch.replace(TIMINGS)
