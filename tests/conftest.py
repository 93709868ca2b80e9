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
