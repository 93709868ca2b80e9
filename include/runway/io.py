"""Atomic, idempotent writes: every file or partition appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

QUARANTINE_REASONS = "_reasons"  # <quarantine>/_reasons/<gate>-<day>.json: why a day went


def partition_dir(root: Path, table: str, day: str) -> Path:
    """The folder of one day's partition: ``<root>/<table>/date=<YYYY-MM-DD>``."""
    return Path(root) / table / f"date={day}"


def partition_file(root: Path, table: str, day: str) -> Path:
    return partition_dir(root, table, day) / "part-0.parquet"


@contextlib.contextmanager
def _replacing(path: Path):
    """A temporary name beside `path` to write; renamed over `path` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp"))  # unique: no O_EXCL open
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_parquet_atomic(table: pa.Table, path: Path) -> Path:
    """Write to a temporary name beside `path`, then rename over it.

    Rows are written as given (callers sort them), without statistics that vary between runs,
    so that the same rows give the same bytes.
    """
    with _replacing(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_statistics=True)
    return Path(path)


def write_text_atomic(text: str, path: Path) -> Path:
    """`text` at `path`, whole or not at all (a temporary name beside it, renamed over it)."""
    with _replacing(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def replace_dir(staging: Path, final: Path) -> None:
    """Swap a fully written staging folder into place (the old one, if any, is removed)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = final.with_name(f".{final.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final, trash)
        os.replace(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(staging, final)


def move_dir(src: Path, dest: Path) -> None:
    """Move a partition folder (e.g. into quarantine), replacing what was there."""
    replace_dir(Path(src), Path(dest))
