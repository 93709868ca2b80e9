"""The steps of `feature_pipeline`, one function per Airflow task.

Each step takes the settings and the run's days (resolved once by the DAG, `runway.days`)
explicitly and returns a small, JSON-able summary (it lands in XCom and the task log); the
data itself stays in the partitions.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
from collections import deque
from collections.abc import Callable

from runway.days import RunConfigError, end_of_day_utc, require_days
from runway.settings import DASK_RUNNER, Settings

log = logging.getLogger(__name__)


def land(settings: Settings, days: list[dt.date]) -> dict:
    """Land the raw partitions of the days from the replayed source; no days is refused."""
    from runway.features import sources

    require_days(days, "land")
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    first, last = sources.source_days(source)
    outside = [d.isoformat() for d in days if not first <= d <= last]
    if outside:
        raise RunConfigError(
            f"no source data for {', '.join(outside[:3])}: the replay covers {first}..{last} "
            f"(RUNWAY_REPLAY_YEAR={settings.replay_year or 'current year'})"
        )
    counts = {d.isoformat(): sources.land_day(d, source, settings.raw_dir) for d in days}
    return {"days": len(counts), "flights": sum(c["flights"] for c in counts.values())}


def validate_raw(settings: Settings, days: list[dt.date]) -> dict:
    """Raw gate for the days in one GX run per table; failing days are quarantined (only they)
    and fail the task, named together."""
    from runway.features import gates

    summary = gates.validate_raw_range(
        days,
        settings.raw_dir,
        settings.quarantine_dir,
        settings.gx_dir / "raw",
        settings.min_flights_per_day * settings.scale,
        settings.max_flights_per_day * settings.scale,
    )
    return {"days": len(summary["days"]), "rows": summary["rows"], "docs": summary["docs"]}


def beam_options(settings: Settings, days: list[dt.date]) -> dict:
    """Pipeline options of the Beam feature job; the runner is one of them."""
    require_days(days, "the Beam feature job")
    options = {
        "runner": settings.beam_runner,
        "start": days[0].isoformat(),
        "end": days[-1].isoformat(),
        "raw_dir": str(settings.raw_dir),
        "features_dir": str(settings.features_dir),
    }
    if settings.beam_runner == DASK_RUNNER:
        options["dask_client_address"] = settings.dask_scheduler
        options["dask_connection_timeout"] = settings.dask_connect_timeout_s
    for arg in shlex.split(settings.beam_extra_options):
        name, _, value = arg.lstrip("-").partition("=")
        options[name] = value or True
    return options


class BeamJobError(RuntimeError):
    """The Beam feature job failed; the message holds the job's own error."""


class JobOutput:
    """The last lines a job printed (stdout and stderr), to name its own error if it fails."""

    def __init__(self, keep: int = 60):
        self.lines: deque[str] = deque(maxlen=keep)

    def __call__(self, line: str) -> None:
        self.lines.append(line.rstrip("\n"))

    def error(self) -> str:
        """The job's last traceback, else the last lines it printed."""
        lines = list(self.lines)
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")]
        return "\n".join(lines[starts[-1] :] if starts else lines[-20:]) or "(no output)"


def run_beam_job(settings: Settings, days: list[dt.date], start_pipeline: Callable) -> str:
    """Run the Beam feature job over the days with `start_pipeline` (Airflow's
    `BeamHook.start_python_pipeline`); a failure raises `BeamJobError` carrying the job's own
    error (its last traceback), not only its return code. The features folder."""
    import sys

    output = JobOutput()
    try:
        start_pipeline(
            variables=beam_options(settings, days),
            py_file="runway.features.beam_job",
            py_options=["-m"],
            py_interpreter=sys.executable,
            process_line_callback=output,
        )
    except Exception as error:
        raise BeamJobError(
            f"the Beam feature job over {days[0]}..{days[-1]} failed ({error}); "
            f"its own error:\n{output.error()}"
        ) from error
    return str(settings.features_dir)


def check_beam_runner(settings: Settings) -> dict:
    """Before the job starts: for the Dask runner, the scheduler answers and has a worker (a
    clear error names the address otherwise). Other runners are checked by Beam itself."""
    if settings.beam_runner != DASK_RUNNER:
        return {"runner": settings.beam_runner}
    from runway.features.dask_scheduler import check_scheduler

    workers = check_scheduler(settings.dask_scheduler, settings.dask_connect_timeout_s)
    return {
        "runner": settings.beam_runner,
        "dask_scheduler": settings.dask_scheduler,
        "dask_workers": sorted(workers.values()),
    }


def validate_features(settings: Settings, days: list[dt.date]) -> dict:
    """Feature gate for the days in one GX run per table; as `validate_raw` on failure. Then
    the days whose windows reach over a quarantined raw day: named in the result (`window_gaps`,
    the decision record) and the log, or held (`RUNWAY_WINDOW_GAP_POLICY=hold`)."""
    from runway.features import gates

    summary = gates.validate_features_range(
        days, settings.features_dir, settings.quarantine_dir, settings.gx_dir / "features"
    )
    gaps = gates.hold_window_gaps(
        days,
        settings.raw_dir,
        settings.features_dir,
        settings.quarantine_dir,
        settings.window_gap_policy,
    )
    return {
        "days": len(summary["days"]),
        "rows": summary["rows"],
        "docs": summary["docs"],
        "window_gaps": gaps,
    }


def materialize(settings: Settings, days: list[dt.date]) -> dict:
    """Apply the Feast definitions and load the run's feature rows into the online store."""
    from runway.features import store as feature_store

    require_days(days, "materialize")
    store = feature_store.get_store(settings)
    applied = feature_store.apply_definitions(store)
    # Rows of day D are stamped at the end of D: the run's rows lie in
    # (end of first-1, end of last].
    summary = feature_store.materialize_interval(
        store, end_of_day_utc(days[0] - dt.timedelta(days=1)), end_of_day_utc(days[-1])
    )
    return {"applied": len(applied), **summary}
