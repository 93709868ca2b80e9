"""The local clock: day bounds across daylight-saving changes, and the days a run covers."""

from __future__ import annotations

import datetime as dt

import pytest

from runway import days
from runway.days import RunConfigError

UTC = dt.UTC


@pytest.mark.parametrize(
    "day, hours",
    [(dt.date(2026, 3, 8), 23), (dt.date(2026, 11, 1), 25), (dt.date(2026, 7, 4), 24)],
)
def test_a_new_york_day_is_23_24_or_25_hours(day, hours):
    start, end = days.day_bounds(day)
    assert (end - start) == dt.timedelta(hours=hours)
    assert start.tzinfo is not None and start.utcoffset() == dt.timedelta(0)


def test_features_are_stamped_at_the_end_of_the_day_and_flights_predicted_the_day_before():
    assert days.end_of_day_utc(dt.date(2026, 7, 4)) == dt.datetime(2026, 7, 5, 4, tzinfo=UTC)  # EDT
    assert days.end_of_day_utc(dt.date(2026, 1, 4)) == dt.datetime(2026, 1, 5, 5, tzinfo=UTC)  # EST
    assert days.prediction_time(dt.date(2026, 7, 5)) == days.end_of_day_utc(dt.date(2026, 7, 4))


def test_local_day_of_a_moment():
    assert days.local_day(dt.datetime(2026, 7, 5, 3, 59, tzinfo=UTC)) == dt.date(2026, 7, 4)
    assert days.local_day(dt.datetime(2026, 7, 5, 4, 0, tzinfo=UTC)) == dt.date(2026, 7, 5)
    assert days.local_day(dt.datetime(2026, 7, 5, 1, 0)) == dt.date(2026, 7, 5)  # naive: wall clock


def test_ranges():
    assert days.day_range(dt.date(2026, 2, 27), dt.date(2026, 3, 1)) == [
        dt.date(2026, 2, 27),
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 1),
    ]
    assert days.day_range(dt.date(2026, 3, 2), dt.date(2026, 3, 1)) == []
    assert days.trailing(dt.date(2026, 3, 1), 2) == [dt.date(2026, 2, 28), dt.date(2026, 3, 1)]
    assert days.from_strings(days.as_strings([dt.date(2026, 3, 1)])) == [dt.date(2026, 3, 1)]


INTERVAL = dt.datetime(2026, 7, 5, 4, 0, tzinfo=UTC)  # the daily interval of 2026-07-05, New York


def test_run_days_from_params_or_the_data_interval():
    assert days.run_days("2026-07-01", "2026-07-03", INTERVAL) == days.day_range(
        dt.date(2026, 7, 1), dt.date(2026, 7, 3)
    )
    assert days.run_days(None, None, INTERVAL) == [dt.date(2026, 7, 5)]
    assert days.flight_days(None, None, INTERVAL) == [dt.date(2026, 7, 6)]  # tomorrow's flights
    assert days.flight_days("2026-07-01", "2026-07-01", INTERVAL) == [dt.date(2026, 7, 1)]


@pytest.mark.parametrize(
    "start, end, interval, message",
    [
        ("2026-07-01", None, INTERVAL, "go together"),
        ("2026-07-03", "2026-07-01", INTERVAL, r"'end' \(2026-07-01\) is before 'start'"),
        ("2026-7-1", "2026-07-03", INTERVAL, "'start' must be a YYYY-MM-DD date"),
        ("2026-01-01", "2027-12-31", INTERVAL, "at most 400 days"),
        (None, None, None, "needs params 'start' and 'end'"),
    ],
)
def test_run_days_refuse_with_the_param_named(start, end, interval, message):
    with pytest.raises(RunConfigError, match=message):
        days.run_days(start, end, interval)


def test_explicit_window_names_its_params():
    names = ("window_start", "window_end")
    assert days.explicit_range(None, None, names) is None
    assert days.explicit_range("2026-05-01", "2026-05-31", names) == (
        dt.date(2026, 5, 1),
        dt.date(2026, 5, 31),
    )
    with pytest.raises(RunConfigError, match="'window_start' and 'window_end' go together"):
        days.explicit_range("2026-05-01", None, names)
    with pytest.raises(RunConfigError, match="'window_end' .* is before 'window_start'"):
        days.explicit_range("2026-05-31", "2026-05-01", names)


def test_of_run_reads_the_params_and_the_interval_as_a_dag_task_does():
    context = {"params": {"start": None, "end": None}, "data_interval_start": INTERVAL}
    assert days.of_run(context) == ["2026-07-05"]
    assert days.of_run(context, flights=True) == ["2026-07-06"]
    explicit = {"params": {"start": "2026-07-01", "end": "2026-07-02"}, "data_interval_start": None}
    assert (
        days.of_run(explicit) == days.of_run(explicit, flights=True) == ["2026-07-01", "2026-07-02"]
    )


def test_require_days_names_the_step_and_what_is_wrong():
    june = [dt.date(2026, 6, 1), dt.date(2026, 6, 2)]
    assert days.require_days(june, "land") == june
    with pytest.raises(RunConfigError, match="land was given no days"):
        days.require_days([], "land")
    with pytest.raises(RunConfigError, match="materialize needs its days in order"):
        days.require_days(june[::-1], "materialize")
    with pytest.raises(RunConfigError, match="2026-06-01 comes after 2026-06-01"):
        days.require_days([june[0], june[0]], "materialize")
