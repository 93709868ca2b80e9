"""The Beam feature job against an independent DuckDB computation, on real replayed days."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway import contracts
from runway.features import beam_job, reference, sources
from runway.io import partition_dir, partition_file
from runway.settings import Settings

FIRST_LANDED = dt.date(2026, 1, 5)
TARGETS = (dt.date(2026, 2, 3), dt.date(2026, 2, 5))  # 28+ days of history before them


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("features"), replay_year=2026)
    source = sources.prepare_source(settings.source_dir, settings.replay_shift)
    for day in beam_job.day_range(FIRST_LANDED, TARGETS[1]):
        sources.land_day(day, source, settings.raw_dir)
    written = beam_job.run(*TARGETS, settings.raw_dir, settings.features_dir)
    return settings, written


def _beam_table(settings: Settings, table: str) -> pd.DataFrame:
    frames = []
    for day in beam_job.day_range(*TARGETS):
        path = settings.features_dir / table / f"date={day}" / "part-0.parquet"
        frames.append(pd.read_parquet(path).assign(day=pd.Timestamp(day)))
    return pd.concat(frames, ignore_index=True)


def test_feature_list_is_large_enough_and_unique():
    assert len(contracts.ALL_FEATURES) >= 20
    assert len(set(contracts.ALL_FEATURES)) == len(contracts.ALL_FEATURES)


@pytest.mark.parametrize("table", contracts.FEATURE_TABLES)
def test_every_feature_equals_duckdb_reference(built, table):
    settings, written = built
    expected = reference.reference_features(settings.raw_dir, *TARGETS)[table]
    expected["day"] = pd.to_datetime(expected["day"])
    actual = _beam_table(settings, table)
    keys = ["day", *contracts.TABLE_KEYS[table]]
    assert len(actual) == len(expected) == written[table] > 0
    merged = actual.merge(expected, on=keys, how="outer", suffixes=("", "_ref"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys].head()
    for feature in contracts.TABLE_FEATURES[table]:
        np.testing.assert_allclose(
            merged[feature].astype(float),
            merged[f"{feature}_ref"].astype(float),
            rtol=1e-9,
            equal_nan=True,
            err_msg=f"{table}.{feature}",
        )


def test_partitions_follow_contract_and_are_stamped_at_end_of_day(built):
    settings, _ = built
    for table in contracts.FEATURE_TABLES:
        frame = pd.read_parquet(settings.features_dir / table / f"date={TARGETS[0]}")
        import pyarrow.parquet as pq

        schema = pq.read_schema(
            settings.features_dir / table / f"date={TARGETS[0]}" / "part-0.parquet"
        )
        assert schema.remove_metadata() == contracts.feature_schema(table)
        # midnight after 3 February in New York is 05:00 UTC on 4 February (EST)
        assert set(frame[contracts.EVENT_TIMESTAMP]) == {pd.Timestamp("2026-02-04 05:00", tz="UTC")}
        assert not frame.duplicated(list(contracts.TABLE_KEYS[table])).any()


def test_rerun_writes_byte_identical_partitions(built):
    settings, _ = built
    files = sorted(settings.features_dir.glob("*/date=*/part-0.parquet"))
    before = {path: path.read_bytes() for path in files}
    beam_job.run(*TARGETS, settings.raw_dir, settings.features_dir)
    assert sorted(settings.features_dir.glob("*/date=*/part-0.parquet")) == files
    assert all(path.read_bytes() == before[path] for path in files)
    assert not list(settings.features_dir.glob(".staging-*"))


def test_the_shard_count_changes_no_byte_of_the_output(built, tmp_path):
    """The default shards follow the flights read (one here); any count writes the same bytes."""
    settings, _ = built
    flights, _ = beam_job.input_files(settings.raw_dir, *TARGETS)
    assert beam_job.auto_shards(flights) == 1  # a few thousand flights
    files = sorted(p.relative_to(settings.features_dir) for p in
                   settings.features_dir.glob("*/date=*/part-0.parquet"))  # fmt: skip
    out = tmp_path / "seven"
    beam_job.run(*TARGETS, settings.raw_dir, out, shards=7)
    assert sorted(p.relative_to(out) for p in out.glob("*/date=*/part-0.parquet")) == files
    assert all((out / f).read_bytes() == (settings.features_dir / f).read_bytes() for f in files)
    with pytest.raises(ValueError, match="shards"):
        beam_job.run(*TARGETS, settings.raw_dir, out, shards=0)


def test_missing_target_day_is_refused_and_nothing_written(built, tmp_path):
    settings, _ = built
    out = tmp_path / "features"
    with pytest.raises(FileNotFoundError, match="flights/date=2026-02-07"):
        beam_job.run(dt.date(2026, 2, 6), dt.date(2026, 2, 7), settings.raw_dir, out)
    assert not out.exists() or not any(out.iterdir())


def test_a_job_killed_mid_write_leaves_nothing_the_next_run_keeps(built, tmp_path):
    """kill -9 of a real job while it writes its staging folder; the next run removes what it
    left, puts back a partition a swap had moved aside, and writes the same bytes."""
    settings, _ = built
    out = tmp_path / "features"
    include = Path(beam_job.__file__).parents[2]
    job = subprocess.Popen(
        [sys.executable, "-m", "runway.features.beam_job", "--start", str(TARGETS[0]),
         "--end", str(TARGETS[1]), "--raw_dir", str(settings.raw_dir), "--features_dir",
         str(out), "--runner=FnApiRunner"],
        env=os.environ | {"PYTHONPATH": str(include)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(out.glob(".staging-*/*/date=*/part-0.parquet")):
        assert job.poll() is None, "the job ended before it could be killed mid-write"
        assert time.monotonic() < deadline, "the job never began writing"
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    assert job.wait(timeout=30) == -signal.SIGKILL
    left = [p for p in out.rglob("*") if p.is_file() and p.name != beam_job.LOCK_FILE]
    assert left and all(".staging-" in str(p) for p in left)  # the kill left its staging
    # what a kill between the two renames of a swap leaves: the partition moved aside, no
    # partition in its place; and the temporary file of an atomic write
    aside = partition_dir(out, "carrier_stats", str(TARGETS[0]))
    aside = aside.with_name(f".{aside.name}.old")
    shutil.copytree(partition_dir(settings.features_dir, "carrier_stats", str(TARGETS[0])), aside)
    stray = partition_dir(out, "origin_stats", "2026-01-31") / ".part-0.parquet.abc123.tmp"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a file")

    removed = beam_job.remove_leftovers(out)

    assert partition_file(out, "carrier_stats", str(TARGETS[0])).is_file()  # put back
    assert not aside.exists() and not stray.exists()
    assert any(name.startswith(".staging-") for name in removed)
    assert not list(out.glob(".staging-*"))
    assert beam_job.remove_leftovers(out) == []  # nothing left to remove

    beam_job.run(*TARGETS, settings.raw_dir, out)  # the retry

    files = sorted(p.relative_to(out) for p in out.glob("*/date=*/part-0.parquet"))
    expected = sorted(
        p.relative_to(settings.features_dir)
        for p in settings.features_dir.glob("*/date=*/part-0.parquet")
    )
    assert files == expected
    assert all((out / f).read_bytes() == (settings.features_dir / f).read_bytes() for f in files)
    hidden = [p for p in out.rglob(".*") if p.name != beam_job.LOCK_FILE]
    assert hidden == [], hidden  # no staging, no swapped-out folder, no temporary file


def test_the_job_lock_serialises_jobs_and_dies_with_its_holder(tmp_path):
    """A second job waits while one holds the lock; a holder killed with -9 frees it."""
    out = tmp_path / "features"
    out.mkdir()
    include = Path(beam_job.__file__).parents[2]
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from runway.features import beam_job\n"
        "with beam_job._exclusive(Path(sys.argv[1])):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(out)],
        env=os.environ | {"PYTHONPATH": str(include)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        fd = os.open(out / beam_job.LOCK_FILE, os.O_RDWR)
        with pytest.raises(BlockingIOError):  # held: a job would wait here
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # freed by the kernel
        os.close(fd)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.stdout.close()


def _fnv1a(text: str) -> int:
    value = 0xCBF29CE484222325
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) % 2**64
    return value


def test_shards_are_fnv1a_of_the_key_bytes_whatever_the_arrow_layout():
    """`compute.shards_of` reads the Arrow buffers directly: sliced, chunked and non-ASCII
    keys get the shard of their UTF-8 bytes, as one key at a time would."""
    import pyarrow as pa

    from runway.features import compute

    keys = ["N12345", "AA", "", "JFK-LAX", "N1", "Zürich-ÅÄÖ", "N999ZZ"] * 3
    expected = [_fnv1a(k) % 5 for k in keys]
    assert compute.shards_of(pa.array(keys), 5).tolist() == expected
    sliced = pa.array(["x", *keys, "y"]).slice(1, len(keys))
    assert compute.shards_of(sliced, 5).tolist() == expected
    chunked = pa.chunked_array([keys[:4], keys[4:]])
    assert compute.shards_of(chunked, 5).tolist() == expected
    assert len(set(expected)) > 1  # the keys spread over shards


def test_split_by_gives_every_value_its_rows_in_their_order():
    import pyarrow as pa

    from runway.features import compute

    rows = pa.table({"k": [3, 1, 3, 2, 1, 3], "i": [0, 1, 2, 3, 4, 5]})
    parts = {value: part["i"].to_pylist() for value, part in compute.split_by(rows, rows["k"])}
    assert parts == {1: [1, 4], 2: [3], 3: [0, 2, 5]}
    assert list(parts) == [1, 2, 3]
