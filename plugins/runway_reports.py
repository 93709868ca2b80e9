"""Airflow plugin: Runway's reports inside the Airflow UI.

Mounts a small FastAPI app on the api-server at `/runway/` that lists and serves the Evidently
drift reports, the online experiments' reports and the Great Expectations Data Docs, and adds
them (and MLflow) to the UI's navigation. Only files under Runway's reports and Data Docs
folders are served.
"""

from __future__ import annotations

import html
from pathlib import Path

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from runway.settings import load_settings

settings = load_settings()
for folder in (settings.reports_dir, settings.gx_dir):
    folder.mkdir(parents=True, exist_ok=True)

app = FastAPI(title="Runway reports")
app.mount(
    "/reports",
    StaticFiles(directory=settings.reports_dir, html=True, check_dir=False),
    name="reports",
)
app.mount("/gx", StaticFiles(directory=settings.gx_dir, html=True, check_dir=False), name="gx")


def _links(root: Path, prefix: str, pattern: str) -> str:
    items = sorted(root.glob(pattern), reverse=True)
    if not items:
        return "<li><em>none yet</em></li>"
    links = []
    for p in items[:120]:
        href = html.escape(str(p.relative_to(root)))
        label = html.escape(p.stem if p.name != "index.html" else str(p.parent.relative_to(root)))
        links.append(f'<li><a href="{prefix}/{href}">{label}</a></li>')
    return "".join(links)


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    drift = _links(settings.reports_dir, "reports", "monitoring/*.html")
    experiments = _links(settings.reports_dir, "reports", "experiments/*.html")
    docs = _links(settings.gx_dir, "gx", "*/index.html")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Runway reports</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
li{{margin:.2rem 0}}</style></head>
<body><h1>Runway reports</h1>
<h2>Great Expectations Data Docs</h2><ul>{docs}</ul>
<h2>Evidently drift reports (newest first)</h2><ul>{drift}</ul>
<h2>Online experiments (arms over time, the interval of the difference)</h2><ul>{experiments}</ul>
<p>MLflow runs, models and gate verdicts: <code>make mlflow</code>, then
<a href="http://127.0.0.1:5000">http://127.0.0.1:5000</a>.</p></body></html>"""


class RunwayReportsPlugin(AirflowPlugin):
    name = "runway_reports"
    fastapi_apps = [{"app": app, "url_prefix": "/runway", "name": "Runway reports"}]
    external_views = [
        {
            "name": "Runway reports",
            "href": "/runway/",
            "destination": "nav",
            "url_route": "runway-reports",
            "category": "browse",
        },
        {
            "name": "MLflow",
            "href": "http://127.0.0.1:5000",
            "destination": "nav",
            "category": "browse",
        },
    ]
