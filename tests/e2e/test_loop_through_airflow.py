"""The loop through a real Airflow (api-server, scheduler, dag-processor, triggerer on a free
loopback port), driven over REST API v2 as users drive it: the official `apache-airflow-client`
for the feature pipeline, then training, scoring and monitoring on a short window.

One Airflow serves the module; its state (and Runway's) lives in a scratch folder.
"""

from __future__ import annotations

import datetime as dt

import pytest
import requests

from runway import contracts, entities, sql
from runway.features import sources
from runway.features import store as feature_store
from runway.local_airflow import LocalAirflow, free_port
from runway.scoring import batch as scoring
from runway.settings import GateThresholds, Settings

pytestmark = pytest.mark.e2e

HISTORY = (dt.date(2026, 3, 2), dt.date(2026, 3, 22))  # features; the first days warm the windows
FIRST_RUN = (dt.date(2026, 3, 2), dt.date(2026, 3, 4))  # the 3-day run through the official client
LOOP = (dt.date(2026, 3, 23), dt.date(2026, 3, 24))  # scored and monitored after training
DAGS = [
    "feature_pipeline",
    "training_pipeline",
    "batch_scoring",
    "model_monitoring",
    "model_rollback",
    "model_promotion",
]


@pytest.fixture(scope="module")
def runway_settings(tmp_path_factory):
    return Settings(
        home=tmp_path_factory.mktemp("runway-home"),
        replay_year=2026,
        gate=GateThresholds(min_roc_auc=0.55, max_ece=0.1),
        monitor_window_days=2,  # the loop scores two days: judge windows of two
        mlflow_ui_url=f"http://127.0.0.1:{free_port()}",  # where the view's MLflow links point
    )


@pytest.fixture(scope="module")
def airflow(runway_settings, airflow_db):
    env = {
        "RUNWAY_HOME": str(runway_settings.home),
        "RUNWAY_REPLAY_YEAR": "2026",
        "RUNWAY_GATE_MIN_ROC_AUC": str(runway_settings.gate.min_roc_auc),
        "RUNWAY_GATE_MAX_ECE": str(runway_settings.gate.max_ece),
        "RUNWAY_MONITOR_WINDOW_DAYS": str(runway_settings.monitor_window_days),
        "RUNWAY_MLFLOW_UI_URL": runway_settings.mlflow_ui_url,
    }
    instance = LocalAirflow(
        runway_settings.home / "airflow", port=free_port(), use_schedules=False, extra_env=env
    )
    instance.start()
    api = instance.client()
    api.wait_for_dags(DAGS)
    for dag_id in DAGS:
        api.unpause(dag_id)
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def api(airflow):
    return airflow.client()


def _official_client(airflow):
    import airflow_client.client as client

    token = requests.post(
        f"{airflow.url}/auth/token",
        json={"username": "admin", "password": airflow.passwords()["admin"]},
        timeout=30,
    ).json()["access_token"]
    return client.ApiClient(client.Configuration(host=airflow.url, access_token=token))


def test_api_refuses_requests_without_a_token(airflow):
    response = requests.get(f"{airflow.url}/api/v2/dags", timeout=30)
    assert response.status_code == 401


def test_viewer_reads_but_cannot_trigger(airflow):
    viewer = airflow.client("viewer")
    assert viewer._call("GET", "/dags/feature_pipeline")["dag_id"] == "feature_pipeline"
    response = viewer.session.post(
        f"{airflow.url}/api/v2/dags/feature_pipeline/dagRuns",
        json={"logical_date": None, "conf": {}},
        timeout=30,
    )
    assert response.status_code == 403


def test_bad_conf_is_refused_with_the_field_named(api):
    response = api.session.post(
        f"{api.base_url}/api/v2/dags/training_pipeline/dagRuns",
        json={"logical_date": None, "conf": {"n_trials": "many"}},
        timeout=30,
    )
    assert response.status_code == 400
    assert "n_trials" in response.text


def test_feature_pipeline_three_days_through_the_official_client(airflow, runway_settings):
    import time

    from airflow_client.client import DagRunApi, TaskInstanceApi, TriggerDAGRunPostBody

    with _official_client(airflow) as client:
        runs = DagRunApi(client)
        conf = {"start": str(FIRST_RUN[0]), "end": str(FIRST_RUN[1])}
        run = runs.trigger_dag_run(
            "feature_pipeline", TriggerDAGRunPostBody(logical_date=None, conf=conf)
        )
        deadline = time.monotonic() + 900
        while (state := runs.get_dag_run("feature_pipeline", run.dag_run_id).state.value) not in (
            "success",
            "failed",
        ):
            assert time.monotonic() < deadline, "feature_pipeline did not finish"
            time.sleep(3)
        tasks = (
            TaskInstanceApi(client)
            .get_task_instances("feature_pipeline", run.dag_run_id)
            .task_instances
        )
        states = {ti.task_id: ti.state.value for ti in tasks}
    assert state == "success", states
    assert states == dict.fromkeys(
        [
            "resolve_days",
            "land_raw",
            "validate_raw",
            "build_features",
            "validate_features",
            "materialize_features",
        ],
        "success",
    )

    # Rerunning the same days through Airflow rewrites the same bytes.
    partitions = sorted(runway_settings.features_dir.glob("*/date=*/part-0.parquet"))
    before = {path: path.read_bytes() for path in partitions}
    assert len(partitions) == len(contracts.FEATURE_TABLES) * 3
    with _official_client(airflow) as client:
        runs = DagRunApi(client)
        again = runs.trigger_dag_run(
            "feature_pipeline", TriggerDAGRunPostBody(logical_date=None, conf=conf)
        )
        while runs.get_dag_run("feature_pipeline", again.dag_run_id).state.value not in (
            "success",
            "failed",
        ):
            assert time.monotonic() < deadline + 900, "the rerun did not finish"
            time.sleep(3)
        assert runs.get_dag_run("feature_pipeline", again.dag_run_id).state.value == "success"
    assert sorted(runway_settings.features_dir.glob("*/date=*/part-0.parquet")) == partitions
    assert all(path.read_bytes() == before[path] for path in partitions)

    # Feast serves the last day's features for the next day's real flights.
    source = sources.prepare_source(runway_settings.source_dir, runway_settings.replay_shift)
    flights = (
        scoring.scheduled_flights(source, FIRST_RUN[1] + dt.timedelta(days=1))
        .dropna(subset=["tailnum"])
        .head(20)
    )
    rows = entities.entity_rows(flights, with_label=False)[list(contracts.ENTITY_COLUMNS)].to_dict(
        "records"
    )
    online = feature_store.online_features(feature_store.get_store(runway_settings), rows)
    assert len(online) == 20
    assert online["carrier_delay_rate_7d"].notna().all()
    assert online["origin_flights_1d"].notna().all()
    assert online["wx_visib"].notna().mean() > 0.9


def _run(api, dag_id: str, conf: dict) -> tuple[str, dict]:
    run_id = api.trigger(dag_id, conf)
    run = api.wait(dag_id, run_id, timeout=1500)
    states = api.task_states(dag_id, run_id)
    assert run["state"] == "success", (dag_id, states)
    return run_id, states


def test_the_loop_trains_scores_and_monitors(api, runway_settings):
    import sqlalchemy as sa

    _run(api, "feature_pipeline", {"start": str(HISTORY[0]), "end": str(LOOP[1])})
    run_id, states = _run(
        api,
        "training_pipeline",
        {
            "window_start": str(HISTORY[0] + dt.timedelta(days=7)),
            "window_end": str(HISTORY[1]),
            "valid_days": 3,
            "test_days": 3,
            "families": ["lightgbm", "xgboost", "torch"],
            "n_trials": 2,
            "timeout_minutes": 1,
            "reason": "integration test",
        },
    )
    assert states["promote_model"] == "success", states
    verdict = api.xcom("training_pipeline", run_id, "gate_challenger")
    assert verdict["passed"] and verdict["policy"]
    from runway import registry

    champion = registry.champion_version(tracking_uri=runway_settings.mlflow_uri)
    assert champion == verdict["version"]

    span = {"start": str(LOOP[0]), "end": str(LOOP[1])}
    _run(api, "batch_scoring", span)
    engine = sql.engine(runway_settings.sql_url)
    with engine.connect() as conn:
        predictions = conn.execute(sa.select(sql.predictions)).mappings().all()
    source = sources.prepare_source(runway_settings.source_dir, runway_settings.replay_shift)
    expected = sum(
        len(scoring.scheduled_flights(source, LOOP[0] + dt.timedelta(days=i))) for i in range(2)
    )
    assert len(predictions) == expected
    assert {p["model_version"] for p in predictions} == {champion}
    assert all(0.0 <= p["score"] <= 1.0 for p in predictions)

    _run(api, "batch_scoring", span)  # a rerun replaces, never duplicates
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(sql.predictions)).scalar()
            == expected
        )

    run_id, states = _run(api, "model_monitoring", span)
    with engine.connect() as conn:
        metrics = {
            (str(r["day"]), r["metric"]): r["value"]
            for r in conn.execute(sa.select(sql.monitoring_metrics)).mappings()
        }
    assert 0.5 < metrics[("2026-03-23", "realized_day_auc")] < 1.0
    assert ("2026-03-23", "drift_share") not in metrics  # its window is not whole yet
    assert 0.0 <= metrics[("2026-03-24", "drift_share")] <= 1.0  # 23 and 24: a whole window
    assert 0.5 < metrics[("2026-03-24", "realized_auc")] < 1.0
    report = (
        runway_settings.reports_dir / "monitoring" / f"drift-2026-03-23_2026-03-24-v{champion}.html"
    )
    text = report.read_text()
    assert (
        "window.drawDashboard" in text and "Share of Drifted Columns" in text
    )  # Evidently's report


def _last_run(api, dag_id: str) -> str:
    return api.runs(dag_id, order_by="-run_after", limit=1)[0]["dag_run_id"]


def test_every_runway_route_needs_a_login_and_an_action_needs_the_right_role(airflow, api):
    url = airflow.url
    champion_card = "/runway/reports/models/"
    routes = ["/runway/", champion_card, "/runway/gx/raw/index.html", "/runway/mlflow/runs/x"]
    for route in routes:
        assert requests.get(url + route, timeout=30).status_code == 401, route
    form = {"version": "1", "reason": "from the test"}
    assert requests.post(f"{url}/runway/actions/promote", data=form, timeout=30).status_code == 401
    forged = {"Authorization": "Bearer not-a-token"}
    assert requests.get(f"{url}/runway/", headers=forged, timeout=30).status_code in (401, 403)

    viewer = airflow.client("viewer")
    assert viewer.session.get(f"{url}/runway/", timeout=60).status_code == 200
    for action in ("promote", "rollback"):
        refused = viewer.session.post(f"{url}/runway/actions/{action}", data=form, timeout=30)
        assert refused.status_code == 403, (action, refused.text)
        assert "may not trigger" in refused.json()["detail"]
    # dot segments encoded, so that no client normalizes them away before the server sees them
    escape = api.session.get(f"{url}/runway/reports/%2e%2e/airflow/passwords.json", timeout=30)
    assert escape.status_code == 404 and airflow.passwords()["admin"] not in escape.text


def test_the_ui_tells_the_story_in_a_browser(airflow, api, runway_settings):
    """Log in as a person would, look at the DAG list, the Runway view with its plots, follow
    a training task's link to its MLflow run, open the gate verdict and a drift report.
    Screenshots go to .runway/test-artifacts/ui/."""
    from playwright.sync_api import sync_playwright

    from runway.local_mlflow import local_mlflow
    from runway.settings import REPO_ROOT

    shots = REPO_ROOT / ".runway" / "test-artifacts" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    mlflow_ui = local_mlflow(runway_settings).start()
    assert api._call("GET", "/importErrors")["total_entries"] == 0
    training = _last_run(api, "training_pipeline")
    monitoring = _last_run(api, "model_monitoring")
    verdict = api.xcom("training_pipeline", training, "gate_challenger")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{airflow.url}/")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", airflow.passwords()["admin"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{airflow.url}/")

            page.goto(f"{airflow.url}/dags")
            page.get_by_text("training_pipeline").first.wait_for()
            page.screenshot(path=shots / "1-dag-list.png")
            for dag_id in DAGS:
                assert page.get_by_text(dag_id, exact=True).count() >= 1, dag_id

            page.goto(f"{airflow.url}/runway/")
            page.locator("#champion").wait_for()
            assert f"champion: version {verdict['version']}" in page.inner_text("#champion")
            assert page.locator("svg").count() >= 1  # the drift / AUC / ECE timeline
            assert page.locator("#history tr").count() >= 4  # header + 4 registered versions
            page.screenshot(path=shots / "2-runway-view.png", full_page=True)

            task_page = f"{airflow.url}/dags/training_pipeline/runs/{training}/tasks"
            page.goto(f"{task_page}/train_lightgbm/details")  # extra links: Details tab
            link = page.get_by_role("link", name="MLflow run")
            link.wait_for()
            page.screenshot(path=shots / "3-training-task.png")
            page.goto(airflow.url + link.get_attribute("href"))
            page.wait_for_url(f"{mlflow_ui.url}/**")
            page.get_by_text("lightgbm").first.wait_for()
            page.screenshot(path=shots / "4-mlflow-run.png")

            page.goto(f"{task_page}/gate_challenger/details")
            link = page.get_by_role("link", name="Gate verdict")
            link.wait_for()
            page.goto(airflow.url + link.get_attribute("href"))
            assert "Model gate: flight_delay version" in page.inner_text("h1")
            page.screenshot(path=shots / "5-gate-verdict.png", full_page=True)

            page.goto(
                f"{airflow.url}/dags/model_monitoring/runs/{monitoring}/tasks/monitor_days/details"
            )
            link = page.get_by_role("link", name="Drift report")
            link.wait_for()
            page.goto(airflow.url + link.get_attribute("href"))
            page.get_by_text("Drifted Columns").first.wait_for()
            page.screenshot(path=shots / "6-drift-report.png")
            browser.close()
    finally:
        mlflow_ui.stop()
