"""The benchmark harness runs: `python -m bench --quick` on a subset of figures writes a JSON with
numbers, baselines, targets and met/missed flags, and a report. Timings are never asserted."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The quick run of every figure takes minutes on two cores; these cover the harness end to end
# (subprocess contenders, equality checks, targets, the report) in about a minute.
SMOKE_FIGURES = ("features", "retrieval", "demo")


def test_every_figure_module_offers_run():
    from bench.cli import FIGURES

    for name in FIGURES:
        module = importlib.import_module(f"bench.figures.{name}")
        assert callable(module.run), name


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out")
    work = tmp_path_factory.mktemp("bench-work")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            ",".join(SMOKE_FIGURES),
            "--out",
            str(out),
            "--work",
            str(work),
            "--demo-timings",
            str(out / "absent.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, json.loads((out / "latest.json").read_text())


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_json_describes_machine_and_versions(quick_run):
    _, doc = quick_run
    assert doc["quick"] is True
    assert doc["machine"]["logical_cores"] >= 1 and doc["machine"]["memory_gib"] > 0
    assert doc["machine"]["cpu_model"]
    assert {"apache-beam", "feast", "duckdb", "pandas"} <= set(doc["versions"])


def test_each_figure_has_numbers_baselines_and_targets(quick_run):
    _, doc = quick_run
    figures = {f["name"]: f for f in doc["figures"]}
    assert set(SMOKE_FIGURES) <= set(figures)
    for name in SMOKE_FIGURES:
        figure = figures[name]
        assert figure["status"] in ("ok", "not measured"), (name, figure.get("error"))
        assert figure["targets"], name
        for target in figure["targets"]:
            assert target["met"] in (True, False, None), (name, target)
            assert target["op"] in ("<=", ">="), (name, target)
            if target["met"] is None:
                assert target.get("reason"), (name, target)  # why it was not measured
            else:
                assert _is_number(target["value"]) and _is_number(target["threshold"]), (
                    name,
                    target,
                )
        if figure["status"] == "ok":
            assert figure["baselines"], name
            assert figure["measurements"], name
            for row in figure["measurements"]:
                assert _is_number(row["median"]) and row["min"] <= row["median"] <= row["max"], (
                    name,
                    row,
                )
                assert row["n"] >= 1
            contenders = {row["contender"] for row in figure["measurements"]}
            assert len(contenders) >= 2, (name, contenders)  # the project's path beside a baseline
            assert all(check["ok"] for check in figure["checks"]), (name, figure["checks"])


def test_outputs_are_checked_equal_to_the_baselines(quick_run):
    _, doc = quick_run
    figures = {f["name"]: f for f in doc["figures"]}
    assert any("duckdb output" in c["name"] and c["ok"] for c in figures["features"]["checks"])
    assert any("pandas output" in c["name"] and c["ok"] for c in figures["features"]["checks"])
    assert any(c["ok"] for c in figures["retrieval"]["checks"])


def test_missing_demo_timings_are_reported_not_measured(quick_run):
    _, doc = quick_run
    demo = next(f for f in doc["figures"] if f["name"] == "demo")
    assert demo["status"] == "not measured"
    assert demo["targets"][0]["met"] is None


def test_report_and_plots_exist(quick_run):
    out, doc = quick_run
    report = (out / "report.md").read_text()
    assert "## Machine" in report and "## Targets" in report
    for name in SMOKE_FIGURES:
        assert f"## {name}:" in report
    plots = [p for f in doc["figures"] for p in f.get("plots", [])]
    assert plots and all((out / p).stat().st_size > 0 for p in plots)
