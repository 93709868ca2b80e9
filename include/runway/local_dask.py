"""A real Dask cluster on loopback: `dask scheduler` and `dask worker` processes, for the
Dask-runner test, the bench and trying `RUNWAY_BEAM_RUNNER=dask` by hand.

    with LocalDask(Path("/tmp/dask"), workers=2) as cluster:
        print(cluster.address)      # tcp://127.0.0.1:<free port>: RUNWAY_DASK_SCHEDULER

Each process runs in its own process group with its output in `<home>/<name>.log`; `stop`
ends the groups this object started (TERM, then KILL after a grace period). A test run killed
before `stop` leaves nothing for long: workers exit once their scheduler has gone
(`--death-timeout`), and the scheduler once it has been idle for `idle_timeout`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from runway.local_airflow import free_port


class LocalDask:
    def __init__(
        self,
        home: Path,
        workers: int = 2,
        threads_per_worker: int = 1,
        env: dict[str, str] | None = None,
        idle_timeout: str = "30 minutes",
    ):
        if workers < 0 or threads_per_worker < 1:
            raise ValueError(
                f"workers must be >= 0 and threads_per_worker >= 1, got {workers}, "
                f"{threads_per_worker}"
            )
        self.home, self.workers, self.threads = Path(home), workers, threads_per_worker
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.idle_timeout = idle_timeout
        self.env = {**os.environ, **(env or {})}
        self.processes: dict[str, subprocess.Popen] = {}

    def _dask(self, *args: str) -> list[str]:
        # the `dask` command of this interpreter's environment, whatever PATH says
        return [sys.executable, "-m", "dask", *args]

    def start(self, timeout: float = 120) -> LocalDask:
        """Start the scheduler, then the workers; return once every worker has registered
        (with workers=0, once the scheduler answers: a cluster that cannot run anything)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-dashboard",
            "--idle-timeout",
            self.idle_timeout,
        )
        for i in range(1, self.workers + 1):
            self._spawn(
                f"worker-{i}",
                "worker",
                self.address,
                "--name",
                f"worker-{i}",
                "--nthreads",
                str(self.threads),
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--local-directory",
                str(self.home / f"worker-{i}"),
                "--death-timeout",
                "60",
            )
        try:
            self._wait_for_workers(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, *args: str) -> None:
        with (self.home / f"{name}.log").open("w") as out:
            self.processes[name] = subprocess.Popen(
                self._dask(*args),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_for_workers(self, timeout: float) -> None:
        from distributed import Client

        deadline = time.monotonic() + timeout
        while True:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(
                        f"dask {name} exited ({process.returncode}); see {self.home / name}.log"
                    )
            try:
                with Client(self.address, timeout=5, set_as_default=False) as client:
                    if self.workers:
                        client.wait_for_workers(
                            self.workers, timeout=max(1, deadline - time.monotonic())
                        )
                    return
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Dask cluster {self.address} without {self.workers} workers after "
                        f"{timeout} s; see the logs in {self.home}"
                    ) from None
                time.sleep(1)

    def worker_stats(self) -> dict[str, dict]:
        """Per worker name: tasks it executed so far, and its process's peak resident set."""
        from distributed import Client

        with Client(self.address, timeout=10, set_as_default=False) as client:
            counts = client.run(
                lambda dask_worker: (dask_worker.name, dask_worker.state.executed_count)
            )
        stats = {name: {"executed": count} for name, count in counts.values()}
        for name, process in self.processes.items():
            if name in stats:
                stats[name]["peak_rss_mb"] = _peak_rss_mb(process.pid)
        return stats

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes.values()]

    def stop(self, grace: float = 20) -> None:
        """TERM every process group this object started, KILL what is left after `grace` s."""
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        self.processes = {}

    def __enter__(self) -> LocalDask:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set (Linux /proc VmHWM), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None
