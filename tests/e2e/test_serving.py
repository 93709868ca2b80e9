"""The serving service as a real gunicorn process with two uvicorn workers, against a real
champion and Feast store (`tests/integration/_model_world`), asked over HTTP as the
operations app asks it.

- its answers for a day's flights equal batch scoring's for the same flights and version;
- a plane row exactly at the TTL is used and one a microsecond older is not, as offline,
  while Feast's own online read returns both;
- a promotion swaps the version under load with no failed request;
- 401 without the key; each bad request refused naming its field;
- kill -9 of one worker under load: the service keeps answering;
- the Grafana dashboard's metrics are all on /metrics;
- an active ab experiment: every flight's arm is the sticky hash on every worker, call after
  call, at its share within binomial bounds; its end routes every flight back to the champion;
- a challenger that fails fails no call (the champion answers its flights, out of the
  experiment); its failed answers are logged (status 500) and the daily look rolls the
  experiment back on the error-rate guardrail;
- shadow: the champion answers every flight, the challenger's score is logged beside it (the
  same call and flight, another version) and the paired test reads both;
- a restart of the service keeps every flight's arm;
- a graceful stop writes every answer to served_predictions (the writer's flush period is set
  longer than the test, so the stop's flush is what writes them).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest
import sqlalchemy as sa

from runway import registry, sql
from runway.features import store as feature_store
from runway.local_airflow import free_port
from runway.scoring import batch as scoring
from runway.scoring.steps import score
from runway.serving import steps as serving
from tests.integration import _model_world as mw

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "serving.json"
DAY = dt.date(2026, 3, 9)  # the day after the world's online features (through 2026-03-08)
WORKERS = 2
POLL_SECONDS = 0.5


def _flight(row) -> dict:
    return {
        "carrier": row.carrier,
        "flight": int(row.flight),
        "tailnum": None if pd.isna(row.tailnum) else row.tailnum,
        "origin": row.origin,
        "dest": row.dest,
        "scheduled_departure": f"{row.flight_date}T{row.sched_dep_time // 100:02d}:"
        f"{row.sched_dep_time % 100:02d}:00",
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = mw.world_settings(tmp_path_factory.mktemp("serving-world"))
    with mw.environment(settings):
        yield mw.build_world(settings)


@pytest.fixture(scope="module")
def service(world):
    settings = world.settings
    port = free_port()
    env = dict(os.environ)
    env.update(
        RUNWAY_HOME=str(settings.home),
        RUNWAY_REPLAY_YEAR=str(settings.replay_year),
        RUNWAY_SERVING_POLL_SECONDS=str(POLL_SECONDS),
        RUNWAY_SERVING_LOG_FLUSH_SECONDS="30",
    )
    log = settings.home / "serving.log"
    process = serving.start(settings, port=port, workers=WORKERS, env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    info = {"url": url, "process": process, "key": serving.api_key(settings),
            "settings": settings, "log": log, "port": port, "env": env}  # fmt: skip
    try:
        serving.wait_ready(url, timeout=120, process=process)
        yield info
    finally:
        process = info["process"]  # a test may have restarted it
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        print(log.read_text()[-3000:])


@pytest.fixture(scope="module")
def day_flights(world) -> list[dict]:
    return [_flight(r) for r in scoring.scheduled_flights(world.source, DAY).itertuples()]


def _post(client: httpx.Client, service, body, key: str | None = "valid") -> httpx.Response:
    headers = (
        {}
        if key is None
        else {"Authorization": f"Bearer {service['key'] if key == 'valid' else key}"}
    )
    if isinstance(body, bytes):
        answer = client.post(f"{service['url']}/v1/predictions", content=body, headers=headers)
    else:
        answer = client.post(f"{service['url']}/v1/predictions", json=body, headers=headers)
    return answer


class Load:
    """`threads` clients asking one flight each, in a loop, until stopped; every answer kept."""

    def __init__(self, service, flights: list[dict], threads: int = 4):
        self.service, self.flights = service, flights
        self.results: list[tuple[float, int, int | None]] = []  # (time, status, version)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, i: int) -> None:
        n = i
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                flight = self.flights[n % len(self.flights)]
                n += len(self.threads)
                try:
                    answer = _post(client, self.service, {"flights": [flight]})
                    version = (
                        answer.json()["predictions"][0]["model_version"]
                        if answer.status_code == 200
                        else None
                    )
                    item = (time.monotonic(), answer.status_code, version)
                except httpx.HTTPError as err:
                    item = (time.monotonic(), 0, None)
                    with self._lock:
                        self.errors.append(repr(err))
                with self._lock:
                    self.results.append(item)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self.threads:
            t.join()

    def failed(self, after: float = 0.0) -> list:
        return [r for r in self.results if r[0] >= after and r[1] != 200]


# ---- train/serve consistency --------------------------------------------------------------------
def test_answers_equal_batch_scoring_for_a_day(world, service, day_flights):
    settings = world.settings
    with mw.environment(settings):
        summary = score(settings, [DAY], run_id="serving-test", scored_at=dt.datetime.now(dt.UTC))
    assert summary["flights"] == len(day_flights) > 500
    with sql.engine(settings.sql_url).connect() as conn:
        batch = dict(
            conn.execute(
                sa.select(sql.predictions.c.flight_id, sql.predictions.c.score).where(
                    sql.predictions.c.flight_date == DAY
                )
            ).fetchall()
        )
    online, plane_missing = {}, []
    with httpx.Client(timeout=30) as client:
        for start in range(0, len(day_flights), 100):
            answer = _post(client, service, {"flights": day_flights[start : start + 100]})
            assert answer.status_code == 200, answer.text
            for p in answer.json()["predictions"]:
                assert p["model_version"] == summary["models"]["champion"]
                online[p["flight_id"]] = p["probability"]
                if p["features_as_of"]["plane_stats"] is None:
                    plane_missing.append(p["flight_id"])
    assert set(online) == set(batch)
    ids = sorted(batch)
    np.testing.assert_allclose(
        [online[i] for i in ids], [batch[i] for i in ids], rtol=0, atol=1e-12
    )
    print(f"\n{len(ids)} flights equal to batch scoring; {len(plane_missing)} without plane rows")


def test_a_plane_row_past_its_ttl_is_left_out_as_offline(world, service, day_flights):
    """Two planes written to the online store: one stamped exactly the TTL before the flight's
    prediction time (the offline join still uses it), one a microsecond older (it does not).
    Feast's own online read returns both; the service uses only the first."""
    from runway import contracts
    from runway.days import prediction_time

    at = prediction_time(DAY)
    ttl = dt.timedelta(days=world.settings.feature_ttl_days)
    stamps = {"NTTLIN": at - ttl, "NTTLOUT": at - ttl - dt.timedelta(microseconds=1)}
    table = next(t for t in contracts.ENTITY_TABLES if t.name == "plane_stats")
    rows = pd.DataFrame(
        {
            "tailnum": list(stamps),
            **{name: [1.0, 1.0] for name in table.features},
            contracts.EVENT_TIMESTAMP: pd.to_datetime(list(stamps.values()), utc=True),
        }
    ).astype(
        {
            n: "int64"
            for n in table.features
            if "_flights_" in n or n.endswith(("_year", "_seats", "_engines"))
        }
    )
    world.store.write_to_online_store("plane_stats", rows)
    keys = [
        {"carrier": "UA", "origin": "EWR", "route": "EWR-ORD", "hour": 8, "tailnum": t}
        for t in stamps
    ]
    assert feature_store.online_features(world.store, keys)["plane_year"].tolist() == [1.0, 1.0]
    flights = [{**day_flights[0], "tailnum": t, "flight": 9000 + i} for i, t in enumerate(stamps)]
    with httpx.Client() as client:
        answer = _post(client, service, {"flights": flights})
    assert answer.status_code == 200, answer.text
    used = [p["features_as_of"]["plane_stats"] for p in answer.json()["predictions"]]
    assert used == [stamps["NTTLIN"].isoformat(), None]


# ---- refusals -----------------------------------------------------------------------------------
def test_no_key_is_401(service, day_flights):
    with httpx.Client() as client:
        for key in (None, "wrong-key"):
            answer = _post(client, service, {"flights": day_flights[:1]}, key=key)
            assert answer.status_code == 401
            assert "bearer" in answer.json()["error"].lower()


def _variant(base: dict, **changes) -> dict:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not ...}


def test_each_bad_request_is_refused_naming_its_field(service, day_flights):
    good = day_flights[0]
    cases = [
        ({"flights": [_variant(good, carrier="ZZ")]}, 422, "flights[0].carrier", "unknown carrier"),
        (
            {"flights": [_variant(good, origin="BOS")]},
            422,
            "flights[0].origin",
            "unknown departure",
        ),
        (
            {"flights": [good, _variant(good, dest="XYZ", flight=9999)]},
            422,
            "flights[1].dest",
            "no route",
        ),
        ({"flights": [_variant(good, origin=...)]}, 422, "flights[0].origin", "required"),
        ({"flights": [_variant(good, flight="UA1545")]}, 422, "flights[0].flight", "integer"),
        (
            {"flights": [_variant(good, scheduled_departure="tomorrow")]},
            422,
            "flights[0].scheduled_departure",
            "datetime",
        ),
        (b'{"flights": [', 400, "body", "malformed JSON"),
        ({"flights": day_flights[:101]}, 422, "flights", "at most 100"),
        ({"flights": []}, 422, "flights", "at least 1"),
        ({"flights": [good, good]}, 422, "flights[1]", "same flight"),
        (
            {"flights": [_variant(good, scheduled_departure="2026-03-12T09:00:00")]},
            422,
            "flights[0].scheduled_departure",
            "no features yet",
        ),
        (
            {"flights": [_variant(good, scheduled_departure="2026-03-03T09:00:00")]},
            422,
            "flights[0].scheduled_departure",
            "batch scoring",
        ),
    ]
    with httpx.Client() as client:
        for body, status, field, words in cases:
            answer = _post(client, service, body)
            assert answer.status_code == status, (field, answer.text)
            errors = answer.json()["errors"]
            assert [e["field"] for e in errors] == [field], answer.text
            assert words.lower() in errors[0]["message"].lower(), answer.text


# ---- model swap, worker death -------------------------------------------------------------------
def test_a_promotion_swaps_the_version_under_load_with_no_failed_request(
    world, service, day_flights
):
    uri, name = world.settings.mlflow_uri, world.settings.model_name
    champion = registry.champion_version(tracking_uri=uri, model_name=name)
    with registry.tracking(uri) as client:  # MLflow resolves `models:/m-…` sources globally
        current = client.get_model_version(name, str(champion))
        # a second version of the same trained model: what a retraining registers, minus the fit
        new = client.create_model_version(name, current.source, run_id=current.run_id)
        client.set_model_version_tag(name, new.version, registry.GATE_PASSED_TAG, "true")
    with Load(service, day_flights) as load:
        time.sleep(2)
        promoted_at = time.monotonic()
        registry.promote(int(new.version), tracking_uri=uri, model_name=name, actor="test")
        deadline = promoted_at + 30
        while time.monotonic() < deadline:
            recent = [r for r in list(load.results)[-2 * WORKERS * 4 :] if r[0] > promoted_at]
            if len(recent) >= 8 and all(r[2] == int(new.version) for r in recent):
                break
            time.sleep(0.2)
        time.sleep(1)
    assert load.failed() == [] and load.errors == []
    versions = [r[2] for r in load.results]
    assert champion in versions and int(new.version) in versions
    swapped = min(r[0] for r in load.results if r[2] == int(new.version))
    last_old = max(r[0] for r in load.results if r[2] == champion)
    print(f"\nswap: first new answer {swapped - promoted_at:.2f} s, last old answer ", end="")
    print(
        f"{last_old - promoted_at:.2f} s after the promotion; {len(load.results)} calls, 0 failed"
    )
    assert last_old - promoted_at < POLL_SECONDS + 15  # every worker swapped in bounded time


def test_kill_9_of_one_worker_under_load_keeps_answering(service, day_flights):
    master = psutil.Process(service["process"].pid)
    workers = master.children()
    assert len(workers) == WORKERS
    with Load(service, day_flights) as load:
        time.sleep(1)
        killed_at = time.monotonic()
        os.kill(workers[0].pid, signal.SIGKILL)
        time.sleep(4)
    after = [r for r in load.results if r[0] > killed_at + 0.5]
    assert len([r for r in after if r[1] == 200]) > 20
    # only calls in flight on the killed worker may fail: at most one per client thread
    assert len(load.failed()) <= len(load.threads), load.errors
    deadline = time.monotonic() + 60
    while len(master.children()) < WORKERS and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(master.children()) == WORKERS  # the master replaced it


# ---- observability ------------------------------------------------------------------------------
def _panel_metrics(dashboard: dict) -> set[str]:
    import re

    names = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names |= set(re.findall(r"\b(runway_serving_[a-z_]+)", target["expr"]))
    return names


def test_the_dashboard_reads_only_metrics_the_service_exports(service):
    dashboard = json.loads(DASHBOARD.read_text())
    exported = httpx.get(f"{service['url']}/metrics").text
    families = {line.split()[2] for line in exported.splitlines() if line.startswith("# TYPE ")}
    samples = {
        line.split("{")[0].split()[0]
        for line in exported.splitlines()
        if line and not line.startswith("#")
    }
    wanted = _panel_metrics(dashboard)
    assert len(dashboard["panels"]) >= 5 and wanted
    missing = sorted(n for n in wanted if n not in samples and n not in families)
    assert missing == [], f"the dashboard asks for metrics /metrics does not export: {missing}"


def _answers(service, flights: list[dict]) -> dict[str, dict]:
    """Every flight's answer, 100 a call, each call on a new connection (spread over workers)."""
    out = {}
    for i in range(0, len(flights), 100):
        with httpx.Client(timeout=30) as client:
            answer = _post(client, service, {"flights": flights[i : i + 100]})
        assert answer.status_code == 200, answer.text
        out.update({a["flight_id"]: a for a in answer.json()["predictions"]})
    return out


def test_an_experiment_routes_sticky_arms_at_its_share_and_its_end_routes_back(
    world, service, day_flights
):
    from scipy import stats

    from runway.experiments import assignment, record

    settings = world.settings
    uri, name = settings.mlflow_uri, settings.model_name
    champion = registry.champion_version(tracking_uri=uri, model_name=name)
    with registry.tracking(uri) as client:  # a second version of the same model, gate passed
        current = client.get_model_version(name, str(champion))
        created = client.create_model_version(name, current.source, run_id=current.run_id)
        other = int(created.version)
        client.set_model_version_tag(name, str(other), registry.GATE_PASSED_TAG, "true")
    registry.set_challenger(other, tracking_uri=uri, model_name=name)
    bind = sql.engine(service["settings"].sql_url)
    sql.ensure_tables(bind)
    experiment = record.create(
        bind,
        {"experiment_id": "exp-e2e", "champion_version": champion, "challenger_version": other,
         "mode": "ab", "share": 0.5, "ramp": [], "salt": "e2e-salt", "start": DAY,
         "planned_days": 10, "plan": {"days": 10}, "created_by": "test", "reason": "e2e"},
        dt.datetime.now(dt.UTC),
    )  # fmt: skip
    deadline = time.monotonic() + 90  # every worker: the record polled, the challenger loaded
    while time.monotonic() < deadline:
        rounds = [_answers(service, day_flights[:200]) for _ in range(2 * WORKERS)]
        if all(any(a["arm"] == "challenger" for a in r.values()) for r in rounds):
            break
        time.sleep(POLL_SECONDS)
    first, second = _answers(service, day_flights), _answers(service, day_flights)
    ids = sorted(first)
    expected = dict(zip(ids, assignment.arms("e2e-salt", ids, 0.5).tolist(), strict=True))
    assert {k: a["arm"] for k, a in first.items()} == expected  # the hash, on every worker
    assert {k: a["arm"] for k, a in second.items()} == expected  # and sticky call after call
    assert all(
        a["model_version"] == (other if a["arm"] == "challenger" else champion)
        for a in first.values()
    )
    hits = sum(arm == "challenger" for arm in expected.values())
    assert stats.binomtest(hits, len(ids), 0.5).pvalue > 0.001, (hits, len(ids))
    print(f"\nexperiment: {hits}/{len(ids)} flights to the challenger (share 0.5), sticky")
    record.stop(bind, experiment["experiment_id"], "test", "done", dt.datetime.now(dt.UTC))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(a["arm"] is None for a in _answers(service, day_flights[:200]).values()):
            break
        time.sleep(POLL_SECONDS)
    after = _answers(service, day_flights)
    assert {a["arm"] for a in after.values()} == {None}
    assert {a["model_version"] for a in after.values()} == {champion}


def _version_like_the_champion(settings) -> tuple[int, int]:
    """(champion, a new gate-passed version of the same trained model): what a retraining
    registers, minus the fit."""
    uri, name = settings.mlflow_uri, settings.model_name
    champion = registry.champion_version(tracking_uri=uri, model_name=name)
    with registry.tracking(uri) as client:
        current = client.get_model_version(name, str(champion))
        created = client.create_model_version(name, current.source, run_id=current.run_id)
        client.set_model_version_tag(name, created.version, registry.GATE_PASSED_TAG, "true")
    return champion, int(created.version)


def _failing_version(settings) -> int:
    """A gate-passed version whose model raises on every call (a broken challenger)."""
    import mlflow

    class Broken(mlflow.pyfunc.PythonModel):  # local: pickled by value, loadable anywhere
        def predict(self, context, model_input, params=None):
            raise RuntimeError("the broken challenger cannot score")

    uri, name = settings.mlflow_uri, settings.model_name
    with registry.tracking(uri) as client:
        experiment = registry.ensure_experiment(
            client, "broken-challenger", settings.mlflow_artifact_location
        )
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Broken(), pip_requirements=["mlflow"]
            )
        created = client.create_model_version(name, info.model_uri, run_id=info.run_id)
        client.set_model_version_tag(name, created.version, registry.GATE_PASSED_TAG, "true")
    return int(created.version)


def _start_experiment(settings, experiment_id: str, mode: str, champion: int, challenger: int):
    from runway.experiments import record

    registry.set_challenger(challenger, tracking_uri=settings.mlflow_uri)
    bind = sql.engine(settings.sql_url)
    return record.create(
        bind,
        {"experiment_id": experiment_id, "champion_version": champion,
         "challenger_version": challenger, "mode": mode, "share": 1.0 if mode == "shadow"
         else 0.5, "ramp": [], "salt": f"{experiment_id}-salt", "start": DAY,
         "planned_days": 10, "plan": {"days": 10}, "created_by": "test", "reason": "e2e"},
        dt.datetime.now(dt.UTC),
    )  # fmt: skip


def _routed_back(service, day_flights) -> None:
    """Wait for every worker to answer with the champion outside any experiment."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(a["arm"] is None for a in _answers(service, day_flights[:200]).values()):
            return
        time.sleep(POLL_SECONDS)
    raise AssertionError("the service did not route back to the champion within 30 s")


def _served_rows(settings, prefix: str, expected: int) -> list:
    """The served rows of the calls whose request id starts with `prefix`, once `expected`
    are written (the writers flush every 30 s in this module, or at 500 rows)."""
    table = sql.served_predictions
    query = sa.select(table).where(table.c.request_id.like(f"{prefix}%"))
    deadline = time.monotonic() + 60
    while True:
        with sql.engine(settings.sql_url).connect() as conn:
            rows = conn.execute(query).fetchall()
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(1)


def test_a_failing_challenger_s_answers_are_logged_and_trip_the_error_guardrail(
    world, service, day_flights
):
    """A broken challenger fails no call: the champion answers its flights (arm None, out of
    the experiment), and its failed answers are logged per flight (status 500, no score);
    the daily look reads them and rolls the experiment back on the error-rate guardrail."""
    from runway.experiments import assignment, record, steps

    settings = world.settings
    champion = registry.champion_version(tracking_uri=settings.mlflow_uri)
    broken = _failing_version(settings)
    experiment = _start_experiment(settings, "exp-e2e-broken", "ab", champion, broken)
    time.sleep(4 * POLL_SECONDS + 2)  # every worker: the record read, the broken one loaded
    for attempt in range(3):  # a worker still loading leaves its flights out: ask again
        prefix, answers = f"br{attempt}-", {}
        with httpx.Client(timeout=30) as client:
            for i in range(0, len(day_flights), 100):
                answer = client.post(
                    f"{service['url']}/v1/predictions",
                    json={"flights": day_flights[i : i + 100]},
                    headers={"Authorization": f"Bearer {service['key']}",
                             "X-Request-ID": f"{prefix}{i}"},
                )  # fmt: skip
                assert answer.status_code == 200, answer.text
                answers |= {p["flight_id"]: p for p in answer.json()["predictions"]}
        ids = sorted(answers)
        arms = dict(zip(ids, assignment.arms(experiment["salt"], ids, 0.5).tolist(), strict=True))
        routed = {f for f, a in arms.items() if a == "challenger"}
        rows = _served_rows(settings, prefix, len(ids) + len(routed))
        failed = [r for r in rows if r.arm == "challenger"]
        if {r.flight_id for r in failed} == routed:
            break
    assert {r.flight_id for r in failed} == routed and len(failed) == len(routed)
    assert {(r.status, r.score, r.answered, r.model_version) for r in failed} == {
        (500, None, False, broken)
    }
    answered = [r for r in rows if r.answered]
    assert sorted(r.flight_id for r in answered) == ids and {r.status for r in answered} == {200}
    for flight, a in answers.items():  # the challenger's flights: the champion, out of it
        wanted = ("champion", champion) if arms[flight] == "champion" else (None, champion)
        assert (a["arm"], a["model_version"]) == wanted

    look = steps.evaluate(settings, DAY, "e2e-broken", dt.datetime.now(dt.UTC))
    assert look["action"] == "rollback" and look["signal"] == "error_rate", look
    assert look["value"] == 1.0 and look["status"] == "rolled_back"
    bind = sql.engine(settings.sql_url)
    assert record.get(bind, experiment["experiment_id"])["status"] == "rolled_back"
    assert registry.champion_version(tracking_uri=settings.mlflow_uri) == champion
    _routed_back(service, day_flights)
    print(
        f"\nbroken challenger: {len(failed)} failed answers logged (the champion answered "
        f"them, 0 failed calls), attempt {attempt + 1}; rolled back: {look['reason']}"
    )


def test_in_shadow_the_champion_answers_and_the_challenger_s_scores_feed_the_paired_test(
    world, service, day_flights
):
    from runway.experiments import decision, record, steps

    settings = world.settings
    champion, other = _version_like_the_champion(settings)
    experiment = _start_experiment(settings, "exp-e2e-shadow", "shadow", champion, other)
    deadline = time.monotonic() + 60  # every worker shadowing: its flights in the experiment
    while time.monotonic() < deadline:
        rounds = [_answers(service, day_flights[:200]) for _ in range(2 * WORKERS)]
        if all(a["arm"] == "champion" for r in rounds for a in r.values()):
            break
        time.sleep(POLL_SECONDS)
    sent = {}
    with httpx.Client(timeout=30) as client:
        for i in range(0, len(day_flights), 100):
            headers = {"Authorization": f"Bearer {service['key']}", "X-Request-ID": f"sh-{i}"}
            answer = client.post(
                f"{service['url']}/v1/predictions",
                json={"flights": day_flights[i : i + 100]},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
            sent |= {(f"sh-{i}", p["flight_id"]): p for p in answer.json()["predictions"]}
    assert {(p["arm"], p["model_version"]) for p in sent.values()} == {("champion", champion)}
    rows = _served_rows(settings, "sh-", 2 * len(sent))
    by_key: dict = {}
    for r in rows:
        by_key.setdefault((r.request_id, r.flight_id), {})[r.arm] = r
    assert set(by_key) == set(sent)  # every answer, and beside it the shadow score
    for key, pair in by_key.items():
        answered, shadow = pair["champion"], pair["challenger"]
        assert (answered.model_version, answered.answered) == (champion, True)
        assert (shadow.model_version, shadow.answered, shadow.status) == (other, False, 200)
        assert answered.score == pytest.approx(sent[key]["probability"], abs=1e-12)
        assert shadow.score == pytest.approx(answered.score, abs=1e-12)  # the same model
    # the paired test reads both: the same flights in each arm of the day
    frame = steps.experiment_frame(
        steps.served(sql.engine(settings.sql_url), experiment["experiment_id"], DAY),
        steps.outcomes(settings.raw_dir, [DAY]),
    )
    differences = decision.daily_differences(decision.rows_of(frame), "shadow")
    assert differences["n_champion"].tolist() == differences["n_challenger"].tolist()
    assert differences["n_champion"][0] >= 0.9 * len(day_flights)
    assert differences["difference"].tolist() == pytest.approx([0.0], abs=1e-12)
    record.stop(sql.engine(settings.sql_url), experiment["experiment_id"], "test", "done",
                dt.datetime.now(dt.UTC))  # fmt: skip
    _routed_back(service, day_flights)
    print(f"\nshadow: {len(by_key)} answers, each with its challenger score, paired")


def test_every_flight_keeps_its_arm_after_a_restart(world, service, day_flights):
    from runway.experiments import assignment, record

    settings = world.settings
    champion, other = _version_like_the_champion(settings)
    experiment = _start_experiment(settings, "exp-e2e-restart", "ab", champion, other)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rounds = [_answers(service, day_flights[:200]) for _ in range(2 * WORKERS)]
        if all(any(a["arm"] == "challenger" for a in r.values()) for r in rounds):
            break
        time.sleep(POLL_SECONDS)
    before = _answers(service, day_flights)
    os.killpg(service["process"].pid, signal.SIGTERM)  # a graceful stop, then a new start
    assert service["process"].wait(timeout=60) == 0
    service["process"] = serving.start(
        settings, port=service["port"], workers=WORKERS, env=service["env"], log=service["log"]
    )
    serving.wait_ready(service["url"], timeout=120, process=service["process"])
    after = _answers(service, day_flights)
    ids = sorted(before)
    expected = dict(zip(ids, assignment.arms(experiment["salt"], ids, 0.5).tolist(), strict=True))
    assert {k: a["arm"] for k, a in before.items()} == expected
    assert {k: a["arm"] for k, a in after.items()} == expected  # the same arm, every flight
    assert {k: a["model_version"] for k, a in after.items()} == {
        k: a["model_version"] for k, a in before.items()
    }
    record.stop(sql.engine(settings.sql_url), experiment["experiment_id"], "test", "done",
                dt.datetime.now(dt.UTC))  # fmt: skip
    _routed_back(service, day_flights)
    hits = sum(a == "challenger" for a in expected.values())
    print(f"\nrestart: {len(ids)} flights, {hits} to the challenger, each kept its arm")


def test_a_graceful_stop_writes_every_answer(service, day_flights):
    sent = 0
    with httpx.Client() as client:
        for i in range(0, 300, 30):
            body = {"flights": day_flights[i : i + 30]}
            headers = {"Authorization": f"Bearer {service['key']}", "X-Request-ID": f"stop-{i}"}
            answer = client.post(f"{service['url']}/v1/predictions", json=body, headers=headers)
            assert answer.status_code == 200, answer.text
            sent += len(answer.json()["predictions"])
    process = service["process"]
    os.killpg(process.pid, signal.SIGTERM)  # at once: the rows are still in the writers' queues
    assert process.wait(timeout=60) == 0
    table = sql.served_predictions
    with sql.engine(service["settings"].sql_url).connect() as conn:
        rows = conn.execute(
            sa.select(table.c.arm, table.c.experiment_id, table.c.model_version).where(
                table.c.request_id.like("stop-%")
            )
        ).fetchall()
    assert len(rows) == sent == 300
    assert {(r.arm, r.experiment_id) for r in rows} == {(None, None)}  # no experiment ran
