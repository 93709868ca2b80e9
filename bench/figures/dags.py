"""Figure 6: DAG parse time per file, as `airflow dags report` measures it, and heavy imports.

`airflow dags report -o json` (the same DagBag timing as `-o plain`) against a migrated
SQLite metadata DB in a scratch AIRFLOW_HOME, with the repository's airflow.cfg (the
environment `scripts/env.sh` sets). Beside it, the floor: the same report over a folder holding
one minimal DAG. Then the no-heavy-import check of `tests/dags/test_dag_integrity.py`, twice:
top-level import statements (AST), and the heavy modules actually loaded by parsing the file
in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.context import Context
from bench.harness import REPO, Figure, child_env
from tests.dags.heavy import HEAVY, loaded_heavy, top_level_heavy

MINIMAL_DAG = '''"""The floor: one DAG, one task, nothing else."""
import datetime as dt

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    "bench_minimal", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
):
    EmptyOperator(task_id="noop")
'''


def _env(airflow_home: Path, dags_folder: Path | None = None) -> dict[str, str]:
    env = child_env(
        {
            "RUNWAY_REPO": str(REPO),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW_CONFIG": str(REPO / "airflow.cfg"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    return env


def _report(env: dict[str, str]) -> list[dict]:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "report", "-o", "json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"airflow dags report exited {out.returncode}: {out.stderr[-2000:]}")
    line = next((x for x in out.stdout.splitlines() if x.startswith("[")), None)
    if line is None:
        raise RuntimeError(f"no JSON in `airflow dags report` output: {out.stdout[-2000:]}")
    return json.loads(line)


def _seconds(duration: str) -> float:
    hours, minutes, seconds = duration.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="dags",
        title="DAG parse time per file (airflow dags report) and heavy imports",
        contender="every file of dags/",
        baselines=["floor: a minimal DAG file (one EmptyOperator) parsed by the same report"],
    )
    home = ctx.work / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    minimal = ctx.work / "airflow-minimal-dags"
    minimal.mkdir(parents=True, exist_ok=True)
    (minimal / "bench_minimal.py").write_text(MINIMAL_DAG)
    env = _env(home)
    ctx.say("dags: airflow db migrate (scratch AIRFLOW_HOME)")
    t0 = time.perf_counter()
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {migrate.stderr[-2000:]}")
    fig.params = {
        "airflow_home": str(home),
        "db_migrate_s": round(time.perf_counter() - t0, 1),
        "repeats": ctx.repeats,
        "report": "airflow dags report -o json",
    }
    per_file: dict[str, list[float]] = {}
    floor, report_wall = [], []
    for rep in range(ctx.repeats):
        ctx.say(f"dags: report run {rep + 1}/{ctx.repeats}")
        t0 = time.perf_counter()
        rows = _report(env)
        report_wall.append(time.perf_counter() - t0)
        for row in rows:
            per_file.setdefault(Path(row["file"]).name, []).append(_seconds(row["duration"]))
        floor_rows = _report(_env(home, minimal))
        floor += [_seconds(r["duration"]) for r in floor_rows]
    files = sorted(p.name for p in (REPO / "dags").glob("*.py"))
    missing = sorted(set(files) - set(per_file))
    fig.check("every dags/*.py file is in the report", not missing, missing)
    for name in sorted(per_file, key=lambda n: -max(per_file[n])):
        fig.measure(name, "dags report", "parse_s", per_file[name], "s")
    fig.measure("minimal DAG (floor)", "dags report", "parse_s", floor, "s")
    fig.measure("whole `airflow dags report` command", "wall", "seconds", report_wall, "s")
    slowest = (
        max(per_file, key=lambda n: fig.get(n, "dags report", "parse_s")) if per_file else None
    )
    worst = fig.get(slowest, "dags report", "parse_s") if slowest else None
    worst_max = max(max(v) for v in per_file.values()) if per_file else None
    fig.add_ratio(
        f"slowest file ({slowest}) / minimal DAG",
        worst,
        fig.get("minimal DAG (floor)", "dags report", "parse_s"),
        "x the floor",
    )
    fig.target(f"every file parses in < 0.5 s (slowest median: {slowest})", worst, "<=", 0.5, "s")
    fig.target(
        "every file parses in < 0.5 s in every repeat (slowest single parse)",
        worst_max,
        "<=",
        0.5,
        "s",
    )
    ctx.say("dags: heavy-import checks")
    heavy = {}
    probe_env = _env(home)
    paths = sorted((REPO / "dags").glob("*.py"))
    together = loaded_heavy(paths, probe_env)  # none loaded by all of them: none by any one
    for path in paths:
        loaded = loaded_heavy([path], probe_env) if together else []
        heavy[path.name] = {
            "top_level_imports": top_level_heavy(path),
            "modules_loaded_by_parsing": loaded,
        }
    clean = all(
        not v["top_level_imports"] and not v["modules_loaded_by_parsing"] for v in heavy.values()
    )
    fig.check(
        "no heavy import at top level (AST) and none loaded by parsing (fresh interpreter)",
        clean,
        heavy,
    )
    fig.params["heavy_modules"] = sorted(HEAVY)
    fig.target(
        "files with a heavy import (top level or loaded by parsing)",
        float(
            sum(
                bool(v["top_level_imports"] or v["modules_loaded_by_parsing"])
                for v in heavy.values()
            )
        ),
        "<=",
        0.0,
        "files",
    )
    return fig
