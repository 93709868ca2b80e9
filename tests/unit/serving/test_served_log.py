"""The served-predictions writer on a real SQLite file: batched, idempotent, nothing lost."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from runway import sql
from runway.serving.served_log import ServedLog


def _row(request: str, flight: str, arm: str | None = None) -> dict:
    return {
        "request_id": request,
        "flight_id": flight,
        "flight_date": dt.date(2026, 3, 9),
        "model_version": 3,
        "score": 0.25,
        "latency_ms": 2.5,
        "served_at": dt.datetime(2026, 3, 8, 12, tzinfo=dt.UTC),
        "arm": arm,
        "experiment_id": "exp-1" if arm else None,
    }


def _count(url: str) -> int:
    with sql.engine(url).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(sql.served_predictions)).scalar()


def test_stop_writes_what_the_flush_period_had_not(tmp_path):
    url = f"sqlite:///{tmp_path / 'runway.db'}"
    writes = []
    log = ServedLog(
        url, batch_rows=10_000, flush_seconds=3600, on_write=lambda n, ok: writes.append((n, ok))
    )
    for i in range(50):
        log.add([_row(f"r{i}", "f1"), _row(f"r{i}", "f2", arm="b")])
    assert _count(url) == 0  # an hour's flush period, a huge batch: nothing written yet
    log.stop()
    assert _count(url) == 100 and writes == [(100, True)]
    with sql.engine(url).connect() as conn:
        arms = conn.execute(sa.select(sql.served_predictions.c.arm).distinct()).scalars().all()
    assert sorted(arms, key=str) == [None, "b"]


def test_a_full_batch_is_written_without_waiting_and_a_repeat_is_one_row(tmp_path):
    url = f"sqlite:///{tmp_path / 'runway.db'}"
    log = ServedLog(url, batch_rows=5, flush_seconds=3600)
    log.add([_row("r", f"f{i}") for i in range(5)] + [_row("r", "f0")])
    for _ in range(100):
        if _count(url) == 5:
            break
        import time

        time.sleep(0.05)
    assert _count(url) == 5
    log.stop()
    assert _count(url) == 5
