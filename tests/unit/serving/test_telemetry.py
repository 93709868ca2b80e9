"""The Grafana dashboard asks only for metrics the service defines (the e2e test checks them
on a live /metrics too)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from runway.serving import telemetry

DASHBOARD = (
    Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "dashboards" / "serving.json"
)
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def test_every_panel_metric_is_defined():
    defined = set()
    for metric in vars(telemetry).values():
        if isinstance(metric, MetricWrapperBase):
            name = metric._name
            defined |= {name + suffix for suffix in SUFFIXES[metric._type]}
    dashboard = json.loads(DASHBOARD.read_text())
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used |= set(re.findall(r"\b(runway_serving_[a-z_]+)", target["expr"]))
    assert used and used <= defined, sorted(used - defined)
    assert {p["gridPos"]["y"] for p in dashboard["panels"]}  # laid out
