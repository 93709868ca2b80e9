"""What runs the serving service: `make serve`, the demo, the tests and the bench call these.

`serve` runs gunicorn in the foreground; `start` runs it as a child process and `wait_ready`
waits for its `/readyz`. Both first make the installation's bearer key (so that every worker
reads the same one) and empty the Prometheus multiprocess folder of an earlier run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from runway.settings import Settings

APP = "runway.serving.app:create_app()"
CONFIG = "python:runway.serving.gunicorn_conf"


def api_key(settings: Settings) -> str:
    """The bearer key clients send: the cluster's, or this installation's generated one."""
    from runway.serving import auth

    return settings.serving.api_key or auth.installation_key(settings.serving_key_file)


def command(settings: Settings, *, port: int | None = None, workers: int | None = None) -> list:
    bind = f"{settings.serving.host}:{port or settings.serving.port}"
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        CONFIG,
        "--bind",
        bind,
        "--workers",
        str(workers or settings.serving.workers),
        APP,
    ]


def environment(settings: Settings, base: dict | None = None) -> dict:
    """The child's environment: `base` (default: this process's), the multiprocess folder
    emptied, the package on the path."""
    api_key(settings)
    metrics_dir = settings.serving_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env = dict(os.environ if base is None else base)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    # one thread per worker: the workers are the parallelism; OpenMP threads of several
    # workers spinning against each other made one booster call 7x slower on 2 cores
    env.setdefault("OMP_NUM_THREADS", "1")
    include = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = include + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def serve(settings: Settings, *, port: int | None = None, workers: int | None = None) -> int:
    """Run the service in the foreground until it is stopped (Ctrl-C stops it gracefully)."""
    env = environment(settings)
    print(
        f"serving on http://{settings.serving.host}:{port or settings.serving.port} "
        f"(key in {settings.serving_key_file})",
        flush=True,
    )
    return subprocess.call(command(settings, port=port, workers=workers), env=env)


def start(
    settings: Settings,
    *,
    port: int,
    workers: int | None = None,
    env: dict | None = None,
    log: Path | None = None,
) -> subprocess.Popen:
    """The service as a child process (its own process group); output to `log`."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (kept by the child)
    return subprocess.Popen(
        command(settings, port=port, workers=workers),
        env=environment(settings, env),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(url: str, timeout: float = 120.0, process: subprocess.Popen | None = None) -> dict:
    """Wait for `url`/readyz to answer 200; its body. Raises with the last answer otherwise."""
    import httpx

    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the service exited with {process.returncode} before ready")
        try:
            answer = httpx.get(f"{url}/readyz", timeout=2)
            if answer.status_code == 200:
                return answer.json()
            last = answer.text
        except httpx.HTTPError as err:
            last = str(err)
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:g} s: {last}")
