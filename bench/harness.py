"""The harness's plumbing: contenders in fresh processes, repeated runs, statistics, the
machine and the versions measured, and the shape of a figure in `latest.json`.

Every contender of a figure runs in its own subprocess (`python -m bench.child`), so that its
imports, its caches and its peak memory are its own: the child reports its timings and its
`ru_maxrss` (the peak resident set of that process, imports included). Contenders are
interleaved repeat by repeat (A, B, C, A, B, C, ...), so that a noisy neighbour slows all of
them alike, and figures are medians with min-max over the repeats.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

VERSIONS = (
    "apache-beam",
    "feast",
    "duckdb",
    "pandas",
    "numpy",
    "pyarrow",
    "xgboost",
    "xgboost-cpu",
    "lightgbm",
    "torch",
    "scikit-learn",
    "optuna",
    "mlflow",
    "evidently",
    "scipy",
    "redis",
    "apache-airflow",
    "great-expectations",
    "matplotlib",
    "psutil",
)


class ChildFailed(RuntimeError):
    """A contender's subprocess exited non-zero or wrote no result."""


# ---- statistics -------------------------------------------------------------------------------
def stats(values: list[float]) -> dict[str, Any]:
    """Median, min and max of repeated measurements (None where nothing was measured)."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
        "values": [round(v, 6) for v in values],
    }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of nothing")
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


# ---- a figure ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Figure:
    """One row of the issue's table: what was measured, beside what, against which target."""

    name: str
    title: str
    contender: str  # the project's path
    baselines: list[str]
    status: str = "ok"  # ok | error | not measured | skipped
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    measurements: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ratios: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    checks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    targets: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    plots: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0  # how long the figure took to measure, set-up included
    error: str | None = None

    def measure(
        self, case: str, contender: str, metric: str, values: list[float], unit: str
    ) -> dict:
        row = {
            "case": case,
            "contender": contender,
            "metric": metric,
            "unit": unit,
            **stats(values),
        }
        self.measurements.append(row)
        return row

    def get(self, case: str, contender: str, metric: str) -> float | None:
        for row in self.measurements:
            if (row["case"], row["contender"], row["metric"]) == (case, contender, metric):
                return row["median"]
        return None

    def add_ratio(
        self, name: str, numerator: float | None, denominator: float | None, meaning: str
    ) -> float | None:
        value = ratio(numerator, denominator)
        self.ratios.append({"name": name, "value": value, "meaning": meaning})
        return value

    def target(
        self,
        name: str,
        value: float | None,
        op: str,
        threshold: float | None,
        unit: str = "",
        reason: str | None = None,
    ) -> dict:
        """A target: `value op threshold` (op '<=' or '>='); met is None when not measurable."""
        if value is None or threshold is None:
            met = None
            reason = reason or "not measured"
        elif op == "<=":
            met = value <= threshold
        elif op == ">=":
            met = value >= threshold
        else:
            raise ValueError(op)
        row = {
            "name": name,
            "value": value,
            "op": op,
            "threshold": threshold,
            "unit": unit,
            "met": met,
        }
        if reason:
            row["reason"] = reason
        self.targets.append(row)
        return row

    def check(self, name: str, ok: bool, detail: Any = None) -> None:
        self.checks.append({"name": name, "ok": bool(ok), "detail": detail})

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---- contenders in subprocesses ----------------------------------------------------------------
def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RUNWAY_REPO", str(REPO))
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "include"), str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.update(extra or {})
    return env


def run_child(
    fn: str,
    kwargs: dict[str, Any],
    env: dict[str, str] | None = None,
    timeout: float = 3600,
    log: Path | None = None,
) -> dict[str, Any]:
    """Run `module:function(**kwargs)` in a fresh interpreter; return its result dict.

    The result gains `peak_rss_mb` (the child's own peak resident set), `children_peak_rss_mb`
    (the largest of its own subprocesses, if any) and `process_s` (interpreter start to exit,
    as seen from here).
    """
    with tempfile.TemporaryDirectory(prefix="bench-child-") as tmp:
        result_path = Path(tmp) / "result.json"
        spec = json.dumps({"fn": fn, "kwargs": kwargs, "result": str(result_path)})
        started = time.perf_counter()
        out = open(log, "a") if log else subprocess.PIPE
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.child", spec],
                cwd=REPO,
                env=child_env(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
            )
        finally:
            if log:
                out.close()
        elapsed = time.perf_counter() - started
        if proc.returncode != 0 or not result_path.exists():
            tail = (proc.stdout or "")[-3000:] if not log else _tail(log)
            raise ChildFailed(f"{fn} exited {proc.returncode}:\n{tail}")
        result = json.loads(result_path.read_text())
    result["process_s"] = elapsed
    return result


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


# ---- the machine ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        import psutil

        memory = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:  # noqa: BLE001 - psutil missing: report what we can
        pass
    gpu = "no GPU"
    try:
        probe = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if probe.returncode == 0 and probe.stdout.strip():
            gpu = probe.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": memory,
        "gpu": gpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict[str, str]:
    found = {}
    for name in VERSIONS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None
