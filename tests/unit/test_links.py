"""Task evidence links: URLs into the Runway view for files it serves, and nothing else."""

from __future__ import annotations

import pytest

from runway import links


class _TaskInstance:
    def __init__(self) -> None:
        self.pushed = {}

    def xcom_push(self, key, value) -> None:
        self.pushed[key] = value


def test_files_under_the_reports_and_data_docs_become_view_urls(tmp_path):
    reports, gx = tmp_path / "reports", tmp_path / "gx"
    report = reports / "monitoring" / "drift-2026-03-01_2026-03-07-v3.html"
    docs = gx / "raw" / "index.html"
    for path in (report, docs):
        path.parent.mkdir(parents=True)
        path.write_text("x")
    assert links.file_url(report, reports, gx) == (
        "/runway/reports/monitoring/drift-2026-03-01_2026-03-07-v3.html"
    )
    assert links.file_url(docs, reports, gx) == "/runway/gx/raw/index.html"
    with pytest.raises(ValueError, match="neither under"):
        links.file_url(tmp_path / "elsewhere.html", reports, gx)


def test_publish_keeps_known_names_with_urls_and_refuses_unknown_ones():
    ti = _TaskInstance()
    kept = links.publish({"ti": ti}, {"MLflow run": "/runway/mlflow/runs/abc", "Data Docs": ""})
    assert kept == ti.pushed[links.XCOM_KEY] == {"MLflow run": "/runway/mlflow/runs/abc"}
    with pytest.raises(ValueError, match="unknown link name"):
        links.publish({"ti": ti}, {"Mlflow": "/x"})
