"""The SQL tables (SQLite and Postgres): creation, idempotent upserts, refusals."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from runway import sql

UTC = dt.UTC


def _prediction(flight_id: str, score: float, version: int = 3) -> dict:
    return {
        "flight_id": flight_id,
        "model_version": version,
        "flight_date": dt.date(2026, 7, 6),
        "model_alias": "champion",
        "score": score,
        "scored_at": dt.datetime(2026, 7, 6, 4, 0, tzinfo=UTC),
        "run_id": "scheduled__2026-07-05",
    }


def _rows(bind, table) -> list[dict]:
    with bind.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def test_engine_is_cached_per_url_and_creates_the_tables(bind, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert sql.engine(url) is sql.engine(url) is not sql.engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert {"predictions", "monitoring_metrics"} <= set(sa.inspect(bind).get_table_names())


def test_upsert_is_idempotent_and_updates_by_primary_key(bind):
    rows = [_prediction(f"2026-07-06-UA-{i}-EWR-0600", 0.1 * i) for i in range(1, 4)]
    shadow = _prediction("2026-07-06-UA-1-EWR-0600", 0.9, version=4)
    rows.append({**shadow, "model_alias": "challenger"})
    assert sql.upsert(bind, sql.predictions, rows) == 4
    assert sql.upsert(bind, sql.predictions, rows) == 4
    stored = _rows(bind, sql.predictions)
    assert len(stored) == 4

    rescored = [{**rows[0], "score": 0.75, "run_id": "manual__rescore"}]
    sql.upsert(bind, sql.predictions, rescored)
    stored = {(r["flight_id"], r["model_version"]): r for r in _rows(bind, sql.predictions)}
    assert len(stored) == 4
    first = stored[(rows[0]["flight_id"], 3)]
    assert first["score"] == pytest.approx(0.75) and first["run_id"] == "manual__rescore"
    assert stored[(rows[0]["flight_id"], 4)]["score"] == pytest.approx(0.9)  # other version kept
    assert first["flight_date"] == dt.date(2026, 7, 6)


def test_upsert_is_one_transaction(bind):
    good = _prediction("2026-07-06-B6-1-JFK-0700", 0.2)
    sql.upsert(bind, sql.predictions, [good])
    bogus = {**_prediction("2026-07-06-B6-2-JFK-0800", 0.3), "model_alias": "bogus"}
    batch = [{**good, "score": 0.99}, bogus]
    with pytest.raises(sa.exc.IntegrityError):  # the alias check fails on the second row
        sql.upsert(bind, sql.predictions, batch)
    (stored,) = _rows(bind, sql.predictions)
    assert stored["score"] == pytest.approx(0.2)  # the first row's update was rolled back


def test_upsert_refuses_malformed_rows(bind):
    row = _prediction("2026-07-06-AA-1-LGA-0900", 0.5)
    with pytest.raises(ValueError, match="repeat a primary key"):
        sql.upsert(bind, sql.predictions, [row, {**row, "score": 0.6}])
    with pytest.raises(ValueError, match="no columns"):
        sql.upsert(bind, sql.predictions, [{**row, "colour": "red"}])
    with pytest.raises(ValueError, match="primary-key"):
        sql.upsert(bind, sql.predictions, [{k: v for k, v in row.items() if k != "model_version"}])
    assert sql.upsert(bind, sql.predictions, []) == 0
    assert _rows(bind, sql.predictions) == []
