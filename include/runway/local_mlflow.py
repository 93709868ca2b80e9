"""The MLflow UI of the local profile, in the background, where the Runway view's links point.

`LocalMlflow(home, tracking_uri, port).start()` runs `mlflow server` over the local tracking
store (its artifacts proxied from the same folder) in its own process group, remembered in a
pid file so that `make stop` ends it; starting it again while it answers reuses it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests


class LocalMlflow:
    def __init__(self, home: Path, tracking_uri: str, artifacts: Path, port: int = 5000) -> None:
        self.home = Path(home)
        self.tracking_uri = tracking_uri
        self.artifacts = Path(artifacts)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.pidfile = self.home / "mlflow-ui.pid"
        self.log = self.home / "mlflow-ui.log"

    def healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start(self, timeout: float = 90) -> LocalMlflow:
        if self.healthy():
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.tracking_uri,
            "--artifacts-destination", self.artifacts.as_uri(),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        with self.log.open("w") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pidfile.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited ({process.returncode}); see {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the MLflow UI did not answer in {timeout}s; see {self.log}")
            time.sleep(1)
        return self

    def stop(self) -> None:
        if not self.pidfile.exists():
            return
        pid = int(self.pidfile.read_text().split()[0])
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    os.killpg(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.3)
            else:
                continue
            break
        self.pidfile.unlink(missing_ok=True)


def local_mlflow(settings) -> LocalMlflow:
    """The MLflow UI where `settings.mlflow_ui_url` points, over the local tracking store."""
    from urllib.parse import urlparse

    port = urlparse(settings.mlflow_ui_url).port or 5000
    return LocalMlflow(settings.home, settings.mlflow_uri, settings.mlflow_artifacts_dir, port)
