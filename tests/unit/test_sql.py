"""The SQL tables (SQLite and Postgres): creation, idempotent upserts, refusals."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from runway import sql

from .conftest import fresh_database

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


def _old_served(bind) -> sa.Table:
    """`served_predictions` as the release before failed answers and shadow scores made it."""
    old = sa.Table(
        "served_predictions", sa.MetaData(),
        sa.Column("request_id", sa.String(64), primary_key=True),
        sa.Column("flight_id", sa.String(64), primary_key=True),
        sa.Column("flight_date", sa.Date, nullable=False, index=True),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arm", sa.String(64)),
        sa.Column("experiment_id", sa.String(64)),
    )  # fmt: skip
    sql.served_predictions.drop(bind)
    old.create(bind)
    return old


def test_an_older_served_predictions_is_migrated_once_its_rows_kept(bind):
    old = _old_served(bind)
    stamp = dt.datetime(2026, 3, 8, 12, tzinfo=UTC)
    rows = [
        {"request_id": "r1", "flight_id": f"2026-03-09-UA-{i}-EWR-0900", "flight_date":
         dt.date(2026, 3, 9), "model_version": 3, "score": 0.1 * i, "latency_ms": 5.0,
         "served_at": stamp, "arm": None, "experiment_id": None}
        for i in range(1, 4)
    ]  # fmt: skip
    with bind.begin() as conn:
        conn.execute(sa.insert(old), rows)
    assert sql.migrate_served_predictions(bind) is True
    assert sql.migrate_served_predictions(bind) is False  # idempotent
    sql.ensure_tables(bind)
    inspector = sa.inspect(bind)
    key = inspector.get_pk_constraint("served_predictions")["constrained_columns"]
    assert set(key) == set(sql.SERVED_KEY)
    assert any(
        i["column_names"] == ["flight_date"] for i in inspector.get_indexes("served_predictions")
    )
    stored = sorted(_rows(bind, sql.served_predictions), key=lambda r: r["flight_id"])
    assert [r["score"] for r in stored] == pytest.approx([0.1, 0.2, 0.3])
    assert {(r["status"], r["answered"]) for r in stored} == {(200, True)}
    # both rows of a shadow call fit, and a failed answer has no score
    shadow = {**rows[0], "model_version": 4, "score": None, "arm": "challenger",
              "experiment_id": "exp-1", "status": 500, "answered": False}  # fmt: skip
    sql.upsert(bind, sql.served_predictions, [shadow])
    assert len(_rows(bind, sql.served_predictions)) == 4


def _ensure_after(barrier, url: str, errors) -> None:
    barrier.wait()
    try:
        sql.ensure_tables(sql.engine(url))
    except Exception as exc:  # the parent names it
        errors.put(repr(exc))


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
)
def test_processes_starting_together_create_the_tables_once(dialect, tmp_path):
    """The service's workers boot at once and each ensures the tables: none may fail on a
    table that another created between its check and its CREATE."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    with fresh_database(dialect, tmp_path) as url:
        barrier, errors = context.Barrier(8), context.Queue()
        workers = [
            context.Process(target=_ensure_after, args=(barrier, url, errors)) for _ in range(8)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        failures = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
        assert failures == [] and [w.exitcode for w in workers] == [0] * 8
        tables = sa.inspect(sql.engine(url)).get_table_names()
        assert set(sql.metadata.tables) <= set(tables)
