"""The evidence a task leaves for its "extra links" in Airflow's UI.

A task publishes `{link name: URL}` under one XCom key; the Runway plugin's global operator
links read it back (one button per name, shown on the task's page). URLs point into the Runway
view (`/runway/...`), which serves them behind Airflow's login.
"""

from __future__ import annotations

from pathlib import Path

XCOM_KEY = "runway_links"
NAMES = ("MLflow run", "Gate verdict", "Model card", "Drift report", "Data Docs", "Experiment")
PREFIX = "/runway"


def file_url(path: str | Path, reports_dir: Path, gx_dir: Path) -> str:
    """`/runway/reports/...` or `/runway/gx/...` for a file under either folder."""
    path = Path(path).resolve()
    for root, mount in ((Path(reports_dir), "reports"), (Path(gx_dir), "gx")):
        if path.is_relative_to(root.resolve()):
            return f"{PREFIX}/{mount}/{path.relative_to(root.resolve()).as_posix()}"
    raise ValueError(
        f"{path} is neither under {reports_dir} nor {gx_dir}: the view cannot serve it"
    )


def mlflow_run_url(run_id: str) -> str:
    return f"{PREFIX}/mlflow/runs/{run_id}"


def publish(context, links: dict[str, str]) -> dict[str, str]:
    """Push `links` (names from NAMES, empty URLs dropped) for this task instance."""
    unknown = set(links) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown link name(s) {sorted(unknown)}: use one of {NAMES}")
    kept = {name: url for name, url in links.items() if url}
    context["ti"].xcom_push(key=XCOM_KEY, value=kept)
    return kept


def files(context, reports_dir: Path, gx_dir: Path, **paths: str | Path | None) -> dict:
    """Publish files under the reports or Data Docs folders: `files(ctx, r, g, Drift_report=p)`
    (underscores for spaces); missing paths are left out."""
    return publish(
        context,
        {
            name.replace("_", " "): file_url(path, reports_dir, gx_dir)
            for name, path in paths.items()
            if path
        },
    )


def gate_with_docs(context, settings, gate, *args):
    """Run a Great Expectations gate step; whether it passes or raises, its Data Docs become
    the task's "Data Docs" link."""
    try:
        summary = gate(settings, *args)
    except Exception as err:
        files(context, settings.reports_dir, settings.gx_dir, Data_Docs=getattr(err, "docs", None))
        raise
    files(context, settings.reports_dir, settings.gx_dir, Data_Docs=summary.get("docs"))
    return summary
