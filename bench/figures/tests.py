"""Figure 11: `make test`'s wall time, read from the file the test session writes.

Like the demo figure, the harness does not run the tests (minutes, and they need the
services); it reads `bench/results/test_timings.json` (`--test-timings` to point elsewhere),
which `tests/conftest.py` writes at the end of every full session: the wall time of pytest,
its outcomes, its worker processes and its ten slowest files (setup + call + teardown of
their tests, summed). Install and lint time are not in it.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.context import Context
from bench.harness import REPO, Figure

LIMIT_S = 10 * 60  # issue 16: <= 10 min with the new layers
DEFAULT = REPO / "bench" / "results" / "test_timings.json"


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="tests",
        title="`make test` wall time",
        contender="pytest -n 2 --dist loadfile (every layer, as `make test` runs it)",
        baselines=[],
    )
    path = Path(getattr(ctx.args, "test_timings", None) or DEFAULT)
    fig.params = {"timings_file": str(path)}
    if not path.exists():
        fig.status = "not measured"
        fig.notes.append(f"{path} not found: run `make test` first (it writes its timings there)")
        fig.target("make test <= 10 min", None, "<=", float(LIMIT_S), "s", reason="not measured")
        return fig
    record = json.loads(path.read_text())
    fig.params.update({k: record.get(k) for k in ("finished_at", "exitstatus", "tests", "workers")})
    fig.params["outcomes"] = record.get("outcomes", {})
    fig.measure("whole session", "make test", "seconds", [float(record["wall_s"])], "s")
    for file, seconds in record.get("slowest_files_s", {}).items():
        fig.measure("slowest files (summed test time)", file, "seconds", [float(seconds)], "s")
    fig.check("the session passed", record.get("exitstatus") == 0, record.get("outcomes"))
    fig.target("make test <= 10 min", float(record["wall_s"]), "<=", float(LIMIT_S), "s")
    fig.notes.append(
        "One session, as it recorded itself (not repeated by the harness); the files' times "
        "are summed over their tests and overlap in wall time across the two workers."
    )
    return fig
