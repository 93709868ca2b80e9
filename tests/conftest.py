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

import subprocess  # noqa: E402
import sys  # noqa: E402

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


# The files that start real servers and run for minutes, longest first (measured at the last
# clean-clone run). `make test` hands whole files to two processes (`--dist loadfile`); started
# first, they run side by side and the short files fill the gaps, instead of one of them
# starting last while the other process idles.
LONGEST_FIRST = (
    "tests/integration/test_cluster_profile.py",
    "tests/e2e/test_loop_through_airflow.py",
    "tests/integration/test_dask_runner.py",
    "tests/e2e/test_serving.py",
    "tests/integration/test_airflow_load.py",
    "tests/integration/test_experiments_airflow.py",
)


def pytest_collection_modifyitems(config, items):
    """Longest files first, every file's tests in their own order (a stable sort by file)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item) -> int:
        path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        return rank.get(path, len(rank))

    items.sort(key=key)
