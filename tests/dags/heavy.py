"""What a DAG file must not import at parse time, and the two ways to catch one.

Owned by the DAG integrity tests; the benchmark harness (`bench/figures/dags.py`) reports the
same checks beside the parse times.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = {
    "pandas", "numpy", "feast", "mlflow", "torch", "great_expectations", "evidently", "apache_beam",
    "xgboost", "lightgbm", "sklearn", "optuna", "pyarrow", "duckdb", "scipy", "matplotlib",
}  # fmt: skip


def top_level_heavy(path: Path) -> list[str]:
    """Heavy modules imported by the file's top-level statements (`name (line n)`)."""
    found = []
    for node in ast.parse(path.read_text()).body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [f"{n} (line {node.lineno})" for n in names if n.split(".")[0] in HEAVY]
    return found


def loaded_heavy(paths: list[Path], env: dict[str, str]) -> list[str]:
    """Heavy modules loaded after parsing `paths`, one after the other, in a fresh interpreter."""
    probe = (
        "import runpy, sys\nfor p in sys.argv[1:]: runpy.run_path(p)\n"
        "print(','.join(sorted({m.split('.')[0] for m in sys.modules}"
        f" & set({sorted(HEAVY)!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *map(str, paths)], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    if out.returncode != 0:
        return [f"(parse failed: {out.stderr.strip()[-300:]})"]
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    return [m for m in last.split(",") if m]
