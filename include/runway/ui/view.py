"""The Runway view's pages, for the plugin to serve: the story and an MLflow run."""

from __future__ import annotations

import html
import urllib.error
import urllib.request
from pathlib import Path

from runway.settings import Settings
from runway.ui import pages, plots, story


def _relative(settings: Settings):
    roots = {"data_docs": settings.gx_dir}

    def relative(path: Path, kind: str) -> str:
        return path.relative_to(roots.get(kind, settings.reports_dir)).as_posix()

    return relative


def _experiments(settings: Settings, run_ids: list[str]) -> dict[str, str]:
    from runway.registry import mlflow_client

    client = mlflow_client(settings.mlflow_uri)
    found = {}
    for run_id in run_ids:
        try:
            found[run_id] = client.get_run(run_id).info.experiment_id
        except Exception:  # a run deleted from the store: its link falls back to experiment 0
            continue
    return found


def render_view(settings: Settings, *, user: str, message: str = "") -> str:
    told = story.read_story(settings)
    shown = [v for v in (told.alias("champion"), told.alias("challenger")) if v]
    by_version = {}
    for kind in ("gate", "cards"):
        by_version[kind] = {
            int(p.stem.rsplit("-v", 1)[1]): p.name
            for p in told.reports[kind]
            if p.stem.rsplit("-v", 1)[-1].isdigit()
        }
    return pages.render(
        pages.VIEW,
        story=told,
        user=user,
        message=message,
        timeline=plots.timeline_svg(told, settings.retrain.drift_threshold, settings.gate.max_ece),
        mlflow=settings.mlflow_ui_url.rstrip("/"),
        experiments=_experiments(settings, [v.run_id for v in shown]),
        gate_reports=by_version["gate"],
        cards=by_version["cards"],
        relative=_relative(settings),
        experiment=_experiment(settings),
        service=_service(settings),
    )


def _experiment(settings: Settings) -> dict | None:
    """The active online experiment, with its latest decision, or None."""
    from runway import sql
    from runway.experiments import record

    engine = sql.engine(settings.sql_url)
    sql.ensure_tables(engine)
    found = record.active(engine)
    if found is None:
        return None
    shown = {
        k: found[k]
        for k in ("experiment_id", "mode", "champion_version", "challenger_version", "share")
        if k in found
    }
    last = found["decisions"][-1] if found["decisions"] else None
    if last:
        shown["last decision"] = ", ".join(
            f"{k}={last[k]}" for k in ("day", "decision", "signal", "value", "p_value") if k in last
        )
    return shown


def _service(settings: Settings) -> dict | None:
    """The online service's readiness when it runs here, or None."""
    import json

    url = f"http://{settings.serving.host}:{settings.serving.port}"
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=1.0) as answer:
            ready = json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as err:  # 503: running, not ready; it says why
        ready = {"status": err.code, "detail": err.read().decode(errors="replace")[:300]}
    except Exception:  # not running here
        return None
    return {"url": url, **{k: v for k, v in ready.items() if not isinstance(v, (dict, list))}}


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.5):
            return True
    except Exception:
        return False


def mlflow_run_page(settings: Settings, run_id: str) -> str:
    """The run's URL in the MLflow UI when that UI answers; otherwise a page with the run's
    parameters and metrics and how to start the UI."""
    from runway.registry import mlflow_client

    run = mlflow_client(settings.mlflow_uri).get_run(run_id)
    ui = settings.mlflow_ui_url.rstrip("/")
    if _reachable(f"{ui}/health"):
        return f"{ui}/#/experiments/{run.info.experiment_id}/runs/{run_id}"
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted({**run.data.params, **run.data.metrics}.items())
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>MLflow run {run_id}</title>"
        f"<style>{pages.STYLE}</style></head><body><h1>MLflow run {html.escape(run_id)}</h1>"
        f"<p class='error'>The MLflow UI at {html.escape(ui)} does not answer: start it with "
        f"<code>make mlflow</code>. The run, read from the tracking store:</p>"
        f"<table>{rows}</table></body></html>"
    )
