"""The Beam feature job against an independent DuckDB computation, on real replayed days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from runway import contracts
from runway.features import beam_job, reference, sources
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


def test_missing_target_day_is_refused_and_nothing_written(built, tmp_path):
    settings, _ = built
    out = tmp_path / "features"
    with pytest.raises(FileNotFoundError, match="flights/date=2026-02-07"):
        beam_job.run(dt.date(2026, 2, 6), dt.date(2026, 2, 7), settings.raw_dir, out)
    assert not out.exists() or not any(out.iterdir())
