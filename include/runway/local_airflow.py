"""A real local Airflow (api-server, scheduler, dag-processor, triggerer), supervised, and a
small REST client.

`make demo`, the replay and the integration tests drive Airflow the way a user's scripts do:
through REST API v2 with a JWT. `LocalAirflow` starts a supervisor in the background
(`python -m runway.local_airflow supervise <home>`) that runs each component as its own process
(as a deployment runs them) and restarts whichever dies; `AirflowRest` triggers runs and follows
them. The metadata database is an embedded PostgreSQL (`runway.local_postgres`) that the
supervisor keeps up too: SQLite could not hold ten concurrent triggers. The cluster-profile test
gives its own database, executor and broker as `AIRFLOW__*` variables in `extra_env`, and a
Celery worker with `worker_queues`.

Secrets (passwords.json, the signing keys, the database password, the logs that print
passwords) are 0600 in 0700 folders: the supervisor runs Airflow under umask 077.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from runway.private_files import open_private_log, private_dir, secret, write_private

TERMINAL = {"success", "failed"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AirflowRest:
    """REST API v2 of one Airflow, as `user`."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        response = requests.post(
            f"{self.base_url}/auth/token",
            json={"username": username, "password": password},
            timeout=30,
        )
        response.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(
            method, f"{self.base_url}/api/v2{path}", timeout=60, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:1000]}"
            )
        return response.json() if response.content else {}

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            known = {d["dag_id"] for d in self._call("GET", "/dags", params={"limit": 100})["dags"]}
            if set(dag_ids) <= known:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"DAGs not parsed after {timeout}s: {sorted(set(dag_ids) - known)}"
                )
            time.sleep(2)

    def trigger(
        self, dag_id: str, conf: dict, logical_date: str | None = None, note: str | None = None
    ) -> str:
        body = {"logical_date": logical_date, "conf": conf}
        if note:
            body["note"] = note
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, **params) -> list[dict]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **params})[
            "dag_runs"
        ]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        instances = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")[
            "task_instances"
        ]
        return {ti["task_id"]: ti["state"] for ti in instances}

    def xcom(self, dag_id: str, run_id: str, task_id: str):
        entry = self._call(
            "GET",
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value

    def wait(self, dag_id: str, run_id: str, timeout: float = 1800, poll: float = 2.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} {run_id} still {run['state']} after {timeout}s")
            time.sleep(poll)


COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DATABASE_VARIABLE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
RESTART_DELAY_S = 2.0  # a component that dies is restarted after this pause, doubling to 30 s
STOP_GRACE_S = 60.0  # SIGTERM, then SIGKILL after this long


class LocalAirflow:
    """Airflow in the background under a supervisor, each process's output in a log under `home`.

    The supervisor runs api-server, scheduler, dag-processor and triggerer and, when
    `worker_queues` is given, a Celery worker serving those queues with `worker_concurrency`
    slots (logs `<component>.log`, the supervisor's own `supervisor.log`); it restarts a
    component that exits, and the embedded PostgreSQL if that stops. Its log-server ports are
    free ports, so it runs beside another Airflow on the same machine.
    """

    def __init__(
        self,
        home: Path,
        port: int = 8080,
        use_schedules: bool = True,
        extra_env: dict | None = None,
        worker_queues: tuple[str, ...] = (),
        worker_concurrency: int = 4,
    ):
        self.worker_queues, self.worker_concurrency = tuple(worker_queues), worker_concurrency
        self.home, self.port = Path(home), port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(use_schedules),
            **(extra_env or {}),
        }
        # the log servers default to fixed ports (8793, 8794)
        self.env.setdefault("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
        self.env.setdefault("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
        self.embedded_database = DATABASE_VARIABLE not in (extra_env or {})
        self.log = self.home / "api-server.log"
        self.supervisor_log = self.home / "supervisor.log"
        self.state_file = self.home / "supervisor.json"
        self.process: subprocess.Popen | None = None

    @property
    def postgres(self):
        from runway.local_postgres import LocalPostgres

        return LocalPostgres(self.home / "postgres")

    def secret(self, name: str) -> str:
        """A per-installation secret, generated once and kept (0600, git-ignored) in the home."""
        return secret(self.home / "secrets" / name)

    def passwords(self) -> dict[str, str]:
        return json.loads((self.home / "passwords.json").read_text())

    def health(self) -> dict:
        try:
            return requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return {}

    def healthy(self) -> bool:
        health = self.health()
        return (
            all(health.get(part, {}).get("status") == "healthy" for part in HEALTH_PARTS)
            and (self.home / "passwords.json").exists()
        )

    def components(self) -> dict[str, dict]:
        """What the supervisor runs: per component its pid, whether it is alive, its restarts."""
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        for entry in state.values():
            entry["alive"] = _alive(entry["pid"])
        return state

    @property
    def pidfile(self) -> Path:
        return self.home / "airflow.pid"

    def start(self, timeout: float = 240) -> LocalAirflow:
        """Start Airflow, or reuse the one this home already runs on this port."""
        private_dir(self.home)
        for leftover in ("passwords.json", "standalone.log"):  # older installations: tighten
            if (self.home / leftover).exists():
                (self.home / leftover).chmod(0o600)
        if self.healthy():
            return self
        # Every process must sign and check task tokens with the same key.
        self.env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", self.secret("jwt_secret"))
        self.env.setdefault("AIRFLOW__API__SECRET_KEY", self.secret("api_secret_key"))
        if self.embedded_database:
            self.env[DATABASE_VARIABLE] = self.postgres.start()
        for args in (["db", "migrate"], ["pools", "set", "gpu", "1", "GPU training slots"]):
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise RuntimeError(f"airflow {' '.join(args)} failed: {result.stderr[-3000:]}")
        self.pidfile.unlink(missing_ok=True)  # a stale one names processes long gone
        self.state_file.unlink(missing_ok=True)
        spec = {
            "components": {name: [name] for name in COMPONENTS},
            "postgres": str(self.postgres.root) if self.embedded_database else None,
        }
        if self.worker_queues:
            spec["components"]["celery-worker"] = [
                "celery",
                "worker",
                "--queues",
                ",".join(self.worker_queues),
                "--concurrency",
                str(self.worker_concurrency),
            ]
        write_private(self.home / "supervisor-spec.json", json.dumps(spec))
        with open_private_log(self.supervisor_log) as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "runway.local_airflow", "supervise", str(self.home)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self.pidfile.open("a") as pids:
            pids.write(f"{self.process.pid}\n")
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(
                    f"the Airflow supervisor exited ({self.process.returncode}); "
                    f"see {self.supervisor_log}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Airflow not healthy after {timeout}s; see {self.home}/*.log")
            time.sleep(2)
        return self

    def client(self, user: str = "admin") -> AirflowRest:
        return AirflowRest(self.url, user, self.passwords()[user])

    def stop(self) -> None:
        """Stop the supervisor (it stops every component and the database), then whatever the
        pid file still names: SIGTERM, SIGKILL after the grace period."""
        pids = [int(line) for line in self._read_pids()]
        if self.process is not None and self.process.pid not in pids:
            pids.insert(0, self.process.pid)
        _stop_groups(pids, STOP_GRACE_S + 30, reap=(self.process,) if self.process else ())
        if self.embedded_database:
            self.postgres.stop()
        self.pidfile.unlink(missing_ok=True)
        self.process = None

    def _read_pids(self) -> list[str]:
        if not self.pidfile.exists():
            return []
        return [line for line in self.pidfile.read_text().split() if line.strip()]


HEALTH_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return True


def _stop_groups(
    pids: list[int], grace: float, reap: tuple[subprocess.Popen, ...] = ()
) -> list[int]:
    """SIGTERM every process group in `pids`, SIGKILL the ones still alive after `grace`;
    the groups that needed SIGKILL."""
    alive = []
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
            alive.append(pid)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        for child in reap:
            child.poll()  # reap a leader that exited (a zombie keeps its group alive)
        still = []
        for pid in alive:
            try:
                os.killpg(pid, 0)
                still.append(pid)
            except ProcessLookupError:
                pass
        alive = still
    for pid in alive:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return alive


class Supervisor:
    """Runs the components of `home/supervisor-spec.json` and restarts whichever exits.

    Every restart is written to `supervisor.log` (component, exit code, restart count) and the
    live state to `supervisor.json`; SIGTERM stops the components, then the database."""

    def __init__(self, home: Path):
        self.home = Path(home)
        spec = json.loads((self.home / "supervisor-spec.json").read_text())
        self.commands: dict[str, list[str]] = spec["components"]
        self.postgres = None
        if spec["postgres"]:
            from runway.local_postgres import LocalPostgres

            self.postgres = LocalPostgres(Path(spec["postgres"]))
        self.processes: dict[str, subprocess.Popen] = {}
        self.restarts = dict.fromkeys(self.commands, 0)
        self.next_start: dict[str, float] = {}
        self.stopping = False

    def say(self, message: str) -> None:
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}", flush=True)

    def spawn(self, name: str) -> None:
        log = (self.home / f"{name}.log").open("a")
        with log:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *self.commands[name]],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        with (self.home / "airflow.pid").open("a") as pids:
            pids.write(f"{process.pid}\n")
        self.say(f"started {name} pid {process.pid}")
        self.write_state()

    def write_state(self) -> None:
        state = {
            name: {"pid": process.pid, "restarts": self.restarts[name]}
            for name, process in self.processes.items()
        }
        write_private(self.home / "supervisor.json", json.dumps(state))

    def check(self) -> None:
        """One round: restart the database if it stopped, then each component that exited."""
        if self.postgres is not None and not self.postgres.running():
            self.say("postgres is not running: restarting it")
            self.postgres.start()
        now = time.monotonic()
        for name, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            if name not in self.next_start:
                delay = min(30.0, RESTART_DELAY_S * 2 ** min(self.restarts[name], 4))
                self.next_start[name] = now + delay
                self.say(f"{name} pid {process.pid} exited with {code}: restart in {delay:.0f} s")
            elif now >= self.next_start[name]:
                del self.next_start[name]
                self.restarts[name] += 1
                self.say(f"restarting {name} (restart {self.restarts[name]})")
                self.spawn(name)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        for name in self.commands:
            self.spawn(name)
        while not self.stopping:
            try:
                self.check()
            except Exception as error:  # noqa: BLE001 - a supervisor keeps supervising
                self.say(f"supervision round failed: {error!r}")
            time.sleep(1)
        self.say("stopping components")
        started = time.monotonic()
        processes = tuple(self.processes.values())
        killed = _stop_groups([p.pid for p in processes], STOP_GRACE_S, reap=processes)
        names = [name for name, p in self.processes.items() if p.pid in killed]
        self.say(f"components stopped in {time.monotonic() - started:.0f} s; SIGKILL: {names}")
        for process in self.processes.values():
            process.poll()
        if self.postgres is not None:
            self.postgres.stop()
        self.say("stopped")
        return 0

    def _on_term(self, signum, frame) -> None:
        self.stopping = True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "supervise":
        print("usage: python -m runway.local_airflow supervise <airflow home>", file=sys.stderr)
        return 2
    os.umask(0o077)  # passwords.json, the logs that print passwords: owner only
    return Supervisor(Path(argv[1])).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
