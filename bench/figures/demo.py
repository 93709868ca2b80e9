"""Figure 7: `make demo` stage timings, read from the file the demo writes.

The demo is the whole loop through a real Airflow (minutes); the harness does not run it but
reads `<RUNWAY_HOME>/demo_timings.json` (`--demo-timings` to point elsewhere) when present.
Accepted shapes: `{"stages": [{"name": ..., "seconds": ...}, ...], "total_s": ...}`,
`{"stages": {name: seconds}}`, `[[name, seconds], ...]` or `{name: seconds}`.
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


def parse(data) -> tuple[list[tuple[str, float]], float | None, dict]:
    extra = {}
    total = None
    stages = data
    if isinstance(data, dict) and "stages" in data:
        stages = data["stages"]
        total = data.get("total_s", data.get("total_seconds", data.get("total")))
        extra = {k: v for k, v in data.items() if k not in ("stages", "total_s", "total_seconds", "total")}
    if isinstance(stages, dict):
        pairs = [(str(k), float(v)) for k, v in stages.items()]
    else:
        pairs = []
        for item in stages:
            if isinstance(item, dict):
                name = item.get("name") or item.get("stage")
                seconds = item.get("seconds", item.get("s", item.get("duration_s")))
                pairs.append((str(name), float(seconds)))
            else:
                pairs.append((str(item[0]), float(item[1])))
    return pairs, (float(total) if total is not None else None), extra


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
        fig.notes.append(f"{path} not found: run `make demo` first (it writes its stage timings there)")
        fig.target("whole loop <= 15 min after install", None, "<=", float(LIMIT_S), "s",
                   reason=f"not measured: {path.name} absent")
        return fig
    stages, total, extra = parse(json.loads(path.read_text()))
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).isoformat(timespec="seconds")
    fig.params.update({"written_at": modified, **{k: v for k, v in extra.items() if not isinstance(v, (list, dict))}})
    for name, seconds in stages:
        fig.measure(name, "make demo", "seconds", [seconds], "s")
    whole = total if total is not None else sum(s for _, s in stages)
    fig.measure("whole loop", "make demo", "seconds", [whole], "s")
    fig.target("whole loop <= 15 min after install", whole, "<=", float(LIMIT_S), "s")
    fig.notes.append("One run of the demo, as it recorded itself (not repeated by the harness).")
    return fig
