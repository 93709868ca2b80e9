"""Fixtures the unit tests share: a fresh SQL database on both dialects."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from runway import sql

POSTGRES_URL = os.environ.get(
    "RUNWAY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def bind(request, tmp_path):
    """A fresh database with the tables: a SQLite file, or a schema of its own in Postgres."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'runway.db'}"
        schema = None
    else:
        schema = f"runway_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = sql.engine(url)
    sql.ensure_tables(engine)
    sql.ensure_tables(engine)  # twice: creating what exists is a no-op
    yield engine
    engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()
