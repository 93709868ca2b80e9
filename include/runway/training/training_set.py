"""The training set: labelled flights of a window, with point-in-time features from Feast."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from runway import contracts, entities
from runway.days import day_range
from runway.io import write_parquet_atomic


def write_training_set(store, raw_dir: Path, start: dt.date, end: dt.date, out_path: Path) -> dict:
    """Write the labelled, featured flights of start..end to `out_path`; return a summary.

    Entity rows come from the landed raw flights (`entities.entity_rows`, the definition
    scoring uses too); features from the feature service, joined point in time.
    """
    from runway.features import store as feature_store

    if end < start:
        raise ValueError(f"training window: end {end} is before start {start}")
    rows = entities.entity_rows(
        entities.read_flights(raw_dir, day_range(start, end)), with_label=True
    )
    frame = feature_store.historical_features(store, rows)
    write_parquet_atomic(pa.Table.from_pandas(frame, preserve_index=False), out_path)
    coverage = (
        float(frame[list(contracts.ALL_FEATURES)].notna().mean().mean()) if len(frame) else 0.0
    )
    return {
        "path": str(out_path),
        "rows": len(frame),
        "positive_rate": round(float(frame[contracts.LABEL].mean()), 4) if len(frame) else None,
        "feature_coverage": round(coverage, 4),
        "window": f"{start}..{end}",
    }
