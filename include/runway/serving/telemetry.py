"""The service's Prometheus metrics (prometheus-client), one set per process.

Under gunicorn every worker writes its samples to files in `PROMETHEUS_MULTIPROC_DIR` (set by
`steps.serve` before the workers start, emptied at each start), and `/metrics` sums them
across the live workers; a dead worker's gauges are dropped by `gunicorn_conf.child_exit`.
Without that variable (a single process, the tests' in-process app) the default registry is
used. The Grafana dashboard (deploy/grafana/dashboards/serving.json) reads exactly these names;
a test checks it.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
)  # fmt: skip
HOUR, DAY = 3600.0, 86400.0
AGE_BUCKETS = (HOUR, 6 * HOUR, DAY, 2 * DAY, 7 * DAY, 35 * DAY, 90 * DAY, 365 * DAY)

REQUEST_SECONDS = Histogram(
    "runway_serving_request_seconds",
    "Time in the service per HTTP request",
    ["route", "model_version"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "runway_serving_requests", "HTTP requests answered, by route and status", ["route", "status"]
)
PREDICTIONS = Counter(
    "runway_serving_predictions",
    "Flights answered, by model version and arm",
    ["model_version", "arm"],
)
BATCH_FLIGHTS = Histogram(
    "runway_serving_batch_flights",
    "Flights per prediction call",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
FEATURE_AGE = Histogram(
    "runway_serving_feature_age_seconds",
    "Age of the feature rows used (now minus their stamp), by feature view",
    ["view"],
    buckets=AGE_BUCKETS,
)
MISSING_FEATURES = Counter(
    "runway_serving_missing_feature_rows",
    "Feature rows absent or past their TTL at prediction time, by feature view",
    ["view"],
)
MODEL_LOAD_SECONDS = Histogram(
    "runway_serving_model_load_seconds",
    "Time to load a model version from the registry",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
MODEL_VERSION = Gauge(
    "runway_serving_model_version",
    "Model version loaded behind each alias, per worker",
    ["alias"],
    multiprocess_mode="liveall",
)
SERVED_LOG_ROWS = Counter(
    "runway_serving_served_log_rows", "served_predictions rows written (ok) or retried", ["result"]
)


def exposition() -> tuple[bytes, str]:
    """The metrics page: every live worker's samples under gunicorn, this process's otherwise."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
