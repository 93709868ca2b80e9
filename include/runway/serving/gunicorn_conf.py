"""gunicorn's settings and hooks for the serving service (`gunicorn -c python:...`).

Workers are uvicorn's (`uvicorn_worker.UvicornWorker`); bind address and worker count come
from the command line `steps.serve` builds. A worker killed outright is replaced by the
master; its live gauges are dropped from the Prometheus multiprocess files here.
"""

from __future__ import annotations

worker_class = "uvicorn_worker.UvicornWorker"
graceful_timeout = 30  # a stopping worker's in-flight calls and its served-log flush
timeout = 60  # a worker silent this long is restarted
keepalive = 5
preload_app = True  # the master imports Feast, MLflow and the boosters once; workers fork
# from it (a replaced worker is up in seconds) and open their store and model themselves
max_requests = 0  # no recycling: a worker keeps its loaded model and open store
# gunicorn 26's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl):
# several services on one machine (tests, bench, demo) would take it from each other
control_socket_disable = True
accesslog = None  # the app logs one structured line per prediction call


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
