"""Fixtures the unit tests share: a fresh SQL database on both dialects."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from runway import sql

POSTGRES_URL = os.environ.get(
    "RUNWAY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


@contextlib.contextmanager
def fresh_database(dialect: str, folder: Path):
    """The URL of an empty database: a SQLite file under `folder`, or a Postgres schema of
    its own (dropped afterwards)."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / 'nested' / 'runway.db'}"
        return
    schema = f"runway_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.schema.CreateSchema(schema))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def bind(request, tmp_path):
    """A fresh database with the tables: a SQLite file, or a schema of its own in Postgres."""
    with fresh_database(request.param, tmp_path) as url:
        engine = sql.engine(url)
        sql.ensure_tables(engine)
        sql.ensure_tables(engine)  # twice: creating what exists is a no-op
        yield engine
        engine.dispose()
