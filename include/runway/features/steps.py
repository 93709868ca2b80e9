"""The steps of the daily feature pipeline, one function per Airflow task.

Each step takes the settings and the run's days explicitly and returns a small, JSON-able
summary (it lands in XCom and the task log); the data itself stays in the partitions.
"""

from __future__ import annotations

import datetime as dt
import logging
import shlex
from zoneinfo import ZoneInfo

from runway.settings import LOCAL_TZ, Settings

log = logging.getLogger(__name__)
MAX_RANGE_DAYS = 400


class RunConfigError(ValueError):
    """The run's days cannot be resolved from its params and data interval."""


def resolve_days(start: str | None, end: str | None, interval_start: dt.datetime | None) -> tuple[str, str]:
    """The local days a run covers: the params' start..end, else the data interval's day."""
    if start or end:
        if not (start and end):
            raise RunConfigError("params 'start' and 'end' go together: give both or neither")
        try:
            first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        except ValueError as err:
            raise RunConfigError(f"params 'start'/'end' must be YYYY-MM-DD dates: {err}") from None
        if last < first:
            raise RunConfigError(f"param 'end' ({end}) is before 'start' ({start})")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise RunConfigError(f"a run covers at most {MAX_RANGE_DAYS} days, got {start}..{end}")
        return first.isoformat(), last.isoformat()
    if interval_start is None:
        raise RunConfigError("a run without a data interval needs params 'start' and 'end'")
    day = interval_start.astimezone(ZoneInfo(LOCAL_TZ)).date().isoformat()
    return day, day


def day_list(start: str, end: str) -> list[dt.date]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def land(settings: Settings, start: str, end: str) -> dict:
    """Land the raw partitions of start..end from the replayed source."""
    from runway import sources

    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    first, last = sources.source_days(source)
    days = day_list(start, end)
    outside = [d.isoformat() for d in days if not first <= d <= last]
    if outside:
        raise RunConfigError(
            f"no source data for {', '.join(outside[:3])}: the replay covers {first}..{last} "
            f"(RUNWAY_REPLAY_YEAR={settings.replay_year or 'current year'})"
        )
    counts = {d.isoformat(): sources.land_day(d, source, settings.raw_dir) for d in days}
    return {"days": len(counts), "flights": sum(c["flights"] for c in counts.values())}


def validate_raw(settings: Settings, start: str, end: str) -> dict:
    """Raw gate for start..end in one GX run per table; failing days are quarantined (only they)
    and fail the task, named together."""
    from runway import validation

    summary = validation.validate_raw_range(
        day_list(start, end),
        settings.raw_dir,
        settings.quarantine_dir,
        settings.gx_dir / "raw",
        settings.min_flights_per_day * settings.scale,
        settings.max_flights_per_day * settings.scale,
    )
    return {"days": len(summary["days"]), "rows": summary["rows"], "docs": summary["docs"]}


def beam_options(settings: Settings, start: str, end: str) -> dict:
    """Pipeline options of the Beam feature job; the runner is one of them."""
    options = {
        "runner": settings.beam_runner,
        "start": start,
        "end": end,
        "raw_dir": str(settings.raw_dir),
        "features_dir": str(settings.features_dir),
    }
    for arg in shlex.split(settings.beam_extra_options):
        name, _, value = arg.lstrip("-").partition("=")
        options[name] = value or True
    return options


def validate_features(settings: Settings, start: str, end: str) -> dict:
    """Feature gate for start..end in one GX run per table; as `validate_raw` on failure."""
    from runway import validation

    summary = validation.validate_features_range(
        day_list(start, end),
        settings.features_dir,
        settings.quarantine_dir,
        settings.gx_dir / "features",
    )
    return {"days": len(summary["days"]), "rows": summary["rows"], "docs": summary["docs"]}


def materialize(settings: Settings, start: str, end: str) -> dict:
    """Apply the Feast definitions and load the run's feature rows into the online store."""
    from runway import feature_store
    from runway.features.compute import end_of_day_utc

    store = feature_store.get_store(settings)
    applied = feature_store.apply_definitions(store)
    first, last = day_list(start, end)[0], day_list(start, end)[-1]
    # Rows of day D are stamped at the end of D: the run's rows lie in (end of start-1, end of end].
    summary = feature_store.materialize_interval(
        store, end_of_day_utc(first - dt.timedelta(days=1)), end_of_day_utc(last)
    )
    return {"applied": len(applied), **summary}
