"""The SQL tables scoring, monitoring, serving and experiments write: `predictions`,
`monitoring_metrics`, `served_predictions` and `experiments`.

SQLite in the local profile, Postgres on the cluster, one code path (SQLAlchemy Core). Every
write is an upsert by primary key inside one transaction, so a task that reruns for the same
day replaces its rows instead of adding to them.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
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
    # the version that scored the flight: in shadow mode the champion and the challenger each
    # leave a row for the same call and flight
    sa.Column("model_version", sa.Integer, primary_key=True),
    sa.Column("flight_date", sa.Date, nullable=False, index=True),  # local date of departure
    sa.Column("score", sa.Float, nullable=True),  # probability of `contracts.LABEL`; NULL: failed
    sa.Column("latency_ms", sa.Float, nullable=False),  # the call's time in the service
    sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("arm", sa.String(64), nullable=True),  # an experiment's arm; NULL: the champion
    sa.Column("experiment_id", sa.String(64), nullable=True),  # NULL outside experiments
    # the HTTP status of the answer (a shadow row: of its scoring): 200, or 5xx when it failed
    sa.Column("status", sa.SmallInteger, nullable=False, server_default=sa.text("200")),
    # False for a shadow score: the challenger scored the flight unseen, the champion answered
    sa.Column("answered", sa.Boolean, nullable=False, server_default=sa.true()),
)
SERVED_KEY = ("request_id", "flight_id", "model_version")
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


SCHEMA_LOCK_KEY = 0x52554E57  # Postgres advisory lock held while Runway creates or migrates


@contextmanager
def _schema_lock(bind: sa.Engine):
    """A connection inside a transaction that holds the database's schema lock (SQLite's
    write lock, a Postgres advisory lock), committed on exit. Processes that start together
    (the service's workers, parallel tasks) then change the schema one after the other, and
    each re-checks what exists under the lock: a check-then-create is not atomic otherwise."""
    with bind.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.begin()
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
        conn.commit()


def ensure_tables(bind: sa.Engine) -> None:
    """Create the tables (and their indexes) that do not exist yet; existing ones are kept,
    an older `served_predictions` migrated in place (`migrate_served_predictions`). Safe when
    several processes call it at once."""
    migrate_served_predictions(bind)
    with bind.connect() as conn:
        if set(metadata.tables) <= set(sa.inspect(conn).get_table_names()):
            return
    with _schema_lock(bind) as conn:
        metadata.create_all(conn, checkfirst=True)


def _served_is_current(conn) -> bool:
    inspector = sa.inspect(conn)
    if not inspector.has_table(served_predictions.name):
        return True  # create_all makes it as it is now
    columns = {c["name"] for c in inspector.get_columns(served_predictions.name)}
    key = inspector.get_pk_constraint(served_predictions.name)["constrained_columns"]
    return {"status", "answered"} <= columns and set(key) == set(SERVED_KEY)


def migrate_served_predictions(bind: sa.Engine) -> bool:
    """Bring a `served_predictions` of an earlier release (keyed by call and flight, a score
    always, no status) to today's table, its rows kept (status 200, answered); one transaction
    under the schema lock (and on Postgres the table's), so that workers starting together
    migrate it once. True if it migrated; a current table is left as it is."""
    with bind.connect() as conn:
        if _served_is_current(conn):
            return False
    name = served_predictions.name
    with _schema_lock(bind) as conn:
        if _served_is_current(conn):
            return False
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE"))
            key = sa.inspect(conn).get_pk_constraint(name)["name"]
            for statement in (
                f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS status SMALLINT NOT NULL DEFAULT 200",
                f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS answered BOOLEAN NOT NULL "
                "DEFAULT true",
                f"ALTER TABLE {name} ALTER COLUMN score DROP NOT NULL",
                f'ALTER TABLE {name} DROP CONSTRAINT "{key}"',
                f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(SERVED_KEY)})",
            ):
                conn.execute(sa.text(statement))
        else:  # SQLite alters no key: the table is rebuilt
            inspector = sa.inspect(conn)
            old = [c["name"] for c in inspector.get_columns(name)]
            for index in inspector.get_indexes(name):
                conn.exec_driver_sql(f'DROP INDEX "{index["name"]}"')
            conn.exec_driver_sql(f"ALTER TABLE {name} RENAME TO {name}_old")
            served_predictions.create(conn)
            kept = ", ".join(c for c in old if c in served_predictions.c)
            conn.exec_driver_sql(
                f"INSERT INTO {name} ({kept}) SELECT {kept} FROM {name}_old"
            )  # status and answered take their defaults
            conn.exec_driver_sql(f"DROP TABLE {name}_old")
    return True


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
