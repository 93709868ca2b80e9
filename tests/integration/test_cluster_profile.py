"""The cluster profile, for real: Airflow on PostgreSQL with the CeleryExecutor (Redis broker)
and a Celery worker serving the `default` and `gpu` queues, MLflow as a tracking server on
PostgreSQL, the Feast registry on PostgreSQL and its online store on Redis, `predictions` on
PostgreSQL. Features -> training -> scoring run to success on a short window, through REST.

It uses the machine's PostgreSQL (127.0.0.1:5432, trust auth, user postgres) and Redis
(127.0.0.1:6379), as CI provides them: it creates its own uniquely named databases, claims two
empty Redis database indexes (11 and 12 when free), and drops and flushes all of them at the
end, also when the test fails. Nothing of the cluster profile may land in a SQLite file.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from runway import contracts, entities, sql
from runway.features import sources
from runway.features import store as feature_store
from runway.local_airflow import LocalAirflow, free_port
from runway.scoring import batch as scoring
from runway.settings import GateThresholds, Settings

pytestmark = pytest.mark.integration

PG = "postgres@127.0.0.1:5432"
REDIS = ("127.0.0.1", 6379)
# the broker and Feast take the first two free ones; 11 is test_online_stores' own
REDIS_DBS = (12, 13, 14, 15, 10, 9, 8, 7)
CLAIM_KEY = "runway:cluster-test:claim"

FEATURES = (dt.date(2026, 3, 2), dt.date(2026, 3, 24))  # one run; the first days warm the windows
TRAINING = {
    "window_start": "2026-03-09",
    "window_end": "2026-03-22",
    "valid_days": 3,
    "test_days": 3,
    "families": ["xgboost", "lightgbm", "torch"],
    "n_trials": 2,
    "timeout_minutes": 1,
    "reason": "cluster-profile integration test",
}
SCORED = (dt.date(2026, 3, 23), dt.date(2026, 3, 24))
DAGS = ["feature_pipeline", "training_pipeline", "batch_scoring"]
GPU_TASKS = ("train_xgboost", "train_torch")


# ---- the machine's services -------------------------------------------------------------------


def _postgres(database: str = "postgres"):
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=5432, user="postgres", dbname=database, connect_timeout=10
    )
    connection.autocommit = True
    return connection


def _redis(db: int):
    import redis

    return redis.Redis(host=REDIS[0], port=REDIS[1], db=db, socket_timeout=10)


def _claim_redis_dbs(token: str, count: int = 2) -> list[int]:
    """Empty database indexes, each marked with `token` so that a concurrent run skips it."""
    claimed = []
    for db in REDIS_DBS:
        client = _redis(db)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, token, nx=True):
            claimed.append(db)
            if len(claimed) == count:
                return claimed
    for db in claimed:
        _release_redis_db(db, token)
    raise RuntimeError(
        f"no {count} empty Redis databases among {REDIS_DBS} on {REDIS[0]}:{REDIS[1]}"
    )


def _release_redis_db(db: int, token: str) -> None:
    client = _redis(db)
    if client.get(CLAIM_KEY) in (token.encode(), None):  # ours (or our claim was flushed already)
        client.flushdb()


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=5).ok:
                return
        if process.poll() is not None:
            raise RuntimeError(
                f"{process.args[:3]} exited ({process.returncode}): {log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not up after {timeout}s: {log.read_text()[-3000:]}")
        time.sleep(1)


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


# ---- the cluster ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Databases, Redis indexes, an MLflow server and Airflow (components + Celery worker);
    yields `(settings, airflow)` with the cluster profile's Settings; all torn down after."""
    token = uuid.uuid4().hex[:10]
    names = {part: f"runway_ci_{token}_{part}" for part in ("airflow", "mlflow", "runway")}
    tmp = tmp_path_factory.mktemp("cluster")
    with contextlib.ExitStack() as cleanup:
        try:
            admin = _postgres()
        except Exception as err:  # noqa: BLE001 - say which service is missing, then fail
            pytest.fail(
                "the cluster-profile test needs PostgreSQL at 127.0.0.1:5432 "
                f"(user postgres): {err}"
            )
        cleanup.callback(admin.close)
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'CREATE DATABASE "{name}"')
                cleanup.callback(_drop_database, admin, name)
        # this process's pooled connections to the runway database go before the database does
        cleanup.callback(lambda: sql.engine.cache_clear())
        cleanup.callback(
            lambda: sql.engine(f"postgresql+psycopg2://{PG}/{names['runway']}").dispose()
        )

        broker_db, online_db = _claim_redis_dbs(token)
        cleanup.callback(_release_redis_db, broker_db, token)
        cleanup.callback(_release_redis_db, online_db, token)

        # MLflow tracking server on Postgres, artifacts proxied to a folder of its own
        mlflow_port = free_port()
        mlflow_log = tmp / "mlflow-server.log"
        with mlflow_log.open("w") as out:
            mlflow_server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    f"postgresql://{PG}/{names['mlflow']}",
                    "--artifacts-destination",
                    str(tmp / "mlflow-artifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(mlflow_port),
                    "--workers",
                    "1",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
            )
        cleanup.callback(_stop, mlflow_server)
        mlflow_uri = f"http://127.0.0.1:{mlflow_port}"
        _wait_http(f"{mlflow_uri}/health", mlflow_server, mlflow_log, timeout=180)

        settings = Settings(
            profile="cluster",
            home=tmp / "runway-home",
            replay_year=2026,
            postgres_url=f"postgresql+psycopg2://{PG}/{names['runway']}",
            redis_url=f"redis://{REDIS[0]}:{REDIS[1]}/{online_db}",
            mlflow_tracking_uri=mlflow_uri,
            gate=GateThresholds(min_roc_auc=0.55, max_ece=0.1),
        )
        env = {
            "RUNWAY_PROFILE": "cluster",
            "RUNWAY_HOME": str(settings.home),
            "RUNWAY_POSTGRES_URL": settings.postgres_url,
            "RUNWAY_REDIS_URL": settings.redis_url,
            "RUNWAY_MLFLOW_TRACKING_URI": mlflow_uri,
            "RUNWAY_REPLAY_YEAR": "2026",
            "RUNWAY_GATE_MIN_ROC_AUC": str(settings.gate.min_roc_auc),
            "RUNWAY_GATE_MAX_ECE": str(settings.gate.max_ece),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG}/{names['airflow']}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{broker_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG}/{names['airflow']}",
        }
        airflow = LocalAirflow(
            tmp / "airflow",
            port=free_port(),
            use_schedules=False,
            extra_env=env,
            worker_queues=("default", "gpu"),
            worker_concurrency=4,
        )
        cleanup.callback(airflow.stop)
        airflow.start(timeout=300)
        api = airflow.client()
        api.wait_for_dags(DAGS, timeout=300)
        for dag_id in DAGS:
            api.unpause(dag_id)
        yield (
            settings,
            airflow,
            {"databases": names, "broker_db": broker_db, "online_db": online_db},
        )


def _drop_database(admin, name: str) -> None:
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(api, dag_id: str, conf: dict, timeout: float = 900) -> tuple[str, dict]:
    started = time.monotonic()
    run_id = api.trigger(dag_id, conf)
    run = api.wait(dag_id, run_id, timeout=timeout, poll=3)
    states = api.task_states(dag_id, run_id)
    print(f"\n{dag_id}: {run['state']} in {time.monotonic() - started:.0f}s")
    assert run["state"] == "success", (dag_id, states)
    return run_id, states


def _sqlite_files(root: Path) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                if f.read(16) == b"SQLite format 3\x00":
                    found.append(path)
    return found


# ---- the test ---------------------------------------------------------------------------------


def test_features_training_scoring_on_postgres_redis_celery_and_an_mlflow_server(cluster):
    import sqlalchemy as sa
    from mlflow import MlflowClient

    settings, airflow, services = cluster
    api = airflow.client()
    started = time.monotonic()

    # features: Beam -> parquet -> Feast (registry on Postgres, online store on Redis)
    _, states = _run(api, "feature_pipeline", {"start": str(FEATURES[0]), "end": str(FEATURES[1])})
    assert set(states.values()) == {"success"}, states

    # training: the GPU families on queue and pool `gpu`, served by the Celery worker
    run_id, states = _run(api, "training_pipeline", TRAINING, timeout=1200)
    assert states["promote_model"] == "success", states
    instances = {
        ti["task_id"]: ti
        for ti in api._call("GET", f"/dags/training_pipeline/dagRuns/{run_id}/taskInstances")[
            "task_instances"
        ]
    }
    for task_id in GPU_TASKS:
        ti = instances[task_id]
        assert (ti["queue"], ti["pool"], ti["state"]) == ("gpu", "gpu", "success"), ti
    assert instances["train_lightgbm"]["queue"] == "default"
    verdict = api.xcom("training_pipeline", run_id, "gate_challenger")
    assert verdict["passed"], verdict

    # the champion lives in the MLflow server's registry (on Postgres)
    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    assert int(champion.version) == verdict["version"]
    # artifacts went through the server (its --artifacts-destination), not a worker's folder
    assert client.get_run(champion.run_id).info.artifact_uri.startswith("mlflow-artifacts:")
    with (
        contextlib.closing(_postgres(services["databases"]["mlflow"])) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT count(*) FROM model_versions WHERE name = %s", (settings.model_name,)
        )
        assert cursor.fetchone()[0] >= 3  # one version per family

    # scoring: predictions upserted into Postgres
    _run(api, "batch_scoring", {"start": str(SCORED[0]), "end": str(SCORED[1])})
    engine = sql.engine(settings.sql_url)
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        predictions = conn.execute(sa.select(sql.predictions)).mappings().all()
    source = sources.prepare_source(settings.source_dir, settings.replay_shift)
    expected = sum(
        len(scoring.scheduled_flights(source, SCORED[0] + dt.timedelta(days=i))) for i in range(2)
    )
    assert len(predictions) == expected > 0
    assert {p["model_version"] for p in predictions} == {int(champion.version)}
    assert all(0.0 <= p["score"] <= 1.0 for p in predictions)

    # Feast: online features come from Redis, the registry is in Postgres
    assert _redis(services["online_db"]).dbsize() > 1  # more than our claim marker
    flights = scoring.scheduled_flights(source, SCORED[1]).dropna(subset=["tailnum"]).head(20)
    rows = entities.entity_rows(flights, with_label=False)[list(contracts.ENTITY_COLUMNS)].to_dict(
        "records"
    )
    store = feature_store.get_store(settings)
    assert type(store._get_provider().online_store).__name__ == "NewestRedisOnlineStore"
    online = feature_store.online_features(store, rows)
    assert len(online) == 20
    assert online["carrier_delay_rate_7d"].notna().all()
    assert online["origin_flights_1d"].notna().all()
    assert online["wx_visib"].notna().mean() > 0.9
    with engine.connect() as conn:
        views = conn.execute(
            sa.text("SELECT feature_view_name FROM feature_views WHERE project_id = 'runway'")
        )
        assert {r[0] for r in views} >= {
            "carrier_stats",
            "origin_stats",
            "route_stats",
            "plane_stats",
        }

    # nothing of the cluster profile fell back to SQLite under RUNWAY_HOME
    assert _sqlite_files(settings.home) == []
    print(
        f"\ncluster loop (features, training, scoring, checks): {time.monotonic() - started:.0f}s"
    )
