"""A real local Airflow (api-server, scheduler, dag-processor, triggerer) and a small REST client.

`make demo`, the replay and the integration tests drive Airflow the way a user's scripts do:
through REST API v2 with a JWT. `LocalAirflow` starts `airflow standalone` on a chosen port in
the background and stops it; `AirflowRest` triggers runs and follows them.
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
        response = requests.post(f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30)
        response.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _call(self, method: str, path: str, **kwargs) -> dict:
        response = self.session.request(method, f"{self.base_url}/api/v2{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status_code}: {response.text[:1000]}")
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
                raise TimeoutError(f"DAGs not parsed after {timeout}s: {sorted(set(dag_ids) - known)}")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict, logical_date: str | None = None, note: str | None = None) -> str:
        body = {"logical_date": logical_date, "conf": conf}
        if note:
            body["note"] = note
        return self._call("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, **params) -> list[dict]:
        return self._call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **params})["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        instances = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in instances}

    def xcom(self, dag_id: str, run_id: str, task_id: str):
        entry = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")
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


class LocalAirflow:
    """`airflow standalone` in the background, its output in a log file."""

    def __init__(self, home: Path, port: int = 8080, use_schedules: bool = True, extra_env: dict | None = None):
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
        self.log = self.home / "standalone.log"
        self.process: subprocess.Popen | None = None

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
        return health.get("scheduler", {}).get("status") == "healthy" and (self.home / "passwords.json").exists()

    @property
    def pidfile(self) -> Path:
        return self.home / "standalone.pid"

    def start(self, timeout: float = 240) -> "LocalAirflow":
        """Start Airflow, or reuse the one this home already runs on this port."""
        self.home.mkdir(parents=True, exist_ok=True)
        if self.healthy():
            return self
        # Every process must sign and check task tokens with the same key.
        self.env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", self.secret("jwt_secret"))
        self.env.setdefault("AIRFLOW__API__SECRET_KEY", self.secret("api_secret_key"))
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=self.env, check=True, capture_output=True)
        subprocess.run(
            [sys.executable, "-m", "airflow", "pools", "set", "gpu", "1", "GPU training slots"],
            env=self.env, check=True, capture_output=True,
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=self.env, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.pidfile.write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({self.process.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Airflow not healthy after {timeout}s; see {self.log}")
            time.sleep(2)
        return self

    def client(self, user: str = "admin") -> AirflowRest:
        return AirflowRest(self.url, user, self.passwords()[user])

    def stop(self) -> None:
        """Stop the Airflow this object started, or the one its pid file names."""
        pid = self.process.pid if self.process else None
        if pid is None and self.pidfile.exists():
            pid = int(self.pidfile.read_text())
        if pid is not None:
            try:
                os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    os.killpg(pid, 0)
                    if self.process and self.process.poll() is not None:
                        break
                    time.sleep(0.5)
                else:
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pidfile.unlink(missing_ok=True)
        self.process = None
