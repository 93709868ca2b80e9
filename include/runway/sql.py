"""The SQL tables scoring, monitoring, serving and experiments write: `predictions`,
`monitoring_metrics`, `served_predictions` and `experiments`.

SQLite in the local profile, Postgres on the cluster, one code path (SQLAlchemy Core). Every
write is an upsert by primary key inside one transaction, so a task that reruns for the same
day replaces its rows instead of adding to them.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

metadata = sa.MetaData()

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("flight_id", sa.String(64), primary_key=True),
    sa.Column("model_version", sa.Integer, primary_key=True),  # registry version that scored
    sa.Column("flight_date", sa.Date, nullable=False, index=True),  # local date of departure
    sa.Column("model_alias", sa.String(16), nullable=False),  # 'champion' or 'challenger'
    sa.Column("score", sa.Float, nullable=False),  # probability of `contracts.LABEL`
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),  # Airflow run that wrote the row
    sa.CheckConstraint("model_alias IN ('champion', 'challenger')", name="ck_predictions_alias"),
)

monitoring_metrics = sa.Table(
    "monitoring_metrics",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),  # local day the metric describes
    sa.Column("model_version", sa.Integer, primary_key=True),
    sa.Column("metric", sa.String(128), primary_key=True),
    sa.Column("value", sa.Float, nullable=True),  # NULL: undefined that day (e.g. one class)
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
)

EXPERIMENT_MODES = ("shadow", "ab", "canary")
EXPERIMENT_STATUSES = ("active", "promoted", "rolled_back", "stopped")

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", sa.String(64), primary_key=True),
    sa.Column("champion_version", sa.Integer, nullable=False),  # the version it started against
    sa.Column("challenger_version", sa.Integer, nullable=False),
    sa.Column("mode", sa.String(8), nullable=False),
    sa.Column("share", sa.Float, nullable=False),  # the challenger's traffic share now
    sa.Column("share_since", sa.Date, nullable=False),  # first day served at that share
    sa.Column("ramp", sa.JSON, nullable=False),  # canary: the shares in order; [] otherwise
    sa.Column("salt", sa.String(64), nullable=False),  # the sticky assignment's salt
    sa.Column("start", sa.Date, nullable=False),  # first flight day served
    sa.Column("planned_days", sa.Integer, nullable=False),
    sa.Column("plan", sa.JSON, nullable=False),  # the power calculation's inputs and result
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("decisions", sa.JSON, nullable=False),  # one entry per look, in day order
    sa.Column("created_by", sa.String(250), nullable=False),
    sa.Column("reason", sa.String(2000), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(f"mode IN {EXPERIMENT_MODES}", name="ck_experiments_mode"),
    sa.CheckConstraint(f"status IN {EXPERIMENT_STATUSES}", name="ck_experiments_status"),
    sa.CheckConstraint("share >= 0 AND share <= 1", name="ck_experiments_share"),
    # at most one active experiment: the service follows exactly one
    sa.Index(
        "uq_experiments_one_active",
        "status",
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    ),  # fmt: skip
)

served_predictions = sa.Table(
    "served_predictions",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),  # one per HTTP call
    sa.Column("flight_id", sa.String(64), primary_key=True),  # as `predictions.flight_id`
    sa.Column("flight_date", sa.Date, nullable=False, index=True),  # local date of departure
    sa.Column("model_version", sa.Integer, nullable=False),  # the version that answered
    sa.Column("score", sa.Float, nullable=False),  # probability of `contracts.LABEL`
    sa.Column("latency_ms", sa.Float, nullable=False),  # the call's time in the service
    sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("arm", sa.String(64), nullable=True),  # an experiment's arm; NULL: the champion
    sa.Column("experiment_id", sa.String(64), nullable=True),  # NULL outside experiments
)

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


@functools.cache
def engine(url: str) -> sa.Engine:
    """One engine (and connection pool) per URL and process.

    A SQLite file's folder is created, and SQLite waits up to 30 s for a lock that a
    concurrent task (scoring beside monitoring) holds instead of failing at once.
    """
    parsed = sa.make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        connect_args["timeout"] = 30
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def ensure_tables(bind: sa.Engine) -> None:
    """Create the tables (and their indexes) that do not exist yet; existing ones are kept."""
    metadata.create_all(bind, checkfirst=True)


def _plain(value: Any) -> Any:
    # psycopg2 cannot adapt numpy scalars (numpy.int64 in particular): hand it Python ones.
    return value.item() if isinstance(value, np.generic) else value


def upsert(bind: sa.Engine, table: sa.Table, rows: list[dict]) -> int:
    """Insert `rows`, or update the row with the same primary key; one transaction.

    Every row must carry the same columns, the whole primary key among them; the columns
    given (and only those) are updated on a conflict. Returns the number of rows written.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    known = set(table.columns.keys())
    keys = [c.name for c in table.primary_key.columns]
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    missing = [k for k in keys if k not in columns]
    if missing:
        raise ValueError(f"rows for {table.name} lack the primary-key columns {missing}")
    if any(set(row) != set(columns) for row in rows):
        raise ValueError(f"every row for {table.name} must carry the same columns {columns}")
    seen = {tuple(row[k] for k in keys) for row in rows}
    if len(seen) != len(rows):  # Postgres refuses one statement touching a row twice
        raise ValueError(f"rows for {table.name} repeat a primary key {keys}")
    dialect = bind.dialect.name
    if dialect not in _INSERTS:
        raise NotImplementedError(f"upsert supports {sorted(_INSERTS)}, not {dialect!r}")

    statement = _INSERTS[dialect](table)
    updates = {c: statement.excluded[c] for c in columns if c not in keys}
    if updates:
        statement = statement.on_conflict_do_update(index_elements=keys, set_=updates)
    else:  # a row that is all key: nothing to update, the row existing is the result
        statement = statement.on_conflict_do_nothing(index_elements=keys)
    params = [{c: _plain(row[c]) for c in columns} for row in rows]
    with bind.begin() as connection:
        connection.execute(statement, params)
    return len(params)
