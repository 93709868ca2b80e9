"""A real local Airflow (api-server, scheduler, dag-processor, triggerer) and a small REST client.

`make demo`, the replay and the integration tests drive Airflow the way a user's scripts do:
through REST API v2 with a JWT. `LocalAirflow` starts `airflow standalone` on a chosen port in
the background and stops it; `AirflowRest` triggers runs and follows them.

`LocalAirflow(..., mode="components")` starts the processes one by one instead, as a
deployment runs them (api-server, scheduler, dag-processor, triggerer and, for the
CeleryExecutor, `airflow celery worker --queues <worker_queues>`): the cluster-profile test
uses it with the executor, database and broker given as `AIRFLOW__*` variables in `extra_env`.
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


MODES = ("standalone", "components")
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class LocalAirflow:
    """Airflow in the background, each process's output in a log file under `home`.

    mode "standalone": `airflow standalone` (one process tree, log `standalone.log`).
    mode "components": api-server, scheduler, dag-processor and triggerer as separate processes
    and, when `worker_queues` is given, a Celery worker serving those queues with
    `worker_concurrency` slots (logs `<component>.log`). Its log-server ports are free ports,
    so it runs beside another Airflow on the same machine.
    """

    def __init__(
        self,
        home: Path,
        port: int = 8080,
        use_schedules: bool = True,
        extra_env: dict | None = None,
        mode: str = "standalone",
        worker_queues: tuple[str, ...] = (),
        worker_concurrency: int = 4,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if worker_queues and mode != "components":
            raise ValueError("worker_queues needs mode='components'")
        self.mode, self.worker_queues, self.worker_concurrency = (
            mode,
            tuple(worker_queues),
            worker_concurrency,
        )
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
        if mode == "components":  # the log servers default to fixed ports (8793, 8794)
            self.env.setdefault("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(free_port()))
            self.env.setdefault("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
        self.log = self.home / ("standalone.log" if mode == "standalone" else "api-server.log")
        self.process: subprocess.Popen | None = None
        self.processes: dict[str, subprocess.Popen] = {}

    def secret(self, name: str) -> str:
        """A per-installation secret, generated once and kept (git-ignored) in Airflow's home."""
        path = self.home / "secrets" / name
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def passwords(self) -> dict[str, str]:
        return json.loads((self.home / "passwords.json").read_text())

    def healthy(self) -> bool:
        try:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        return (
            health.get("scheduler", {}).get("status") == "healthy"
            and (self.home / "passwords.json").exists()
        )

    @property
    def pidfile(self) -> Path:
        return self.home / "standalone.pid"

    def start(self, timeout: float = 240) -> LocalAirflow:
        """Start Airflow, or reuse the one this home already runs on this port."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.healthy():
            return self
        # Every process must sign and check task tokens with the same key.
        self.env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", self.secret("jwt_secret"))
        self.env.setdefault("AIRFLOW__API__SECRET_KEY", self.secret("api_secret_key"))
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [sys.executable, "-m", "airflow", "pools", "set", "gpu", "1", "GPU training slots"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.pidfile.unlink(missing_ok=True)  # a stale one names processes long gone
        if self.mode == "standalone":
            self.process = self._spawn("standalone", ["standalone"], self.log)
        else:
            for component in COMPONENTS:
                self._spawn(component, [component], self.home / f"{component}.log")
            if self.worker_queues:
                command = [
                    "celery",
                    "worker",
                    "--queues",
                    ",".join(self.worker_queues),
                    "--concurrency",
                    str(self.worker_concurrency),
                ]
                self._spawn("celery-worker", command, self.home / "celery-worker.log")
            self.process = self.processes["api-server"]
        deadline = time.monotonic() + timeout
        while not self.healthy():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = self.home / f"{name}.log"
                    self.stop()
                    raise RuntimeError(f"airflow {name} exited ({process.returncode}); see {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Airflow not healthy after {timeout}s; see {self.log}")
            time.sleep(2)
        return self

    def _spawn(self, name: str, args: list[str], log: Path) -> subprocess.Popen:
        """`airflow <args>` in its own process group; its pid is added to the pid file."""
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        with self.pidfile.open("a") as pids:
            pids.write(f"{process.pid}\n")
        return process

    def client(self, user: str = "admin") -> AirflowRest:
        return AirflowRest(self.url, user, self.passwords()[user])

    def stop(self) -> None:
        """Stop the Airflow processes this object started, or those its pid file names.

        Every process group gets SIGTERM at once (a Celery worker finishes or hands back its
        tasks), then whatever still runs after 60 s gets SIGKILL."""
        started = {p.pid: p for p in self.processes.values()}
        if self.process is not None:
            started.setdefault(self.process.pid, self.process)
        pids = list(started)
        if not pids and self.pidfile.exists():
            pids = [int(line) for line in self.pidfile.read_text().split() if line.strip()]
        alive = []
        for pid in pids:
            try:
                os.killpg(pid, signal.SIGTERM)
                alive.append(pid)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 60
        while alive and time.monotonic() < deadline:
            time.sleep(0.5)
            for process in started.values():
                process.poll()  # reap a leader that exited, so its group can empty
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
        self.pidfile.unlink(missing_ok=True)
        self.process = None
        self.processes = {}
