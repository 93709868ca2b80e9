"""The two Great Expectations gates: raw partitions before the feature job, features before Feast.

Each gate validates one local day against its table's rules (`runway.features.suites`, run by
`runway.features.gx_runner`). A gate that fails moves that day's partitions into quarantine,
so nothing downstream can read them, writes GX Data Docs and raises `ValidationFailed` naming
every failed expectation; a gate that passes writes the same Data Docs and returns a small,
JSON-serialisable summary (an XCom). Importing this module stays cheap: GX itself takes
seconds to import and is imported only when a gate runs.

A day is whole or it fails: a partition that is missing, or that cannot be read (not parquet,
truncated, bytes that are not UTF-8 in a string column), is a failure of that day named like
any other, and the day's other partitions go to quarantine with it.

A day whose feature windows reach back over a quarantined raw day is computed over a gap (the
windows sum the days that exist): `window_gaps` finds such days, and `hold_window_gaps` either
marks them (the result names them) or holds them (their feature partitions are quarantined).

The range gates (`validate_raw_range`, `validate_features_range`) validate many days for the
cost of one GX run per table (GX's per-run overhead, not the rows, dominates a day's cost): the
days' partitions are read as the day gate reads them, concatenated, and given derived columns
(`suites.range_derived`) through which the range rendering of the same rules checks each day row by
row. A range that passes is done; a range that fails goes through the day gate one day at a
time, so only the failing days are quarantined, each with the day gate's own message, and one
ValidationFailed names them all.

Data Docs pages: `<gate>-<day>` for a day, `<gate>-<first>-to-<last>` (suites `<gate>_range_*`)
for a range, under one site at `<docs_dir>/index.html`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from runway import contracts
from runway.days import LOCAL_TZ, day_bounds, trailing
from runway.features import gx_runner, suites
from runway.features.suites import (
    DAY_END,
    DAY_ROWS,
    LOCAL_DATE,
    LOCAL_HOUR,
    LOCAL_MINUTE,
    NULL_SHARE,
    PARTITION,
    PARTITION_DATE,
    UNKNOWN_SHARE,
    Rule,
)
from runway.io import QUARANTINE_REASONS, move_dir, partition_dir, partition_file, write_text_atomic

log = logging.getLogger(__name__)


class ValidationFailed(ValueError):
    """A gate rejected a day: its partitions are in quarantine; the message names each failure."""

    def __init__(
        self, message: str, failures: list[str], quarantined: list[Path], docs: Path | None
    ) -> None:
        super().__init__(message)
        self.failures = failures
        self.quarantined = quarantined
        self.docs = docs


# ---- reading -----------------------------------------------------------------------------------
def _require(path: Path, what: str = "partition") -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} to validate not found: {path} does not exist")
    return path


def _read(path: Path, contract: pa.Schema) -> tuple[pd.DataFrame | None, list[str]]:
    """Load a partition for GX, and check what GX's pandas types cannot see.

    GX's pandas backend sees numpy dtypes, so it cannot tell timestamp[ns] from timestamp[us]
    or a UTC zone from another: downstream readers (DuckDB) can, so the exact Arrow types are
    compared here. Returns the frame (None if missing or unreadable) and those failures.
    """
    if not path.is_file():
        return None, [f"partition_missing: {path} does not exist (the day is incomplete)"]
    try:
        table = pq.read_table(path)
        # Parquet does not check that strings are UTF-8; Arrow does, when asked (or, later and
        # less clearly, when converting to pandas)
        table.validate(full=True)
        # Nullable Int64 keeps int columns with nulls (plane year) integer; dates become
        # datetime64.
        frame = table.to_pandas(
            date_as_object=False, types_mapper={pa.int64(): pd.Int64Dtype()}.get
        )
    except (pa.ArrowException, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, [f"read_parquet({path.name}): unreadable: {reason}"]
    failures = [
        f"arrow_type({field.name}): {table.schema.field(field.name).type}, contract {field.type}"
        for field in contract
        if field.name in table.schema.names and table.schema.field(field.name).type != field.type
    ]
    return frame, failures


def _local_times(frame: pd.DataFrame, column: str) -> pd.Series:
    """A timestamp column in New York time; NaT where it is missing or not a timestamp (the
    gate's type checks name those)."""
    if column not in frame.columns:
        return pd.Series(pd.NaT, index=frame.index, dtype=f"datetime64[us, {LOCAL_TZ}]")
    values = frame[column]
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(values, utc=True, errors="coerce")
    return values.dt.tz_convert(LOCAL_TZ)


def _derive_rows(frame: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """The columns of each row the rules compare the row with (`suites.row_derived`)."""
    for r in rules:
        if r.kind == "wall_clock":
            column, _hour, minute = r.args
            local = _local_times(frame, column)
            frame[LOCAL_HOUR.format(column)] = local.dt.hour.astype("Int64")
            if minute:
                frame[LOCAL_MINUTE.format(column)] = local.dt.minute.astype("Int64")
    return frame


def _gate(
    gate: str,
    day: dt.date,
    data_dir: Path,
    tables: dict[str, pa.Schema],
    rules: dict[str, list[Rule]],
    quarantine_dir: Path,
    docs_dir: Path,
) -> dict:
    paths = {table: partition_file(data_dir, table, day.isoformat()) for table in tables}
    failures: dict[str, list[str]] = {}
    frames = {}
    for table, path in paths.items():
        frame, failures[table] = _read(path, tables[table])
        if frame is not None:
            frames[table] = _derive_rows(frame, rules[table])
    day_suites = {table: suites.day_suite(rules[table], day) for table in tables}
    run_time = day_bounds(day)[0]
    gx_failures, index, pages = gx_runner.run(
        gate, f"{day}", run_time, frames, day_suites, Path(docs_dir)
    )
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
    reasons = quarantine_dir / QUARANTINE_REASONS / f"{gate}-{day.isoformat()}.json"
    reasons.parent.mkdir(parents=True, exist_ok=True)
    record = {"day": day.isoformat(), "gate": gate, "reasons": lines, "docs": str(index or "")}
    write_text_atomic(json.dumps(record, indent=1), reasons)
    log.error("%s gate rejected %s: %d failure(s); quarantined", gate, day, len(lines))
    raise ValidationFailed(message, lines, quarantined, index)


# ---- ranges of days --------------------------------------------------------------------------
def _range_days(days) -> list[dt.date]:
    days = sorted(set(days))
    if not days:
        raise ValueError("a range gate needs at least one day")
    return days


def _range_paths(data_dir: Path, tables, days: list[dt.date]) -> dict[str, dict[dt.date, Path]]:
    """Every day's partition of every table (a missing one fails its day, see `_read`)."""
    return {t: {d: partition_file(data_dir, t, d.isoformat()) for d in days} for t in tables}


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


def _share_by_partition(flags: pd.Series, frame: pd.DataFrame, of: pd.Series | None = None):
    """Per row, the share of its partition's rows (or of its rows in `of`) that are flagged."""
    by = frame[PARTITION]
    counted = flags.groupby(by).transform("sum")
    total = (of if of is not None else pd.Series(True, index=frame.index)).groupby(by)
    return (counted / total.transform("sum")).fillna(0.0).astype("float64")


def _derive(frame: pd.DataFrame, days: list[dt.date], lengths, rules: list[Rule]) -> pd.DataFrame:
    """The derived columns the range rendering of `rules` compares with (beyond `_partition`
    and `_day_rows`, which every range carries)."""
    derived = suites.range_derived(rules)
    if PARTITION_DATE in derived:
        frame[PARTITION_DATE] = _repeat([np.datetime64(d, "ms") for d in days], lengths)
    frame = _derive_rows(frame, rules)
    for r in rules:
        if r.kind == "inside_day":  # a UTC timestamp column's New York date
            column = r.args[0]
            local = frame[column].dt.tz_convert(LOCAL_TZ).dt.tz_localize(None).dt.normalize()
            frame[LOCAL_DATE.format(column)] = local
        elif r.kind == "null_share":
            for column, _bound in r.args[0]:
                frame[NULL_SHARE.format(column)] = _share_by_partition(frame[column].isna(), frame)
        elif r.kind == "known_share":
            column, values, _bound = r.args
            present = frame[column].notna()
            unknown = present & ~frame[column].isin(values)
            frame[UNKNOWN_SHARE.format(column)] = _share_by_partition(unknown, frame, present)
    if DAY_END in derived:  # the end of each row's local day in UTC, as the timestamp's type
        ends = [np.datetime64(day_bounds(d)[1].replace(tzinfo=None), "us") for d in days]
        frame[DAY_END] = pd.Series(_repeat(ends, lengths), index=frame.index).dt.tz_localize("UTC")
    return frame


def _range_gate(
    gate: str,
    days: list[dt.date],
    data_dir: Path,
    tables: dict[str, pa.Schema],
    rules: dict[str, list[Rule]],
    gate_day,
    docs_dir: Path,
) -> dict:
    """One GX run per table for all the days; if anything fails, every day's own gate."""
    paths = _range_paths(data_dir, tables, days)
    if len(days) == 1:
        return _range_summary(days, {days[0]: gate_day(days[0])})
    frames, problems = {}, []
    for table, contract in tables.items():
        frame, lengths, found = _read_range(paths[table], contract)
        problems += [f"{table} {line}" for line in found]
        if frame is not None:
            frames[table] = _derive(frame, days, lengths, rules[table])
    label = f"{days[0]}-to-{days[-1]}"
    if not problems:
        range_suites = {table: suites.range_suite(rules[table], days) for table in tables}
        run_time = day_bounds(days[0])[0]
        failures, index, pages = gx_runner.run(
            gate, label, run_time, frames, range_suites, docs_dir, f"{gate}_range"
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
def _reference(raw_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """The known airports, carriers and tail numbers, from the raw zone's reference tables."""
    reference = Path(raw_dir) / "reference"
    airports = pq.read_table(_require(reference / "airports.parquet", "reference"), columns=["faa"])
    airlines = pq.read_table(_require(reference / "airlines.parquet", "reference"))
    planes = pq.read_table(_require(reference / "planes.parquet", "reference"), columns=["tailnum"])
    known = sorted(set(airports["faa"].to_pylist()) | set(suites.AIRPORTS_MISSING_FROM_REFERENCE))
    tailnums = sorted(set(planes["tailnum"].drop_null().to_pylist()))
    return known, sorted(airlines["carrier"].to_pylist()), tailnums


def _raw_rules(raw_dir: Path, min_flights: int, max_flights: int) -> dict[str, list[Rule]]:
    known, carriers, tailnums = _reference(Path(raw_dir))
    return {
        "flights": suites.raw_flights_rules(known, carriers, min_flights, max_flights, tailnums),
        "weather": suites.raw_weather_rules(),
    }


def _feature_tables() -> dict[str, pa.Schema]:
    return {table: contracts.feature_schema(table) for table in contracts.FEATURE_TABLES}


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
    ValidationFailed (after moving the day's partitions to `<quarantine_dir>/<table>/date=<day>`)
    when the data break the contract, a partition is missing or one cannot be read; and
    FileNotFoundError naming the path when a reference table is missing.
    """
    rules = _raw_rules(raw_dir, min_flights, max_flights)
    tables = contracts.RAW_TABLES
    return _gate("raw", day, Path(raw_dir), tables, rules, Path(quarantine_dir), Path(docs_dir))


def validate_features(
    day: dt.date, features_dir: Path, quarantine_dir: Path, docs_dir: Path
) -> dict:
    """Validate one day's partition of each feature table; quarantine all of them on failure.

    Same return value and errors as `validate_raw`.
    """
    tables = _feature_tables()
    rules = {table: suites.feature_rules(table) for table in tables}
    return _gate(
        "features", day, Path(features_dir), tables, rules, Path(quarantine_dir), Path(docs_dir)
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

    If the days pass together: returns {"days": [day], "rows": {table: n}, "rows_by_day":
    {day: {table: n}}, "docs": index.html, "pages": {table: page}} (one Data Docs run). If
    anything fails, each day goes through `validate_raw` on its own, so only the failing days
    are quarantined, each with its own message, and ValidationFailed names all of them (a day
    with a missing or unreadable partition among them). Raises FileNotFoundError naming a
    missing reference table before any run.
    """
    days = _range_days(days)
    raw_dir, quarantine_dir, docs_dir = Path(raw_dir), Path(quarantine_dir), Path(docs_dir)
    rules = _raw_rules(raw_dir, min_flights, max_flights)

    def gate_day(day: dt.date) -> dict:
        return validate_raw(day, raw_dir, quarantine_dir, docs_dir, min_flights, max_flights)

    return _range_gate("raw", days, raw_dir, contracts.RAW_TABLES, rules, gate_day, docs_dir)


def validate_features_range(
    days: list[dt.date], features_dir: Path, quarantine_dir: Path, docs_dir: Path
) -> dict:
    """`validate_features` for many days at the cost of one GX run per table.

    Same return value, fallback and errors as `validate_raw_range`.
    """
    days = _range_days(days)
    features_dir, quarantine_dir, docs_dir = (
        Path(features_dir),
        Path(quarantine_dir),
        Path(docs_dir),
    )
    tables = _feature_tables()
    rules = {table: suites.feature_rules(table) for table in tables}

    def gate_day(day: dt.date) -> dict:
        return validate_features(day, features_dir, quarantine_dir, docs_dir)

    return _range_gate("features", days, features_dir, tables, rules, gate_day, docs_dir)


# ---- windows over quarantined days -------------------------------------------------------------
GAP_POLICIES = ("mark", "hold")


def window_gaps(
    days: list[dt.date],
    raw_dir: Path,
    quarantine_dir: Path,
    window_days: int = contracts.MAX_WINDOW_DAYS,
) -> dict[str, list[str]]:
    """For each day whose feature windows reach over a quarantined raw day: those raw days.

    A raw day counts when its flights are in quarantine and not back in the raw zone (a day
    landed again and passed is no gap). Days before the first landed day are not gaps: history
    simply starts there. Returns {day: [quarantined days in its windows]}, days in order, only
    the days that have any.
    """
    raw_dir, quarantine_dir = Path(raw_dir), Path(quarantine_dir)
    held: dict[dt.date, bool] = {}

    def quarantined(day: dt.date) -> bool:
        if day not in held:
            iso = day.isoformat()
            held[day] = (
                partition_dir(quarantine_dir, "flights", iso).is_dir()
                and not partition_file(raw_dir, "flights", iso).is_file()
            )
        return held[day]

    gaps = {}
    for day in sorted(set(days)):
        inside = [d.isoformat() for d in trailing(day, window_days) if quarantined(d)]
        if inside:
            gaps[day.isoformat()] = inside
    return gaps


def hold_window_gaps(
    days: list[dt.date],
    raw_dir: Path,
    features_dir: Path,
    quarantine_dir: Path,
    policy: str,
    window_days: int = contracts.MAX_WINDOW_DAYS,
) -> dict:
    """Decide what happens to days whose windows hold a quarantined raw day (`window_gaps`).

    The windows of such a day are sums over the days that exist, so its rows are right for the
    flights that landed and blind to the day that did not. `policy` "mark": they go on, and the
    returned record names them (XCom, task log). "hold": their feature partitions go to
    quarantine, so Feast never serves them, and ValidationFailed names them and their gaps.
    Returns the decision record: signal, value (day -> quarantined days), threshold, interval,
    decision.
    """
    if policy not in GAP_POLICIES:
        raise ValueError(f"window gap policy must be one of {GAP_POLICIES}, got {policy!r}")
    days = _range_days(days)
    gaps = window_gaps(days, raw_dir, quarantine_dir, window_days)
    record = {
        "signal": f"quarantined raw days inside each day's {window_days}-day feature windows",
        "value": gaps,
        "threshold": f"policy {policy}: " + ("hold a day with any" if policy == "hold" else "mark"),
        "interval": [days[0].isoformat(), days[-1].isoformat()],
        "decision": ("held" if policy == "hold" else "marked") if gaps else "none",
    }
    if not gaps:
        return record
    lines = [f"{day}: windows over quarantined {', '.join(held)}" for day, held in gaps.items()]
    if policy == "mark":
        log.warning(
            "features of %d day(s) computed over quarantined raw days (policy mark): %s",
            len(gaps), "; ".join(lines),
        )  # fmt: skip
        return record
    quarantined = []
    for day in gaps:
        for table in contracts.FEATURE_TABLES:
            source = partition_dir(features_dir, table, day)
            if source.exists():
                target = partition_dir(quarantine_dir, table, day)
                move_dir(source, target)
                quarantined.append(target)
    message = "\n".join(
        [
            f"features gate held {len(gaps)} day(s) whose windows hold quarantined raw days"
            " (window gap policy hold)",
            *lines,
            f"quarantined: {', '.join(str(p) for p in quarantined) or 'nothing (no partitions)'}",
        ]
    )
    log.error("features gate held %d day(s) over quarantined raw days", len(gaps))
    raise ValidationFailed(message, [f"window_gap({line})" for line in lines], quarantined, None)
