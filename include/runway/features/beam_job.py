"""The Beam batch feature job: raw partitions of a day range in, feature partitions out.

Run it as a module, as Airflow's BeamHook does (the runner is a pipeline option, so the same
job moves to Flink, Spark or Dataflow by its flags)::

    python -m runway.features.beam_job --start 2026-03-01 --end 2026-03-07 \
        --raw_dir .runway/data/raw --features_dir .runway/data/features --runner FnApiRunner

On a Dask cluster (every worker must see the raw and feature folders at the same paths)::

    ... --runner apache_beam.runners.dask.dask_runner.DaskRunner \
        --dask_client_address tcp://dask-scheduler:8786

Every element past the parquet read is an Arrow table (a batch), never a single flight. The
job writes into a staging folder; the driver then swaps each (table, day) partition into place,
so a partition is replaced whole and a rerun of the same days writes the same bytes.

One job at a time writes a features folder: the driver holds an exclusive lock on
`<features_dir>/.beam_job.lock` while it runs. What a killed job left behind (its staging
folder, a swapped-out partition, a half-written temporary file) therefore belongs to no live
job, and the next run removes it before it starts (`remove_leftovers`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import logging
import os
import shutil
import sys
import uuid
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from runway import contracts
from runway.days import day_range
from runway.features import compute
from runway.io import partition_dir, partition_file, replace_dir, write_parquet_atomic
from runway.settings import DASK_RUNNER, Settings

log = logging.getLogger(__name__)
FLIGHT_COLUMNS = [
    "flight_date",
    "carrier",
    "tailnum",
    "origin",
    "dest",
    "dep_time",
    "dep_delay",
    "arr_delay",
]


class ArrowTableCoder(beam.coders.Coder):
    """An Arrow table as one IPC stream: what the shuffles between the job's stages carry.
    Beam's fallback for an unknown type pickles the table's every array, ~4x the time."""

    def encode(self, table: pa.Table) -> bytes:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    def decode(self, encoded: bytes) -> pa.Table:
        return pa.ipc.open_stream(encoded).read_all()

    def is_deterministic(self) -> bool:
        return True  # the same table (schema, chunks) gives the same bytes

    def to_type_hint(self):
        return pa.Table


beam.coders.registry.register_coder(pa.Table, ArrowTableCoder)
# (table, shard) or (table, ISO day) -> an Arrow table of that key's rows
ShardRows = tuple[tuple[str, int], pa.Table]
DayRows = tuple[tuple[str, str], pa.Table]


@beam.typehints.with_output_types(pa.Table)
class ReadParquet(beam.DoFn):
    """A parquet file path -> its rows as one Arrow table, through Beam's filesystems (local,
    gs://, s3://, ...). A raw partition is one day: read whole, it needs none of
    `ReadAllFromParquetBatched`'s per-file match and split into ranges, which cost more than
    reading the file itself."""

    def __init__(self, columns: list[str] | None = None):
        self.columns = columns

    def process(self, path: str):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            yield pq.read_table(handle, columns=self.columns)


@beam.typehints.with_output_types(ShardRows)
class DailyPartials(beam.DoFn):
    """A batch of flights -> per entity table and shard, that batch's daily sums."""

    def __init__(self, first_day: dt.date, shards: int):
        self.first_day, self.shards = first_day, shards

    def process(self, flights: pa.Table):
        for table, partials in compute.daily_partials(flights, self.first_day).items():
            shards = compute.shards_of(partials[contracts.TABLE_KEYS[table][0]], self.shards)
            for shard, rows in compute.split_by(partials, shards):
                yield (table, shard), rows


@beam.typehints.with_output_types(DayRows)
class WindowFeatures(beam.DoFn):
    """All partials of one (table, shard) -> that shard's rows, split by target day."""

    def __init__(self, first_day: dt.date, target_days: list[dt.date], planes_path: str):
        self.first_day, self.target_days, self.planes_path = first_day, target_days, planes_path

    def setup(self):
        self.planes = pq.read_table(self.planes_path) if Path(self.planes_path).exists() else None

    def process(self, element):
        (table, _shard), partials = element
        combined = compute.combine_partials(list(partials), table)
        rows = compute.window_features(
            combined, table, self.first_day, self.target_days, self.planes
        )
        yield from _split_by_day(table, rows)


@beam.typehints.with_output_types(DayRows)
class WeatherFeatures(beam.DoFn):
    def __init__(self, target_days: list[dt.date]):
        self.target_days = set(target_days)

    def process(self, weather: pa.Table):
        yield from _split_by_day(
            contracts.WEATHER_TABLE, compute.weather_features(weather, self.target_days)
        )


def _split_by_day(table: str, rows: pa.Table):
    for day, part in compute.split_by(rows, rows["date"]):
        yield (table, day.isoformat()), part


class WritePartition(beam.DoFn):
    """All rows of one (table, day) -> one sorted parquet file in the staging folder."""

    def __init__(self, staging: str):
        self.staging = staging

    def process(self, element):
        (table, day), parts = element
        rows = compute.to_partition(list(parts), table)
        write_parquet_atomic(rows, partition_file(Path(self.staging), table, day))
        yield table, day, rows.num_rows


def input_files(raw_dir: Path, start: dt.date, end: dt.date) -> tuple[list[str], list[str]]:
    """Flight partitions of the longest window before `start` through `end`, weather of the
    target days. Every target day must have landed; earlier history is used where it exists."""
    history = day_range(start - dt.timedelta(days=contracts.MAX_WINDOW_DAYS - 1), end)
    flights = [partition_file(raw_dir, "flights", d.isoformat()) for d in history]
    weather = [partition_file(raw_dir, "weather", d.isoformat()) for d in day_range(start, end)]
    missing = [str(p) for p in flights[-len(weather) :] + weather if not p.exists()]
    if missing:
        raise FileNotFoundError(
            f"raw partitions missing for the feature job: {', '.join(missing[:5])}"
        )
    return [str(p) for p in flights if p.exists()], [str(p) for p in weather]


# Entity partials are grouped by (table, shard). Each shard is one WindowFeatures call, whose
# dense array grows with its entities x days (both grow with the flights read), and every
# (flight file, table, shard) is one element the runner encodes: a fixed cost per element that
# dominated a small job at a fixed 32 shards (the year at 1x: ~50k elements for 0.4M flights).
# So the shard count follows the flights read: one per SHARD_FLIGHT_ROWS, at most MAX_SHARDS.
SHARD_FLIGHT_ROWS = 250_000
MAX_SHARDS = 32


def auto_shards(flight_files: list[str]) -> int:
    """Shards for the flights of `flight_files`, counted from their parquet footers."""
    rows = sum(pq.read_metadata(path).num_rows for path in flight_files)
    return max(1, min(MAX_SHARDS, -(-rows // SHARD_FLIGHT_ROWS)))


LOCK_FILE = ".beam_job.lock"
STAGING_PREFIX = ".staging-"


@contextlib.contextmanager
def _exclusive(features_dir: Path):
    """Hold the features folder's job lock for the block (waits for a running job to end).

    The kernel drops a lock when its holder dies, kill -9 included: holding it means no other
    job is writing here."""
    features_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(features_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_leftovers(features_dir: Path) -> list[str]:
    """Remove what killed jobs left in `features_dir`: staging folders, partitions swapped out
    by `io.replace_dir` (`.date=<day>.old`; put back where the kill fell between its two
    renames and left no partition) and temporary files of atomic writes. Call it holding the
    job lock only. Returns the paths removed, relative to `features_dir`."""
    features_dir = Path(features_dir)
    if not features_dir.is_dir():
        return []
    restored = []
    for trash in features_dir.glob("*/.date=*.old"):
        final = trash.with_name(trash.name[1 : -len(".old")])
        if trash.is_dir() and not final.exists():  # killed between the two renames of a swap
            os.replace(trash, final)
            restored.append(str(final.relative_to(features_dir)))
    if restored:
        log.warning("restored %d partition(s) a killed job had swapped out: %s",
                    len(restored), ", ".join(restored))  # fmt: skip
    found = [p for p in features_dir.glob(f"{STAGING_PREFIX}*") if p.is_dir()]
    found += [p for p in features_dir.glob("*/.date=*.old") if p.is_dir()]
    found += [p for p in features_dir.glob("*/date=*/.*.tmp") if p.is_file()]
    removed = []
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(str(path.relative_to(features_dir)))
    if removed:
        log.warning("removed %d leftover(s) of killed feature jobs: %s", len(removed),
                    ", ".join(removed[:10]) + (", ..." if len(removed) > 10 else ""))  # fmt: skip
    return removed


def run(
    start: dt.date,
    end: dt.date,
    raw_dir: Path,
    features_dir: Path,
    pipeline_args: list[str] | None = None,
    shards: int | None = None,
) -> dict[str, int]:
    """Build the feature partitions of days start..end; return rows written per table.

    `shards`: groups of entity keys (None: `auto_shards`, from the flights read); the output
    does not depend on it."""
    if end < start:
        raise ValueError(f"feature job: end {end} is before start {start}")
    if shards is not None and shards < 1:
        raise ValueError(f"feature job: shards must be >= 1, got {shards}")
    raw_dir, features_dir = Path(raw_dir), Path(features_dir)
    flight_files, weather_files = input_files(raw_dir, start, end)
    shards = shards or auto_shards(flight_files)
    with _exclusive(features_dir):
        remove_leftovers(features_dir)
        return _run_locked(start, end, raw_dir, features_dir, flight_files, weather_files,
                           pipeline_args, shards)  # fmt: skip


def _run_locked(
    start: dt.date,
    end: dt.date,
    raw_dir: Path,
    features_dir: Path,
    flight_files: list[str],
    weather_files: list[str],
    pipeline_args: list[str] | None,
    shards: int,
) -> dict[str, int]:
    first_day = start - dt.timedelta(days=contracts.MAX_WINDOW_DAYS - 1)
    targets = day_range(start, end)
    staging = features_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    options = PipelineOptions(pipeline_args or ["--runner=FnApiRunner"])
    _check_dask(options)
    planes = str(raw_dir / "reference" / "planes.parquet")
    try:
        with beam.Pipeline(options=options) as pipeline:
            entity_rows = (
                pipeline
                | "FlightFiles" >> beam.Create(flight_files)
                | "SpreadFlightFiles" >> beam.Reshuffle()  # files spread over the workers
                | "ReadFlights" >> beam.ParDo(ReadParquet(FLIGHT_COLUMNS))
                | "DailyPartials" >> beam.ParDo(DailyPartials(first_day, shards))
                | "ByShard" >> beam.GroupByKey()
                | "Windows" >> beam.ParDo(WindowFeatures(first_day, targets, planes))
            )
            weather_rows = (
                pipeline
                | "WeatherFiles" >> beam.Create(weather_files)
                | "SpreadWeatherFiles" >> beam.Reshuffle()
                | "ReadWeather" >> beam.ParDo(ReadParquet())
                | "Weather" >> beam.ParDo(WeatherFeatures(targets))
            )
            (
                (entity_rows, weather_rows)
                | beam.Flatten()
                | "ByPartition" >> beam.GroupByKey()
                | "Write" >> beam.ParDo(WritePartition(str(staging)))
            )
        staged = {
            (t, d): partition_dir(staging, t, d.isoformat())
            for t in contracts.FEATURE_TABLES
            for d in targets
        }
        empty = [f"{t} {d}" for (t, d), path in staged.items() if not path.exists()]
        if empty:  # checked before anything is swapped in: all the run's partitions, or none
            raise RuntimeError(
                f"feature job wrote no rows for: {', '.join(empty)} (nothing was replaced)"
            )
        written: dict[str, int] = {}
        for (table, day), path in staged.items():
            written[table] = (
                written.get(table, 0) + pq.read_metadata(path / "part-0.parquet").num_rows
            )
            replace_dir(path, partition_dir(features_dir, table, day.isoformat()))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("features %s..%s (%d shards): %s", start, end, shards, written)
    return written


def _check_dask(options: PipelineOptions) -> None:
    """On the Dask runner, the scheduler answers and has a worker before anything is staged."""
    if options.view_as(StandardOptions).runner != DASK_RUNNER:
        return
    from apache_beam.runners.dask.dask_runner import DaskOptions

    from runway.features.dask_scheduler import check_scheduler

    dask = options.view_as(DaskOptions)
    if dask.address:  # without one, Beam starts a LocalCluster in this process
        timeout = dask.timeout if isinstance(dask.timeout, int) else None
        check_scheduler(dask.address, timeout or Settings.dask_connect_timeout_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--end", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--raw_dir", type=Path, required=True)
    parser.add_argument("--features_dir", type=Path, required=True)
    parser.add_argument("--shards", type=int, default=None, help="default: from the flights read")
    known, pipeline_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    written = run(
        known.start, known.end, known.raw_dir, known.features_dir, pipeline_args, known.shards
    )
    print(f"feature rows written: {written}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
