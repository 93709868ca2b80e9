"""Airflow plugin: the Runway view inside Airflow's UI, and the links from tasks to evidence.

Mounts a FastAPI app on the api-server at `/runway/`: the model's story (champion, challenger,
history, drift and realized performance over time, quarantined days, reports), the reports and
Data Docs it links, a redirect to a run in the MLflow UI, and actions (promote, roll back) that
trigger their DAGs as the signed-in user. Every route needs Airflow's own login (the UI's cookie
or a bearer JWT) and a role that may read custom views; an action also needs the right to
trigger its DAG, which Airflow itself checks again when the run is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import (
    DagAccessEntity,
    DagDetails,
)
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.bases.operatorlink import BaseOperatorLink
from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from runway import links
from runway.settings import load_settings

VIEW = "Runway"
ACTIONS = {"promote": "model_promotion", "rollback": "model_rollback"}


def _auth_manager():
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


async def reader(user: GetUserDep):
    """The signed-in user, who must be allowed to read custom views (401/403 otherwise)."""
    if not _auth_manager().is_authorized_custom_view(method="GET", resource_name=VIEW, user=user):
        raise HTTPException(status_code=403, detail=f"{user.get_name()} may not read {VIEW}")
    return user


Reader = Annotated[Any, Depends(reader)]
app = FastAPI(title="Runway", dependencies=[Depends(reader)])


def _serve(root: Path, relative: str) -> FileResponse:
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no report {relative!r}")
    return FileResponse(path)


@app.get("/reports/{relative:path}")
def report(relative: str) -> FileResponse:
    return _serve(load_settings().reports_dir, relative)


@app.get("/gx/{relative:path}")
def data_docs(relative: str) -> FileResponse:
    return _serve(load_settings().gx_dir, relative)


@app.get("/", response_class=HTMLResponse)
def view(user: Reader, message: str = "") -> str:
    from runway.ui.view import render_view

    return render_view(load_settings(), user=user.get_name(), message=message)


@app.get("/mlflow/runs/{run_id}")
def mlflow_run(run_id: str):
    """To the run's page in the MLflow UI; where that UI is not running, the run itself."""
    from runway.ui.view import mlflow_run_page

    found = mlflow_run_page(load_settings(), run_id)
    if found.startswith("http"):
        return RedirectResponse(found, status_code=307)
    return HTMLResponse(found)


@app.post("/actions/{action}")
def act(
    action: str,
    request: Request,
    version: Annotated[int, Form(ge=1)],
    reason: Annotated[str, Form(min_length=3, max_length=2000)],
    user: Reader,
):
    """Trigger the action's DAG as the signed-in user (Airflow authorizes and audits the run)."""
    import httpx

    if action not in ACTIONS:
        raise HTTPException(status_code=404, detail=f"no action {action!r}: one of {list(ACTIONS)}")
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise HTTPException(status_code=403, detail=f"cross-site action refused ({origin})")
    dag_id = ACTIONS[action]
    allowed = _auth_manager().is_authorized_dag(
        method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )
    if not allowed:
        raise HTTPException(status_code=403, detail=f"{user.get_name()} may not trigger {dag_id}")
    header = request.headers.get("authorization", "")
    token = header.split(" ", 1)[1] if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    answer = httpx.post(
        f"{str(request.base_url).rstrip('/')}/api/v2/dags/{dag_id}/dagRuns",
        json={"logical_date": None, "conf": {"version": version, "reason": reason}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if answer.status_code >= 300:
        raise HTTPException(status_code=answer.status_code, detail=answer.json().get("detail"))
    run = answer.json()["dag_run_id"]
    note = f"{dag_id} triggered as {user.get_name()}: run {run} (version {version})"
    return RedirectResponse(f"{request.url_for('view')}?message={note}", status_code=303)


class _EvidenceLink(BaseOperatorLink):
    """A button on every task that published this evidence (`runway.links`); empty otherwise."""

    title = ""

    @property
    def name(self) -> str:
        return self.title

    def get_link(self, operator, *, ti_key) -> str:
        import json

        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.execute(
                XComModel.get_many(
                    key=links.XCOM_KEY,
                    run_id=ti_key.run_id,
                    dag_ids=ti_key.dag_id,
                    task_ids=ti_key.task_id,
                    map_indexes=ti_key.map_index,
                ).with_only_columns(XComModel.value)
            ).first()
        if not row:
            return ""
        value = json.loads(row.value) if isinstance(row.value, str) else row.value
        return str(value.get(self.title, "")) if isinstance(value, dict) else ""


class MlflowRunLink(_EvidenceLink):
    title = "MLflow run"


class GateVerdictLink(_EvidenceLink):
    title = "Gate verdict"


class ModelCardLink(_EvidenceLink):
    title = "Model card"


class DriftReportLink(_EvidenceLink):
    title = "Drift report"


class DataDocsLink(_EvidenceLink):
    title = "Data Docs"


class ExperimentLink(_EvidenceLink):
    title = "Experiment"


LINKS = [MlflowRunLink, GateVerdictLink, ModelCardLink, DriftReportLink, DataDocsLink]
LINKS.append(ExperimentLink)
assert [link.title for link in LINKS] == list(links.NAMES)


class RunwayPlugin(AirflowPlugin):
    name = "runway_reports"
    fastapi_apps = [{"app": app, "url_prefix": "/runway", "name": VIEW}]
    global_operator_extra_links = [link() for link in LINKS]
    external_views = [
        {
            "name": VIEW,
            "href": "/runway/",
            "destination": "nav",
            "url_route": "runway",
            "category": "browse",
        },
        {
            "name": "MLflow",
            "href": load_settings().mlflow_ui_url,
            "destination": "nav",
            "category": "browse",
        },
    ]
