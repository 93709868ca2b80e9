# Runway's one image for every process of the cluster profile (see docker-compose.yaml):
# Airflow api-server, scheduler, dag-processor, triggerer, Celery workers, the init job, and the
# MLflow tracking server. Versions come from requirements.txt (the lock), so the image runs
# exactly what CI tests; it is not based on apache/airflow, whose constraints pin others.
#
#   docker build -t runway-airflow .                            # CPU: xgboost-cpu, torch CPU build
#   docker build -t runway-airflow-gpu --build-arg GPU=true .   # GPU worker: CUDA builds
#
# GPU=true swaps in the CUDA builds of the two libraries whose PyPI wheels differ:
#   - torch: the same version as the lock, from PyTorch's CUDA 12.8 index
#     (TORCH_CUDA_INDEX, default https://download.pytorch.org/whl/cu128), which brings the
#     nvidia-* runtime wheels (~3 GB); the host needs an NVIDIA driver that supports CUDA 12.8
#     and the NVIDIA Container Toolkit.
#   - xgboost: `xgboost` (CUDA-enabled) of the lock's version replaces `xgboost-cpu`; both
#     provide the `xgboost` module, so the CPU one is uninstalled first.
# GPU=false installs torch from PyTorch's CPU index (TORCH_CPU_INDEX) instead of PyPI, whose
# Linux torch wheel is the CUDA one and would drag the nvidia-* wheels into every image.

# The browser assets GX's Data Docs load from CDNs, fetched with npm (pinned in the script), so
# the docs render offline; copied to <sys.prefix>/share/runway-web of the image below.
FROM node:22-bookworm-slim AS web-assets
COPY scripts/ensure_web_assets.sh /src/scripts/
RUN bash /src/scripts/ensure_web_assets.sh /out/runway-web

FROM python:3.11-slim

ARG GPU=false
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_CUDA_INDEX=https://download.pytorch.org/whl/cu128

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RUNWAY_REPO=/opt/runway \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW_CONFIG=/opt/runway/airflow.cfg \
    RUNWAY_PROFILE=cluster \
    RUNWAY_HOME=/opt/runway/state

# libgomp1: OpenMP runtime of LightGBM and XGBoost; tini: PID 1 that forwards signals, so
# Celery workers shut down warm on `docker compose stop`.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 tini \
    && rm -rf /var/lib/apt/lists/*

# Non-root user; the folders that named volumes mount over are created here and owned by it,
# so fresh volumes inherit that ownership.
RUN groupadd --gid 50000 airflow \
    && useradd --uid 50000 --gid airflow --create-home --home-dir /home/airflow --shell /bin/bash airflow \
    && mkdir -p /opt/runway/state /opt/airflow/logs /opt/airflow/auth /mlartifacts \
    && chown -R airflow:airflow /opt/runway/state /opt/airflow /mlartifacts

WORKDIR /opt/runway

# Dependencies first (their own layer, rebuilt only when the lock changes).
COPY requirements.txt ./
RUN set -eux; \
    torch_pin="$(grep -E '^torch==' requirements.txt)"; \
    if [ "$GPU" = "true" ]; then torch_index="$TORCH_CUDA_INDEX"; else torch_index="$TORCH_CPU_INDEX"; fi; \
    pip install --index-url "$torch_index" "$torch_pin"; \
    pip install -r requirements.txt; \
    if [ "$GPU" = "true" ]; then \
        xgb_version="$(sed -n 's/^xgboost-cpu==//p' requirements.txt)"; \
        pip uninstall -y xgboost-cpu; \
        pip install "xgboost==${xgb_version}"; \
    fi; \
    pip check

COPY --from=web-assets /out/runway-web /usr/local/share/runway-web

# The project: DAGs, plugins, the package, Feast definitions, Airflow's configuration.
# The package is installed editable so that runway.settings.REPO_ROOT is /opt/runway
# (feature_repo/ and the rest are found beside include/).
COPY pyproject.toml airflow.cfg ./
COPY include/ include/
COPY dags/ dags/
COPY plugins/ plugins/
COPY feature_repo/ feature_repo/
RUN pip install --no-deps -e . \
    && python -c "import runway.settings"

USER airflow
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
