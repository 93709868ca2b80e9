"""The cluster profile's container deployment, validated without a Docker engine.

`docker-compose config` (Debian's Python docker-compose 1.29, installed by
scripts/ensure_system_packages.sh) interpolates and validates docker-compose.yaml against the
compose schema; these tests then read the rendered config. The Dockerfile is checked
statically: nothing here builds or starts a container.
"""

from __future__ import annotations

import configparser
import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from runway.settings import DASK_RUNNER, settings_from_env

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"

# every secret docker-compose.yaml takes from the environment, each with `${VAR:?message}`
SECRETS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "RUNWAY_SERVING_API_KEY",
    "GRAFANA_ADMIN_PASSWORD",
)
SERVICES = {
    "postgres",
    "redis",
    "mlflow",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
    "dask-scheduler",
    "dask-worker",
    "serving",
    "prometheus",
    "grafana",
}
AIRFLOW_SERVICES = {s for s in SERVICES if s.startswith("airflow-")}
PLACEHOLDER = "placeholder-not-a-secret"


def _compose_bin() -> str:
    """The docker-compose binary. Not a skip: without it every test here FAILS (called in the
    test body, not in a fixture, so that it reads as a failure and not as a setup error)."""
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "the `docker-compose` binary is missing: install it with "
            "`bash scripts/ensure_system_packages.sh` (apt-get install docker-compose: the Python "
            "docker-compose 1.29 that renders `docker-compose config` without a Docker engine)",
            pytrace=False,
        )
    return path


def _compose_config(compose_bin: str, env_file: Path) -> subprocess.CompletedProcess:
    """`docker-compose config` with only `env_file` as the source of variables (the repo's own
    .env, if a developer has one, and the test process's RUNWAY_* are kept out)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in SECRETS and not k.startswith(("RUNWAY_", "MLFLOW_", "COMPOSE_", "DOCKER_"))
    }
    return subprocess.run(
        [
            compose_bin,
            "--project-directory",
            str(REPO),
            "-f",
            str(COMPOSE),
            "--env-file",
            str(env_file),
            "config",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


@functools.lru_cache(maxsize=1)
def _render(compose_bin: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env_file = _write_env(Path(tmp) / "test.env", {name: PLACEHOLDER for name in SECRETS})
        result = _compose_config(compose_bin, env_file)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


# ---- (a) it renders, with every service and the parts that matter --------------------------
def test_renders_every_service():
    rendered = _render(_compose_bin())
    services = rendered["services"]
    assert SERVICES <= set(services), f"missing services: {SERVICES - set(services)}"
    assert {"postgres", "redis"} <= {s for s, v in services.items() if "healthcheck" in v}


def test_gpu_worker_reserves_an_nvidia_gpu_and_serves_the_gpu_queue():
    rendered = _render(_compose_bin())
    gpu = rendered["services"]["airflow-worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) and d.get("count") == 1
        for d in devices
    ), devices
    command = gpu["command"] if isinstance(gpu["command"], str) else " ".join(gpu["command"])
    assert re.search(r"airflow celery worker .*--queues gpu\b", command), command
    assert "--concurrency 1" in command
    assert gpu["build"]["args"]["GPU"] == "true"

    cpu = rendered["services"]["airflow-worker"]
    cpu_command = cpu["command"] if isinstance(cpu["command"], str) else " ".join(cpu["command"])
    assert re.search(r"--queues default\b", cpu_command), cpu_command
    assert cpu["build"]["args"]["GPU"] == "false"
    assert "deploy" not in cpu


def test_apiserver_publishes_8080_with_a_health_check():
    rendered = _render(_compose_bin())
    api = rendered["services"]["airflow-apiserver"]
    ports = [
        (int(p["published"]), int(p["target"]))
        if isinstance(p, dict)
        else tuple(int(x.split("/")[0]) for x in p.split(":")[-2:])
        for p in api["ports"]
    ]
    assert (8080, 8080) in ports, api["ports"]
    assert "api-server" in str(api["command"])
    assert "/api/v2/monitor/health" in " ".join(api["healthcheck"]["test"])


def test_airflow_services_share_one_environment_built_from_the_env_file():
    rendered = _render(_compose_bin())
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "airflow.cfg")
    services = rendered["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql://"), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"), name
        assert PLACEHOLDER in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"] == cfg["core"]["auth_manager"], name
        for var in (
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
        ):
            assert env[var] == PLACEHOLDER, (name, var)
        assert env["RUNWAY_PROFILE"] == "cluster"
        assert env["RUNWAY_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["RUNWAY_HOME"] == "/opt/runway/state"
        # the package's own settings accept what the containers get
        settings = settings_from_env({k: str(v) for k, v in env.items()})
        assert settings.profile == "cluster" and settings.sql_url.startswith("postgresql")
        assert settings.beam_runner == DASK_RUNNER, name  # the feature job on the Dask cluster
        assert settings.dask_scheduler == "tcp://dask-scheduler:8786", name
    # the admin password reaches airflow-init only
    assert services["airflow-init"]["environment"]["_AIRFLOW_ADMIN_PASSWORD"] == PLACEHOLDER
    others = AIRFLOW_SERVICES - {"airflow-init"}
    assert all("_AIRFLOW_ADMIN_PASSWORD" not in services[s]["environment"] for s in others)


def test_workers_share_the_runway_state_volume():
    rendered = _render(_compose_bin())
    for name in ("airflow-worker", "airflow-worker-gpu"):
        volumes = [
            v if isinstance(v, str) else f"{v['source']}:{v['target']}"
            for v in rendered["services"][name]["volumes"]
        ]
        assert any(v.startswith("runway-state:/opt/runway/state") for v in volumes), (name, volumes)
    assert "runway-state" in rendered["volumes"]


def _command(service: dict) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def test_dask_scheduler_and_workers_run_the_beam_job_on_the_airflow_image():
    rendered = _render(_compose_bin())
    services = rendered["services"]
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    assert re.search(r"^dask scheduler .*--port 8786\b", _command(scheduler))
    assert "python" in " ".join(scheduler["healthcheck"]["test"])
    assert "8786" in " ".join(scheduler["healthcheck"]["test"])
    assert "ports" not in scheduler  # no authentication: the compose network only
    assert re.search(
        r"^dask worker tcp://dask-scheduler:8786 .*--nworkers 2 .*--nthreads 1\b",
        _command(worker),
    )
    assert worker["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"
    # the DoFns import the runway package and read and write the state by path: the workers
    # run the Airflow workers' image and mount the same volume at the same place
    airflow_worker = services["airflow-worker"]
    for service in (scheduler, worker):
        assert service["image"] == airflow_worker["image"]
        assert service["build"] == airflow_worker["build"]
    volumes = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in worker["volumes"]
    ]
    assert any(v.startswith("runway-state:/opt/runway/state") for v in volumes), volumes
    for name in ("airflow-worker", "airflow-worker-gpu"):
        assert services[name]["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"


def test_the_beam_runner_can_be_switched_back_to_the_local_runner(tmp_path):
    values = {name: PLACEHOLDER for name in SECRETS} | {"RUNWAY_BEAM_RUNNER": "FnApiRunner"}
    result = _compose_config(_compose_bin(), _write_env(tmp_path / "local.env", values))
    assert result.returncode == 0, result.stderr
    env = yaml.safe_load(result.stdout)["services"]["airflow-worker"]["environment"]
    assert settings_from_env({k: str(v) for k, v in env.items()}).beam_runner == "FnApiRunner"


def test_init_migrates_creates_the_gpu_pool_and_sets_the_admin_password(tmp_path):
    rendered = _render(_compose_bin())
    command = rendered["services"]["airflow-init"]["command"]
    script = command[-1] if isinstance(command, list) else command
    assert "airflow db migrate" in script
    assert re.search(r"airflow pools set gpu\b", script)
    assert "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" in script
    # `config` keeps compose's `$$` escapes; at run time they are single `$`
    (tmp_path / "init.sh").write_text(script.replace("$$", "$"))
    subprocess.run(["bash", "-n", str(tmp_path / "init.sh")], check=True)


def test_postgres_creates_the_four_databases_and_mlflow_uses_postgres():
    rendered = _render(_compose_bin())
    postgres = rendered["services"]["postgres"]
    created = {postgres["environment"]["POSTGRES_DB"]}
    created |= set(re.findall(r"\b(mlflow|feast|runway)\b", " ".join(postgres["entrypoint"])))
    assert created == {"airflow", "mlflow", "feast", "runway"}
    mlflow = " ".join(rendered["services"]["mlflow"]["command"])
    assert re.search(r"--backend-store-uri postgresql://\S+@postgres:5432/mlflow", mlflow), mlflow
    assert "--artifacts-destination /mlartifacts" in mlflow


# ---- (b) no default passwords: it refuses to render without them ---------------------------
def test_refuses_to_render_without_secrets(tmp_path):
    compose_bin = _compose_bin()
    result = _compose_config(compose_bin, _write_env(tmp_path / "empty.env", {}))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert any(name in output for name in SECRETS), output


@pytest.mark.parametrize("missing", SECRETS)
def test_each_secret_is_required(tmp_path, missing):
    compose_bin = _compose_bin()
    values = {name: PLACEHOLDER for name in SECRETS if name != missing}
    result = _compose_config(compose_bin, _write_env(tmp_path / "partial.env", values))
    assert result.returncode != 0, f"rendered without {missing}"
    assert missing in result.stdout + result.stderr


def test_env_example_lists_every_secret_as_a_placeholder_and_env_is_ignored():
    compose_bin = _compose_bin()
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    assert set(SECRETS) <= set(values)
    assert all(values[name] == "change-me" for name in SECRETS), values
    assert _compose_config(compose_bin, ENV_EXAMPLE).returncode == 0
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0, ".env must stay git-ignored"


# ---- (c) the Dockerfile ------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            logical.append(current)
            current = ""
    steps = []
    for statement in logical:
        kind, _, arg = statement.strip().partition(" ")
        steps.append((kind.upper(), arg.strip()))
    return steps


def test_dockerfile_builds_from_the_lock_with_a_gpu_arg():
    text = DOCKERFILE.read_text()
    steps = _instructions()
    assert ("FROM", "python:3.11-slim") in steps
    assert "apache/airflow" not in " ".join(arg for kind, arg in steps if kind == "FROM")
    assert ("ARG", "GPU=false") in steps
    assert "requirements.txt" in text
    assert re.search(r"pip install .*-r requirements\.txt", text)
    assert re.search(r"pip install --no-deps (-e )?\.", text)
    assert "download.pytorch.org/whl/cu" in text and "xgboost==" in text
    assert ("USER", "airflow") in steps
    env = " ".join(arg for kind, arg in steps if kind == "ENV")
    for expected in (
        "RUNWAY_REPO=/opt/runway",
        "AIRFLOW_HOME=",
        "AIRFLOW_CONFIG=/opt/runway/airflow.cfg",
        "RUNWAY_PROFILE=cluster",
    ):
        assert expected in env, expected


def test_dockerfile_copies_what_exists_and_its_shell_parses():
    steps = _instructions()
    copied = set()
    for kind, arg in steps:
        if kind == "COPY" and "--from=" in arg:  # from an earlier stage, not the repository
            continue
        if kind == "COPY":
            sources = [a for a in arg.split() if not a.startswith("--")][:-1]
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
                copied.add(source.rstrip("/"))
        if kind == "RUN":
            subprocess.run(["sh", "-n", "-c", arg], check=True)
    assert {
        "requirements.txt",
        "airflow.cfg",
        "pyproject.toml",
        "dags",
        "plugins",
        "include",
        "feature_repo",
    } <= copied
    # Data Docs' web assets: fetched by the script in a node stage, put where Python finds them
    assert "scripts/ensure_web_assets.sh" in copied
    assert ("COPY", "--from=web-assets /out/runway-web /usr/local/share/runway-web") in steps
    # the pins that the GPU swap reads from the lock are there
    lock = (REPO / "requirements.txt").read_text()
    assert re.search(r"^torch==", lock, re.M) and re.search(r"^xgboost-cpu==", lock, re.M)


# ---- the online half: serving replicas, Prometheus, Grafana -----------------------------------
DEPLOY = REPO / "deploy"


def _host_path(volume) -> tuple[str, str]:
    if isinstance(volume, dict):
        return volume.get("source", ""), volume.get("target", "")
    source, _, rest = volume.partition(":")
    return source, rest.split(":")[0]


def test_serving_runs_replicas_on_redis_and_the_mlflow_server():
    services = _render(_compose_bin())["services"]
    serving = services["serving"]
    assert serving["deploy"]["replicas"] >= 2
    env = serving["environment"]
    assert env["RUNWAY_PROFILE"] == "cluster"
    assert env["RUNWAY_REDIS_URL"].startswith("redis://redis:")
    assert env["RUNWAY_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["RUNWAY_SERVING_API_KEY"] == PLACEHOLDER  # from .env, never a default
    assert env["RUNWAY_SERVING_HOST"] == "0.0.0.0"
    settings = settings_from_env({k: str(v) for k, v in env.items() if k.startswith("RUNWAY_")})
    assert settings.serving.port == 8090 and settings.serving.api_key == PLACEHOLDER
    command = (
        serving["command"] if isinstance(serving["command"], str) else " ".join(serving["command"])
    )
    assert "-m runway.serving" in command
    assert "/healthz" in " ".join(serving["healthcheck"]["test"])
    assert {"redis", "mlflow", "postgres"} <= set(serving["depends_on"])
    assert serving["image"] == services["airflow-worker"]["image"]


def test_prometheus_scrapes_the_serving_replicas():
    prometheus = _render(_compose_bin())["services"]["prometheus"]
    mounts = dict(_host_path(v) for v in prometheus["volumes"])
    config_file = DEPLOY / "prometheus" / "prometheus.yml"
    assert mounts[str(config_file)] == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load(config_file.read_text())
    (job,) = config["scrape_configs"]
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["serving"] and sd["port"] == 8090 and job["metrics_path"] == "/metrics"


def test_grafana_is_provisioned_from_the_repository():
    grafana = _render(_compose_bin())["services"]["grafana"]
    mounts = dict(_host_path(v) for v in grafana["volumes"])
    assert mounts[str(DEPLOY / "grafana" / "provisioning")] == "/etc/grafana/provisioning"
    dashboards_dir = mounts[str(DEPLOY / "grafana" / "dashboards")]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == PLACEHOLDER
    providers = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "runway.yml").read_text()
    )
    assert providers["providers"][0]["options"]["path"] == dashboards_dir
    (source,) = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    import json

    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "serving.json").read_text())
    uids = {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}
