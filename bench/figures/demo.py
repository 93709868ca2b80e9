"""Figure 7: `make demo` stage timings, read from the file the demo writes.

The demo is the whole loop through a real Airflow (minutes); the harness does not run it but
reads `<RUNWAY_HOME>/demo_timings.json` (`--demo-timings` to point elsewhere) when present:
`{"stages": {name: seconds}, "total_s": seconds, "chunks": [...]}`, as `scripts/demo.py` writes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from bench.context import Context
from bench.harness import REPO, Figure

LIMIT_S = 15 * 60


def timings_path(ctx: Context) -> Path:
    explicit = getattr(ctx.args, "demo_timings", None)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("RUNWAY_HOME") or REPO / ".runway") / "demo_timings.json"


def parse(data: dict) -> tuple[list[tuple[str, float]], float, dict]:
    """(stages, total seconds, the file's other scalar entries) of the demo's timings file."""
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise ValueError('demo timings must look like {"stages": {name: seconds}, "total_s": ...}')
    stages = [(str(name), float(seconds)) for name, seconds in data["stages"].items()]
    total = float(data.get("total_s", sum(s for _, s in stages)))
    extra = {
        k: v
        for k, v in data.items()
        if k not in ("stages", "total_s") and not isinstance(v, (list, dict))
    }
    return stages, total, extra


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="demo",
        title="`make demo` stage timings",
        contender="scripts/demo.py (the whole loop through a local Airflow)",
        baselines=[],
    )
    path = timings_path(ctx)
    fig.params = {"timings_file": str(path)}
    if not path.exists():
        fig.status = "not measured"
        fig.notes.append(
            f"{path} not found: run `make demo` first (it writes its stage timings there)"
        )
        fig.target(
            "whole loop <= 15 min after install",
            None,
            "<=",
            float(LIMIT_S),
            "s",
            reason=f"not measured: {path.name} absent",
        )
        return fig
    stages, total, extra = parse(json.loads(path.read_text()))
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).isoformat(timespec="seconds")
    fig.params.update({"written_at": modified, **extra})
    for name, seconds in stages:
        fig.measure(name, "make demo", "seconds", [seconds], "s")
    fig.measure("whole loop", "make demo", "seconds", [total], "s")
    fig.target("whole loop <= 15 min after install", total, "<=", float(LIMIT_S), "s")
    fig.notes.append("One run of the demo, as it recorded itself (not repeated by the harness).")
    return fig
