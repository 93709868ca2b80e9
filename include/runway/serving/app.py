"""The serving app: `POST /v1/predictions`, `/healthz`, `/readyz`, `/metrics`.

`create_app()` is what gunicorn's uvicorn workers run (`steps.serve`); each worker opens the
online store, loads the champion and starts its poller and its served-log writer when it
starts, and flushes the writer when it stops. The prediction route is `async` and does its
(short, CPU-bound) work on the event loop: no thread hand-off per call, and Feast's SQLite
connection stays on the thread that opened it.

Every answer is logged (`served_log`), a failed one too, with its arm, status 500 and no
score, which the experiment's error-rate guardrail counts. A challenger that fails does not
fail the call: the champion answers its flights (arm None: out of the experiment), so a broken
canary at 5% reaches no client instead of failing nearly every call of 100 flights. The
champion or the online store failing answers 500, a row logged per flight. In shadow mode the
challenger scores the answered flights after the answer has gone out, its score logged beside
the champion's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import time
import uuid

import numpy as np
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask

from runway import contracts, registry
from runway.experiments.assignment import CHALLENGER
from runway.serving import auth, telemetry
from runway.serving.models import Choice, ExperimentWatcher, Loaded, Models, NoChampion, Watcher
from runway.serving.requests import PredictionRequest, Refusal, field_name, to_rows
from runway.settings import Settings, load_settings

log = logging.getLogger("runway.serving")
ROUTE = "/v1/predictions"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SCHEDULE_INPUTS = ("carrier", "origin", "dest", "hour", "distance", "sched_dep_time", "flight_date")


class Service:
    """One worker's pieces: vocabulary, online features, models, served log, the key."""

    def __init__(self, settings: Settings):
        from runway.features import sources
        from runway.features import store as feature_store
        from runway.serving import vocabulary
        from runway.serving.online import OnlineFeatures
        from runway.serving.served_log import ServedLog

        self.settings = settings
        self.key = settings.serving.api_key or auth.installation_key(settings.serving_key_file)
        source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
        self.vocabulary = vocabulary.from_schedule(source)
        self.store = feature_store.get_store(settings)
        self.online = OnlineFeatures(self.store, settings.feature_service)
        self.models = Models(
            {
                alias: Watcher(
                    alias,
                    tracking_uri=settings.mlflow_uri,
                    model_name=settings.model_name,
                    poll_seconds=settings.serving.poll_seconds,
                    on_load=_loaded,
                )
                for alias in (registry.CHAMPION, registry.CHALLENGER)  # the challenger: for
            },  # an experiment's arm; the active experiment's record routes the flights
            ExperimentWatcher(settings.sql_url, poll_seconds=settings.serving.poll_seconds),
        )
        self.served_log = ServedLog(
            settings.sql_url,
            batch_rows=settings.serving.log_batch_rows,
            flush_seconds=settings.serving.log_flush_seconds,
            on_write=lambda rows, ok: telemetry.SERVED_LOG_ROWS.labels(
                "ok" if ok else "retried"
            ).inc(rows),
        )
        for result in ("ok", "retried"):  # exported from the start, at 0
            telemetry.SERVED_LOG_ROWS.labels(result)
        self.models.start()

    def stop(self) -> None:
        self.models.stop()
        self.served_log.stop()


def _loaded(loaded: Loaded) -> None:
    telemetry.MODEL_LOAD_SECONDS.observe(loaded.load_seconds)
    telemetry.MODEL_VERSION.labels(loaded.alias).set(loaded.version)


def _refused(status: int, refusals: list[Refusal], request_id: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": "; ".join(f"{r.field}: {r.message}" for r in refusals),
            "errors": [{"field": r.field, "message": r.message} for r in refusals],
            "request_id": request_id,
        },
        status_code=status,
        headers={"X-Request-ID": request_id},
    )


def _pydantic_refusals(err: ValidationError) -> list[Refusal]:
    out = []
    for e in err.errors(include_url=False):
        message = e["msg"] if e["type"] != "missing" else "field required"
        out.append(Refusal(field_name(tuple(e["loc"])), message))
    return out


def _observe_features(stamps: list[dict], now: dt.datetime) -> None:
    """Per view and call: the oldest row used (its age), and the rows missing."""
    oldest: dict[str, dt.datetime] = {}
    missing: dict[str, int] = {}
    for flight in stamps:
        for view, stamp in flight.items():
            if stamp is None:
                missing[view] = missing.get(view, 0) + 1
            elif view not in oldest or stamp < oldest[view]:
                oldest[view] = stamp
    for view, stamp in oldest.items():
        telemetry.FEATURE_AGE.labels(view).observe((now - stamp).total_seconds())
    for view, count in missing.items():
        telemetry.MISSING_FEATURES.labels(view).inc(count)


def model_frame(rows, features) -> pd.DataFrame:
    """The frame handed to the model: `contracts.RAW_INPUTS`, the dtypes batch scoring has."""
    frame = pd.DataFrame(
        {
            "carrier": [r.carrier for r in rows],
            "origin": [r.origin for r in rows],
            "dest": [r.dest for r in rows],
            "hour": np.array([r.hour for r in rows], dtype="int64"),
            "distance": np.array([r.distance for r in rows], dtype="float64"),
            "sched_dep_time": np.array([r.sched_dep_time for r in rows], dtype="int64"),
            "flight_date": [r.flight_date for r in rows],
        }
    )
    values = pd.DataFrame(features.values, columns=list(features.names))
    return pd.concat([frame, values], axis=1)[list(contracts.RAW_INPUTS)]


class _Observed:
    """Pure ASGI middleware: latency per route and model version, requests by status."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope["path"]
            route = path if path in (ROUTE, "/healthz", "/readyz", "/metrics") else "other"
            version = scope["state"].get("model_version", "none")
            telemetry.REQUEST_SECONDS.labels(route, str(version)).observe(
                time.perf_counter() - started
            )
            telemetry.REQUESTS.labels(route, str(status["code"])).inc()


def _scorer(model):
    """What the pyfunc's `predict` calls (`training.pyfunc.FlightDelayModel`): the fitted
    scorer, called directly to save MLflow's ~2 ms wrapper per call; the frame already has
    the signature's columns and dtypes (`model_frame`). Another pyfunc: its `predict`."""
    from runway.signature import fitted_scorer

    scorer = fitted_scorer(model)
    return model.predict if scorer is None else scorer.predict_proba


def _score(frame: pd.DataFrame, models: list, fallible=frozenset()) -> tuple[np.ndarray, list]:
    """Each row's score by its model (`models[i]` scores row i), one call per model. A model
    whose id is in `fallible` may fail: its rows stay NaN and are returned, the others' raise."""
    scores, failed = np.full(len(frame), np.nan), []
    by_model: dict[int, list[int]] = {}
    for i, model in enumerate(models):
        by_model.setdefault(id(model), []).append(i)
    for key, indexes in by_model.items():
        part = frame if len(indexes) == len(frame) else frame.iloc[indexes]
        try:
            scores[indexes] = np.asarray(_scorer(models[indexes[0]])(part), dtype="float64")
        except Exception:
            if key not in fallible:
                raise
            log.exception("the challenger failed on %d flights", len(indexes))
            failed.extend(indexes)
    return scores, failed


def _logged(request_id, row, choice, score, latency_ms, now, *, status=200, shadow=False,
            answered=True):  # fmt: skip
    """One `served_predictions` row: the answer of `choice` (or its shadow's score)."""
    return {
        "request_id": request_id,
        "flight_id": row.flight_id,
        "flight_date": row.flight_date,
        "model_version": choice.shadow.version if shadow else choice.version,
        "score": score,
        "latency_ms": latency_ms,
        "served_at": now,
        "arm": CHALLENGER if shadow else choice.arm,
        "experiment_id": choice.experiment_id,
        "status": status,
        "answered": answered and not shadow,
    }


async def _score_shadows(service, request_id, frame, rows, choices, shadowed, base_ms, now):
    """Shadow mode, after the answer went out: the challenger scores the same flights, each
    score logged (not answered) with the latency the call would have had had it answered
    (the call's time without the champion's scoring, plus the challenger's); a failure is
    logged per flight (status 500) and answers nothing."""
    part = frame.iloc[shadowed]
    started = time.perf_counter()
    try:
        scores, status = _score(part, [choices[i].shadow.model for i in shadowed])[0], 200
    except Exception:
        log.exception("request %s: the shadow challenger failed", request_id)
        scores, status = [None] * len(shadowed), 500
    latency_ms = base_ms + (time.perf_counter() - started) * 1000
    service.served_log.add(
        [
            _logged(request_id, rows[i], choices[i], None if s is None else float(s),
                    latency_ms, now, status=status, shadow=True)
            for i, s in zip(shadowed, scores, strict=True)
        ]
    )  # fmt: skip
    for i in shadowed:
        telemetry.PREDICTIONS.labels(str(choices[i].shadow.version), "shadow").inc()


def _preload() -> None:
    """Import what every worker needs before gunicorn forks them (`preload_app`)."""
    import feast  # noqa: F401
    import lightgbm  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import xgboost  # noqa: F401

    from runway.features import online_stores, store  # noqa: F401


def create_app(settings: Settings | None = None, preload: bool = True) -> FastAPI:
    """The app; `settings` default to the environment's (the gunicorn entry point)."""
    settings = settings or load_settings()
    if preload:
        _preload()
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    state: dict = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        state["service"] = Service(settings)
        try:
            yield
        finally:
            state.pop("service").stop()

    app = FastAPI(title="Runway serving", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz():
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        service: Service = state["service"]
        champion = service.models.champion
        problems = []
        if champion is None:
            try:
                service.models.choose("")
            except NoChampion as err:
                problems.append(str(err))
        try:
            from runway.serving.online import ANCHOR_VIEW

            view = next(v for v in service.online.views if v.name == ANCHOR_VIEW)
            key = service.online._key(view, {"origin": min(service.vocabulary.origins)})
            service.online.online_store.online_read(service.online.config, view.table, [key])
        except Exception as err:
            problems.append(f"online store unreachable: {type(err).__name__}: {err}")
        body = {
            "ready": not problems,
            "model_version": champion.version if champion else None,
            "problems": problems,
        }
        return JSONResponse(body, status_code=200 if not problems else 503)

    @app.get("/metrics")
    async def metrics():
        content, kind = telemetry.exposition()
        return Response(content, media_type=kind)

    @app.post(ROUTE)
    async def predict(request: Request):
        started = time.perf_counter()
        given = request.headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        service: Service = state["service"]
        if not auth.authorized(request.headers.get("authorization"), service.key):
            return JSONResponse(
                {"error": "missing or wrong bearer key (Authorization: Bearer <key>)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", "X-Request-ID": request_id},
            )
        try:
            payload = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as err:
            return _refused(400, [Refusal("body", f"malformed JSON: {err}")], request_id)
        try:
            parsed = PredictionRequest.model_validate(payload)
        except ValidationError as err:
            return _refused(422, _pydantic_refusals(err), request_id)
        rows, refusals = to_rows(parsed, service.vocabulary, settings.serving.max_flights)
        if refusals:
            return _refused(422, refusals, request_id)
        try:
            choices = [service.models.choose(r.flight_id) for r in rows]
        except NoChampion as err:
            return JSONResponse(
                {"error": str(err), "request_id": request_id},
                status_code=503,
                headers={"X-Request-ID": request_id},
            )
        request.scope["state"]["model_version"] = (
            choices[0].version if len({c.version for c in choices}) == 1 else "mixed"
        )
        try:
            features = service.online.read(rows)
            if features.refusals:
                return _refused(422, features.refusals, request_id)
            frame = model_frame(rows, features)
            scoring = time.perf_counter()
            challengers = {id(c.model) for c in choices if c.arm == CHALLENGER}
            scores, failed = _score(frame, [c.model for c in choices], challengers)
            if failed:  # the champion answers them, out of the experiment: a broken canary
                spare = service.models.champion  # reaches no client, whatever its share
                fallback = Choice(spare.version, spare.model)
                scores[failed] = _score(frame.iloc[failed], [spare.model] * len(failed))[0]
            scoring_ms = (time.perf_counter() - scoring) * 1000
        except Exception as err:  # the champion or the store failed: 500, each flight logged
            log.exception("request %s: answering %d flights failed", request_id, len(rows))
            now = dt.datetime.now(dt.UTC)
            latency_ms = (time.perf_counter() - started) * 1000
            service.served_log.add(
                [_logged(request_id, row, c, None, latency_ms, now, status=500)
                 for row, c in zip(rows, choices, strict=True)]
            )  # fmt: skip
            return JSONResponse(
                {"error": f"answering failed: {type(err).__name__}: {err}",
                 "request_id": request_id},
                status_code=500, headers={"X-Request-ID": request_id},
            )  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        latency_ms = (time.perf_counter() - started) * 1000
        answers, logged = [], []
        fell = set(failed)
        for i, (row, choice) in enumerate(zip(rows, choices, strict=True)):
            if i in fell:  # the challenger's failed answer, logged for its guardrail
                logged.append(
                    _logged(request_id, row, choice, None, latency_ms, now, status=500,
                            answered=False)
                )  # fmt: skip
                choice = fallback
            stamps = features.stamps[i]
            answers.append(
                {
                    "flight_id": row.flight_id,
                    "probability": float(scores[i]),
                    "model_version": choice.version,
                    "arm": choice.arm,
                    "features_as_of": {
                        view: stamp.isoformat() if stamp else None for view, stamp in stamps.items()
                    },
                }
            )
            logged.append(_logged(request_id, row, choice, float(scores[i]), latency_ms, now))
            telemetry.PREDICTIONS.labels(str(choice.version), choice.arm or "champion").inc()
        _observe_features(features.stamps, now)
        telemetry.BATCH_FLIGHTS.observe(len(rows))
        service.served_log.add(logged)
        log.info(
            json.dumps(
                {
                    "event": "predictions",
                    "request_id": request_id,
                    "flights": len(rows),
                    "model_version": request.scope["state"]["model_version"],
                    "latency_ms": round(latency_ms, 3),
                }
            )
        )
        shadowed = [i for i, c in enumerate(choices) if c.shadow is not None]
        return JSONResponse(
            {"request_id": request_id, "predictions": answers},
            headers={"X-Request-ID": request_id},
            background=BackgroundTask(
                _score_shadows, service, request_id, frame, rows, choices, shadowed,
                latency_ms - scoring_ms, now,
            ) if shadowed else None,
        )  # fmt: skip

    app.add_middleware(_Observed)
    return app
