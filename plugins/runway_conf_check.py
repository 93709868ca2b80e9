"""Runway's trigger check: an api-server middleware refusing a bad conf with HTTP 400.

`POST /api/v2/dags/{dag_id}/dagRuns` is read before Airflow handles it; its conf is checked by
`runway.run_conf.problems` against the params of the DAG's latest serialized version, and a
conf with an unknown key or a reversed window is answered 400 naming the key, before any run is
created. The check speaks only to a caller who may trigger that DAG (the same JWT and the same
authorization as the trigger route): any other request is passed on untouched, so Airflow
answers it 401/403 as before. A pure ASGI middleware: the body it reads is replayed.
"""

from __future__ import annotations

import json
import re

from airflow.plugins_manager import AirflowPlugin

TRIGGER_PATH = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?")


def _declared_params(dag_id: str) -> set[str] | None:
    """The DAG's param names from the metadata DB, None when there is no such DAG."""
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = DBDagBag().get_latest_version_of_dag(dag_id, session=session)
        return None if dag is None else set(dag.params.keys())


def trigger_problems(dag_id: str, body: bytes) -> list[str]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return []  # Airflow answers a malformed body itself (422)
    if not isinstance(payload, dict) or "conf" not in payload:
        return []
    params = _declared_params(dag_id)
    if params is None:
        return []  # Airflow answers 404
    from runway.run_conf import problems

    return problems(dag_id, payload["conf"], params)


async def _may_trigger(scope, dag_id: str) -> bool:
    """Whether the request's bearer token (or UI cookie) is a user allowed to trigger `dag_id`."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )
    from airflow.api_fastapi.core_api.security import resolve_user_from_token
    from starlette.requests import Request

    request = Request(scope)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    try:
        user = await resolve_user_from_token(token)
    except Exception:  # noqa: BLE001 - no valid user: Airflow answers the request itself
        return False
    return get_auth_manager().is_authorized_dag(
        method="POST",
        access_entity=DagAccessEntity.RUN,
        details=DagDetails(id=dag_id),
        user=user,
    )


class RunConfCheck:
    """ASGI middleware: a trigger whose conf has problems is answered 400, with them listed."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = None
        if scope["type"] == "http" and scope["method"] == "POST":
            match = TRIGGER_PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        from starlette.concurrency import run_in_threadpool

        found = []
        if await _may_trigger(scope, match["dag_id"]):
            found = await run_in_threadpool(trigger_problems, match["dag_id"], body)
        if found:
            from starlette.responses import JSONResponse

            response = JSONResponse({"detail": "; ".join(found), "problems": found}, 400)
            await response(scope, receive, send)
            return

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


class RunwayConfCheckPlugin(AirflowPlugin):
    name = "runway_conf_check"
    fastapi_root_middlewares = [
        {"middleware": RunConfCheck, "args": [], "kwargs": {}, "name": "runway_conf_check"}
    ]
