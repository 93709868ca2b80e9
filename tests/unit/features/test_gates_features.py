"""The feature gate: small hand-written partitions in the contract's schema pass; broken ones
are named, and the day's feature tables go to quarantine together.

The day is the one New York moves its clocks forward (2026-03-08, 23 hours long): its event
timestamp is the next local midnight, 04:00 UTC, not the 05:00 UTC of a winter day.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runway import contracts
from runway.features import gates, suites
from runway.io import partition_dir, partition_file

DAY = dt.date(2026, 3, 8)
DAY_END = dt.datetime(2026, 3, 9, 4, tzinfo=dt.UTC)  # local midnight, EDT
OTHER_DAY = dt.date(2026, 3, 7)
NEXT_DAY = dt.date(2026, 3, 9)  # with OTHER_DAY, the range gate's other days
RANGE = [OTHER_DAY, DAY, NEXT_DAY]  # a 24-, a 23- and a 24-hour day
ENDS = {
    OTHER_DAY: dt.datetime(2026, 3, 8, 5, tzinfo=dt.UTC),  # local midnight, EST
    DAY: DAY_END,
    NEXT_DAY: dt.datetime(2026, 3, 10, 4, tzinfo=dt.UTC),  # local midnight, EDT
}
ROWS = 3

KEY_VALUES = {
    "carrier": ["AA", "B6", "UA"],
    "origin": ["EWR", "JFK", "LGA"],
    "route": ["EWR-ORD", "JFK-LAX", "LGA-ATL"],
    "tailnum": ["N101AA", "N202JB", "N303UA"],
    "hour": [5, 6, 7],
}
WEATHER_VALUES = {"temp": 38.0, "dewp": 20.0, "humid": 48.0, "wind_speed": 9.2, "precip": 0.0,
                  "pressure": 1016.3, "visib": 10.0}  # fmt: skip


def feature_value(name: str):
    if name.startswith("wx_"):
        return WEATHER_VALUES[name.removeprefix("wx_")]
    if "_rate_" in name:
        return 0.25
    if "_flights_" in name:
        return 12
    return {"plane_year": 2004, "plane_seats": 149, "plane_engines": 2}.get(name, 7.5)


def conforming(table: str, event_timestamp: dt.datetime = DAY_END) -> pa.Table:
    """A small partition that meets the contract, built from the contract's own schema."""
    schema = contracts.feature_schema(table)
    columns = {}
    for field in schema:
        if field.name in KEY_VALUES:
            columns[field.name] = KEY_VALUES[field.name]
        elif field.name == contracts.EVENT_TIMESTAMP:
            columns[field.name] = [event_timestamp] * ROWS
        else:
            columns[field.name] = [feature_value(field.name)] * ROWS
    return pa.table(columns, schema=schema)


def write(root, table: str, day: dt.date, rows: pa.Table) -> None:
    path = partition_file(root, table, day.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(rows, path)


@pytest.fixture
def zone(tmp_path):
    """The range's partitions of every feature table; OTHER_DAY is the day gate's bystander."""
    zone = SimpleNamespace(
        features=tmp_path / "features", quarantine=tmp_path / "quarantine", docs=tmp_path / "docs"
    )
    for table in contracts.FEATURE_TABLES:
        for day in RANGE:
            write(zone.features, table, day, conforming(table, ENDS[day]))
    return zone


def run_gate(zone):
    return gates.validate_features(DAY, zone.features, zone.quarantine, zone.docs)


def digest(zone, day) -> dict[str, str]:
    files = {t: partition_file(zone.features, t, day.isoformat()) for t in contracts.FEATURE_TABLES}
    return {t: hashlib.sha256(path.read_bytes()).hexdigest() for t, path in files.items()}


def test_conforming_day_passes(zone):
    summary = run_gate(zone)

    assert summary["rows"] == {table: ROWS for table in contracts.FEATURE_TABLES}
    assert set(summary["pages"]) == set(contracts.FEATURE_TABLES)
    for table in contracts.FEATURE_TABLES:
        assert partition_file(zone.features, table, DAY.isoformat()).is_file()
    assert not zone.quarantine.exists()


def replace_column(table: str, column: str, values) -> pa.Table:
    rows = conforming(table)
    field = rows.schema.field(column)
    return rows.set_column(rows.schema.get_field_index(column), field, pa.array(values, field.type))


CASES = [
    (
        "rate above 1",
        "carrier_stats",
        lambda: replace_column("carrier_stats", "carrier_delay_rate_7d", [0.1, 1.5, 0.2]),
        "expect_column_values_to_be_between(carrier_delay_rate_7d): 1 of 3 rows unexpected"
        " (e.g. ['1.5'])",
    ),
    (
        "negative count",
        "route_stats",
        lambda: replace_column("route_stats", "route_flights_28d", [3, -1, 4]),
        "expect_column_values_to_be_between(route_flights_28d): 1 of 3 rows unexpected"
        " (e.g. ['-1'])",
    ),
    (
        "duplicated key",
        "origin_hour_weather",
        lambda: replace_column("origin_hour_weather", "hour", [5, 5, 7]).set_column(
            0, "origin", pa.array(["EWR", "EWR", "LGA"])
        ),
        "expect_compound_columns_to_be_unique(origin,hour): 2 of 3 rows unexpected",
    ),
    (
        "control characters as a plane key",
        "plane_stats",
        lambda: replace_column("plane_stats", "tailnum", ["N101AA", "\x01\x02", "N303UA"]),
        "expect_column_values_to_match_regex(tailnum): 1 of 3 rows unexpected",
    ),
    (
        "null key",
        "plane_stats",
        lambda: replace_column("plane_stats", "tailnum", ["N101AA", None, "N303UA"]),
        "expect_column_values_to_not_be_null(tailnum): 1 of 3 rows unexpected",
    ),
    (
        "stamped at UTC midnight, not local",
        "origin_stats",
        lambda: conforming("origin_stats", dt.datetime(2026, 3, 9, tzinfo=dt.UTC)),
        "expect_column_values_to_be_between(event_timestamp): 3 of 3 rows unexpected",
    ),
    (
        "empty table",
        "carrier_stats",
        lambda: conforming("carrier_stats").slice(0, 0),
        "expect_table_row_count_to_be_between: observed 0",
    ),
    (
        "count as float",
        "plane_stats",
        lambda: conforming("plane_stats").cast(
            contracts.feature_schema("plane_stats").set(
                contracts.feature_schema("plane_stats").get_field_index("plane_seats"),
                pa.field("plane_seats", pa.float64()),
            )
        ),
        "expect_column_values_to_be_of_type(plane_seats): observed 'float64'",
    ),
]


@pytest.mark.parametrize(
    ("table", "build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_broken_table_is_named_and_the_day_quarantined(zone, table, build, expected):
    write(zone.features, table, DAY, build())
    other = digest(zone, OTHER_DAY)

    with pytest.raises(gates.ValidationFailed) as caught:
        run_gate(zone)

    err = caught.value
    line = f"{table} {DAY}: {expected}"
    assert any(f.startswith(line) for f in err.failures), (line, err.failures)
    assert all(f.startswith(f"{table} {DAY}: ") for f in err.failures), err.failures  # only it
    for t in contracts.FEATURE_TABLES:  # every table of the day, not only the broken one
        assert not partition_dir(zone.features, t, DAY.isoformat()).exists()
        assert partition_file(zone.quarantine, t, DAY.isoformat()).is_file()
    assert err.docs.is_file() and str(err.docs) in str(err)
    assert digest(zone, OTHER_DAY) == other


def test_missing_table_fails_the_day_and_quarantines_its_other_tables(zone):
    missing = partition_file(zone.features, "route_stats", DAY.isoformat())
    missing.unlink()

    with pytest.raises(gates.ValidationFailed) as caught:
        run_gate(zone)
    assert caught.value.failures == [
        f"route_stats {DAY}: partition_missing: {missing} does not exist (the day is incomplete)"
    ]
    for t in contracts.FEATURE_TABLES:  # a day is whole or it goes
        assert not partition_dir(zone.features, t, DAY.isoformat()).exists()
        assert partition_file(zone.quarantine, t, DAY.isoformat()).is_file() == (t != "route_stats")


# ---- the range gate: one GX run per table for many days ---------------------------------------
def run_range_gate(zone, days=RANGE):
    return gates.validate_features_range(days, zone.features, zone.quarantine, zone.docs)


def test_range_suite_carries_every_check_of_the_day_suite():
    for table in contracts.FEATURE_TABLES:
        day_suite = suites.feature_suite(table, DAY)
        range_suite = suites.feature_range_suite(table, RANGE)
        for name, kwargs in day_suite:
            if name in ("ExpectTableRowCountToBeBetween", "ExpectColumnValuesToBeUnique",
                        "ExpectCompoundColumnsToBeUnique"):  # fmt: skip
                continue  # per day, on the derived columns
            if kwargs.get("column") == contracts.EVENT_TIMESTAMP and "min_value" in kwargs:
                continue  # the day's end: a pair with the derived _day_end
            if name == "ExpectTableColumnsToMatchSet":
                (match,) = [k for n, k in range_suite if n == name]
                assert match["exact_match"]
                assert set(kwargs["column_set"]) <= set(match["column_set"])
                continue
            assert (name, kwargs) in range_suite, (table, name)
        keys = [*contracts.TABLE_KEYS[table]]
        assert ("ExpectCompoundColumnsToBeUnique", {"column_list": ["_partition", *keys]}) in (
            range_suite
        )


def test_clean_range_passes_in_one_run_and_stays_in_place(zone, monkeypatch):
    before = {day: digest(zone, day) for day in RANGE}
    monkeypatch.setattr(gates, "validate_features", None)  # no day is gated on its own

    summary = run_range_gate(zone)  # the same keys every day: unique within each day

    assert summary["days"] == [day.isoformat() for day in RANGE]
    assert summary["rows"] == {table: ROWS * len(RANGE) for table in contracts.FEATURE_TABLES}
    assert all(
        rows == {table: ROWS for table in contracts.FEATURE_TABLES}
        for rows in summary["rows_by_day"].values()
    )
    assert sorted(p.name for p in (zone.docs / "validations").iterdir()) == sorted(
        f"features_range_{table}" for table in contracts.FEATURE_TABLES
    )  # one run per table
    assert {day: digest(zone, day) for day in RANGE} == before
    assert not zone.quarantine.exists()


RANGE_CASES = ["duplicated key", "stamped at UTC midnight, not local", "empty table",
               "count as float"]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "build", "expected"),
    [c[1:] for c in CASES if c[0] in RANGE_CASES],
    ids=[c[0] for c in CASES if c[0] in RANGE_CASES],
)
def test_range_with_a_broken_middle_day_quarantines_only_that_day(zone, table, build, expected):
    write(zone.features, table, DAY, build())  # DAY, the middle of the range
    others = {day: digest(zone, day) for day in (OTHER_DAY, NEXT_DAY)}

    with pytest.raises(gates.ValidationFailed) as caught:
        run_range_gate(zone)

    err = caught.value
    line = f"{table} {DAY}: {expected}"  # the day gate's own line
    assert any(f.startswith(line) for f in err.failures), (line, err.failures)
    assert all(f.startswith(f"{table} {DAY}: ") for f in err.failures), err.failures
    assert str(err).startswith(f"features gate rejected 1 of 3 day(s): {DAY} ")
    for t in contracts.FEATURE_TABLES:
        assert not partition_dir(zone.features, t, DAY.isoformat()).exists()
        assert sorted(p.name for p in (zone.quarantine / t).iterdir()) == [f"date={DAY}"]
    assert {day: digest(zone, day) for day in (OTHER_DAY, NEXT_DAY)} == others


def test_range_with_a_missing_table_fails_only_that_day(zone):
    missing = partition_file(zone.features, "route_stats", NEXT_DAY.isoformat())
    missing.unlink()
    others = {day: digest(zone, day) for day in (OTHER_DAY, DAY)}

    with pytest.raises(gates.ValidationFailed) as caught:
        run_range_gate(zone)
    assert str(caught.value).startswith(f"features gate rejected 1 of 3 day(s): {NEXT_DAY} ")
    assert str(missing) in str(caught.value)
    for t in contracts.FEATURE_TABLES:
        assert not partition_dir(zone.features, t, NEXT_DAY.isoformat()).exists()
        assert sorted(p.name for p in (zone.quarantine / t).iterdir()) == [f"date={NEXT_DAY}"]
    assert {day: digest(zone, day) for day in (OTHER_DAY, DAY)} == others


# ---- windows over quarantined raw days ----------------------------------------------------------
EDGE = dt.date(2026, 2, 9)  # inside the 28-day windows of OTHER_DAY and DAY, not of NEXT_DAY
INSIDE = dt.date(2026, 2, 26)  # inside every day's windows
MENDED = dt.date(2026, 3, 1)  # quarantined once, landed again and passed: no gap


def raw_zone(root, quarantined) -> SimpleNamespace:
    """Raw flights for the 40 days before NEXT_DAY; `quarantined` days moved to quarantine, and
    MENDED in both (its quarantined copy is stale)."""
    raw = SimpleNamespace(raw=root / "raw", quarantine=root / "quarantine")
    for i in range(40):
        day = NEXT_DAY - dt.timedelta(days=i)
        root_dir = raw.quarantine if day in quarantined else raw.raw
        path = partition_file(root_dir, "flights", day.isoformat())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"flights of the day")  # only presence counts here
    stale = partition_file(raw.quarantine, "flights", MENDED.isoformat())
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"the day's first, broken landing")
    return raw


def test_window_gaps_name_the_quarantined_days_in_each_window(tmp_path):
    raw = raw_zone(tmp_path, {EDGE, INSIDE})
    gaps = gates.window_gaps(RANGE, raw.raw, raw.quarantine)
    assert gaps == {
        str(OTHER_DAY): [str(EDGE), str(INSIDE)],
        str(DAY): [str(EDGE), str(INSIDE)],
        str(NEXT_DAY): [str(INSIDE)],
    }
    assert gates.window_gaps(RANGE, raw.raw, raw.quarantine, window_days=7) == {}
    assert gates.window_gaps([NEXT_DAY], raw.raw, tmp_path / "no_quarantine") == {}


def test_marked_gaps_are_recorded_and_the_features_stay(zone, tmp_path):
    raw = raw_zone(tmp_path, {EDGE})
    before = {day: digest(zone, day) for day in RANGE}

    record = gates.hold_window_gaps(RANGE, raw.raw, zone.features, zone.quarantine, "mark")

    assert record == {
        "signal": "quarantined raw days inside each day's 28-day feature windows",
        "value": {str(OTHER_DAY): [str(EDGE)], str(DAY): [str(EDGE)]},
        "threshold": "policy mark: mark",
        "interval": [str(OTHER_DAY), str(NEXT_DAY)],
        "decision": "marked",
    }
    assert {day: digest(zone, day) for day in RANGE} == before
    assert not any((zone.quarantine / table).exists() for table in contracts.FEATURE_TABLES)
    clean = gates.hold_window_gaps([NEXT_DAY], raw.raw, zone.features, zone.quarantine, "hold")
    assert clean["value"] == {} and clean["decision"] == "none"


def test_held_gaps_quarantine_those_days_features_and_name_them(zone, tmp_path):
    raw = raw_zone(tmp_path, {EDGE})
    clean = digest(zone, NEXT_DAY)

    with pytest.raises(gates.ValidationFailed) as caught:
        gates.hold_window_gaps(RANGE, raw.raw, zone.features, zone.quarantine, "hold")

    err = caught.value
    assert err.failures == [
        f"window_gap({OTHER_DAY}: windows over quarantined {EDGE})",
        f"window_gap({DAY}: windows over quarantined {EDGE})",
    ]
    assert "window gap policy hold" in str(err)
    for table in contracts.FEATURE_TABLES:
        for day in (OTHER_DAY, DAY):
            assert not partition_dir(zone.features, table, day.isoformat()).exists()
            assert partition_file(zone.quarantine, table, day.isoformat()).is_file()
    assert digest(zone, NEXT_DAY) == clean
    with pytest.raises(ValueError, match="window gap policy must be one of"):
        gates.hold_window_gaps(RANGE, raw.raw, zone.features, zone.quarantine, "ignore")


def test_the_feature_step_returns_the_gap_record(tmp_path):
    from runway.features import steps
    from runway.settings import Settings

    settings = Settings(home=tmp_path / "home", window_gap_policy="mark")
    for table in contracts.FEATURE_TABLES:
        for day in RANGE:
            write(settings.features_dir, table, day, conforming(table, ENDS[day]))
    raw = raw_zone(settings.data_dir, {INSIDE})
    assert (raw.raw, raw.quarantine) == (settings.raw_dir, settings.quarantine_dir)

    result = steps.validate_features(settings, RANGE)

    assert result["days"] == 3 and result["window_gaps"]["decision"] == "marked"
    assert result["window_gaps"]["value"] == {str(day): [str(INSIDE)] for day in RANGE}
