"""Figure: the serving service beside `feast serve` and `mlflow models serve`, over HTTP.

One installation from real components (`tests/integration/_model_world`: a day's features in
a SQLite online store, a LightGBM champion), built once under the work folder. Three servers,
each with `--serving-workers` worker processes, on the same store and model:

- Runway's service (`runway.serving.steps.start`): flights in, probabilities out (features
  read, TTL applied, model scored, answers logged);
- Feast's feature server (`feast serve`, the same registry and online store): the same
  flights' features only (`/get-online-features`, the `flight_delay_v1` service);
- MLflow's scoring server (`mlflow models serve --env-manager local`, the same version): the
  same flights' model inputs, features included, scored (`/invocations`).

The same flights of one day (2026-03-09), cycled, are asked by `wrk` (closed loop, keep-alive)
on this machine: 1 flight per call at concurrency 1 (p50/p99), 100 flights per call at
concurrency 1 (p99), 1 flight per call at concurrency 32 (answers/s, p99). Then Runway's
service under load at concurrency 8 while the champion alias moves to a new version: failed
requests counted, and the first answer by the new version is checked. The load generator's CPU
(its user + system seconds over the wall time) is reported as the cores it took.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.context import Context
from bench.harness import REPO, Figure

DAY = dt.date(2026, 3, 9)
CONTENDERS = ("runway", "feast serve", "mlflow models serve")
CASES = (("1 flight, c=1", 1, 1), ("100 flights, c=1", 100, 1), ("1 flight, c=32", 1, 32))

WRK_SCRIPT = """
local bodies = {}
local n = 0
local i = 0
for line in io.lines("%(bodies)s") do n = n + 1; bodies[n] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
request = function()
  i = i %% n + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"p50_ms": %%f, "p99_ms": %%f, "requests": %%d, ' ..
    '"errors": %%d, "seconds": %%f}\\n', latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, summary.duration / 1e6))
end
"""


def _world(ctx: Context):
    """The installation: built once under the work folder (reused while its champion exists)."""
    from runway import registry
    from tests.integration import _model_world as mw

    home = ctx.work / "serving-world"
    settings = mw.world_settings(home)
    done = home / "_BUILT"
    if not done.exists():
        shutil.rmtree(home, ignore_errors=True)
        ctx.say("serving: building the installation (features, Feast, a LightGBM champion)")
        with mw.environment(settings):
            mw.build_world(settings)
        done.write_text("")
    version = registry.champion_version(tracking_uri=settings.mlflow_uri)
    return settings, version


def _flights(settings):
    """The day's flights as requests of each server (one JSON line per call)."""
    from runway import contracts, entities
    from runway.features import sources
    from runway.features import store as feature_store
    from runway.scoring import batch as scoring

    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    flights = scoring.scheduled_flights(source, DAY)
    runway = [
        {
            "carrier": r.carrier,
            "flight": int(r.flight),
            "tailnum": r.tailnum if isinstance(r.tailnum, str) else None,
            "origin": r.origin,
            "dest": r.dest,
            "scheduled_departure": f"{r.flight_date}T{r.sched_dep_time // 100:02d}:"
            f"{r.sched_dep_time % 100:02d}:00",
        }
        for r in flights.itertuples()
    ]
    rows = entities.entity_rows(flights, with_label=False)
    keys = rows[list(contracts.ENTITY_COLUMNS)]
    store = feature_store.get_store(settings)
    frame = feature_store.historical_features(store, rows)[list(contracts.RAW_INPUTS)]
    frame["flight_date"] = frame["flight_date"].astype(str)
    return runway, keys, frame


def _bodies(kind: str, flights, keys, frame, size: int) -> list[str]:
    out = []
    for start in range(0, len(flights) - size + 1, size):
        part = slice(start, start + size)
        if kind == "runway":
            out.append(json.dumps({"flights": flights[part]}))
        elif kind == "feast serve":
            block = keys.iloc[part]
            entities = {c: block[c].tolist() for c in block.columns}
            entities["hour"] = [int(h) for h in entities["hour"]]
            out.append(json.dumps({"feature_service": "flight_delay_v1", "entities": entities}))
        else:
            block = frame.iloc[part]
            data = json.loads(block.to_json(orient="split", index=False))
            out.append(
                json.dumps({"dataframe_split": {"columns": data["columns"], "data": data["data"]}})
            )
        if len(out) >= 200:
            break
    return out


def _feast_repo(settings, folder: Path) -> Path:
    """A feature_store.yaml for `feast serve` on the installation's registry and online store."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feature_store.yaml").write_text(
        "project: runway\nprovider: local\n"
        f"registry:\n  registry_type: file\n  path: {settings.feast_dir / 'registry.db'}\n"
        "  cache_ttl_seconds: 60\n"
        "online_store:\n  type: runway.features.online_stores.NewestSqliteOnlineStore\n"
        f"  path: {settings.feast_dir / 'online_store.db'}\n"
        "offline_store:\n  type: duckdb\nentity_key_serialization_version: 3\n"
    )
    return folder


def _start(
    kind: str, settings, version: int, port: int, workers: int, env: dict, log: Path, tmp: Path
):
    from runway.serving import steps as serving

    bin_dir = Path(os.sys.executable).parent
    out = open(log, "ab")  # noqa: SIM115 (the child keeps it)
    if kind == "runway":
        process = serving.start(settings, port=port, workers=workers, env=env, log=log)
        path, ready = "/v1/predictions", "/readyz"
    elif kind == "feast serve":
        repo = _feast_repo(settings, tmp / "feast_repo")
        process = subprocess.Popen(
            [
                str(bin_dir / "feast"),
                "-c",
                str(repo),
                "serve",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(workers),
                "--no-access-log",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        path, ready = "/get-online-features", "/health"
    else:
        process = subprocess.Popen(
            [
                str(bin_dir / "mlflow"),
                "models",
                "serve",
                "-m",
                f"models:/{settings.model_name}/{version}",
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                str(workers),
            ],
            env={
                **env,
                "MLFLOW_TRACKING_URI": settings.mlflow_uri,
                "MLFLOW_REGISTRY_URI": settings.mlflow_uri,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        path, ready = "/invocations", "/ping"
    _wait(f"http://127.0.0.1:{port}{ready}", process, kind)
    return process, path


def _wait(url: str, process, kind: str, timeout: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{kind} exited with {process.returncode} before it answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{kind} did not answer {url} within {timeout:g} s")


def _stop(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _wrk(
    url: str,
    path: str,
    bodies: list[str],
    connections: int,
    seconds: float,
    tmp: Path,
    key: str | None,
) -> dict:
    body_file = tmp / f"bodies-{abs(hash(path))}-{len(bodies[0])}.jsonl"
    body_file.write_text("\n".join(bodies) + "\n")
    script = tmp / "load.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    script.write_text(WRK_SCRIPT % {"bodies": body_file, "auth": auth, "path": path})
    threads = min(connections, 2)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {result.stdout[-500:]} {result.stderr[-500:]}")
    out = json.loads(line[len("RESULT ") :])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out["load_cores"] = cpu / max(out["seconds"], 1e-9)
    out["per_s"] = out["requests"] / max(out["seconds"], 1e-9)
    return out


def _swap_under_load(
    settings, url: str, bodies: list[str], key: str, tmp: Path, seconds: float
) -> dict:
    """wrk at concurrency 8 while the champion alias moves to a new version of the same model."""
    import httpx

    from runway import registry

    uri, name = settings.mlflow_uri, settings.model_name
    before = registry.champion_version(tracking_uri=uri, model_name=name)
    box: dict = {}
    load = threading.Thread(
        target=lambda: box.update(_wrk(url, "/v1/predictions", bodies, 8, seconds, tmp, key))
    )
    load.start()
    time.sleep(seconds / 3)
    with registry.tracking(uri) as client:
        current = client.get_model_version(name, str(before))
        new = client.create_model_version(name, current.source, run_id=current.run_id)
        client.set_model_version_tag(name, new.version, registry.GATE_PASSED_TAG, "true")
    promoted = time.monotonic()
    registry.promote(int(new.version), tracking_uri=uri, model_name=name, actor="bench")
    seen_at = None
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() - promoted < seconds:
        answer = httpx.post(
            f"{url}/v1/predictions",
            content=bodies[0],
            headers={**headers, "Content-Type": "application/json"},
        )
        if answer.status_code == 200 and answer.json()["predictions"][0]["model_version"] == int(
            new.version
        ):
            seen_at = time.monotonic() - promoted
            break
        time.sleep(0.05)
    load.join()
    return {**box, "from": before, "to": int(new.version), "first_new_answer_s": seen_at}


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="serving",
        title="Online serving: HTTP round trips beside Feast's and MLflow's servers",
        contender="runway.serving (FastAPI on gunicorn/uvicorn workers)",
        baselines=["feast serve (features only)", "mlflow models serve (model only)"],
    )
    if shutil.which("wrk") is None:
        fig.status = "not measured"
        fig.notes.append("wrk is not installed (apt-get install -y wrk)")
        return fig
    workers = ctx.args.serving_workers
    seconds = ctx.args.serving_seconds or (3 if ctx.quick else 10)
    settings, version = _world(ctx)
    flights, keys, frame = _flights(settings)
    fig.params = {
        "day": str(DAY),
        "flights": len(flights),
        "workers": workers,
        "seconds_per_case": seconds,
        "repeats": ctx.repeats,
        "model_version": version,
        "online_store": "SQLite (local profile)",
        "load_generator": "wrk",
    }
    from runway.local_airflow import free_port
    from runway.serving import steps as serving

    env = {
        **os.environ,
        "RUNWAY_HOME": str(settings.home),
        "RUNWAY_REPLAY_YEAR": str(settings.replay_year),
    }
    env["PYTHONPATH"] = f"{REPO / 'include'}{os.pathsep}{env.get('PYTHONPATH', '')}"
    key = serving.api_key(settings)
    samples: dict = {}
    cores: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        for kind in CONTENDERS:  # one server at a time: the 2 cores are not shared between them
            port = free_port()
            ctx.say(f"serving: starting {kind} ({workers} workers)")
            try:
                process, path = _start(kind, settings, version, port, workers, env, ctx.log, tmp)
            except Exception as err:  # noqa: BLE001 - one server failing must not cost the others
                fig.notes.append(f"{kind} not measured: {type(err).__name__}: {str(err)[-300:]}")
                continue
            url = f"http://127.0.0.1:{port}"
            try:
                for rep in range(ctx.repeats):
                    for case, size, connections in CASES:
                        ctx.say(f"serving: {kind}, {case}, run {rep + 1}/{ctx.repeats}")
                        bodies = _bodies(kind, flights, keys, frame, size)
                        got = _wrk(
                            url,
                            path,
                            bodies,
                            connections,
                            seconds,
                            tmp,
                            key if kind == "runway" else None,
                        )
                        for metric in ("p50_ms", "p99_ms", "per_s", "errors"):
                            samples.setdefault((case, kind, metric), []).append(got[metric])
                        cores.append(got["load_cores"])
                if kind == "runway":
                    ctx.say("serving: runway, model swap under load")
                    swap = _swap_under_load(
                        settings,
                        url,
                        _bodies(kind, flights, keys, frame, 1),
                        key,
                        tmp,
                        max(seconds, 6),
                    )
                    fig.params["swap"] = swap
            finally:
                _stop(process)
    units = {"p50_ms": "ms", "p99_ms": "ms", "per_s": "answers/s", "errors": "requests"}
    for (case, kind, metric), values in samples.items():
        if metric == "per_s":
            values = [v * (100 if case.startswith("100") else 1) for v in values]
        fig.measure(case, kind, metric, values, units[metric])
    fig.params["load_generator_cores"] = round(max(cores), 2) if cores else None
    one, hundred, c32 = (c for c, _, _ in CASES)
    g = fig.get
    fig.target(
        "1 flight p99 <= 5 ms (goal; bar 10 ms)", g(one, "runway", "p99_ms"), "<=", 5.0, "ms"
    )
    fig.target("1 flight p99 <= 10 ms (bar)", g(one, "runway", "p99_ms"), "<=", 10.0, "ms")
    fig.target(
        "1 flight p99 below feast serve's",
        g(one, "runway", "p99_ms"),
        "<=",
        g(one, "feast serve", "p99_ms"),
        "ms",
    )
    fig.target(
        "100 flights p99 <= 30 ms (goal; bar 60 ms)",
        g(hundred, "runway", "p99_ms"),
        "<=",
        30.0,
        "ms",
    )
    fig.target("100 flights p99 <= 60 ms (bar)", g(hundred, "runway", "p99_ms"), "<=", 60.0, "ms")
    fig.target(
        "c=32 >= 1000 answers/s (goal; bar 400)",
        g(c32, "runway", "per_s"),
        ">=",
        1000.0,
        "answers/s",
    )
    fig.target("c=32 >= 400 answers/s (bar)", g(c32, "runway", "per_s"), ">=", 400.0, "answers/s")
    fig.target("c=32 p99 <= 50 ms", g(c32, "runway", "p99_ms"), "<=", 50.0, "ms")
    swap = fig.params.get("swap") or {}
    fig.target(
        "model swap under load: failed requests == 0", swap.get("errors"), "<=", 0.0, "requests"
    )
    fig.check(
        "the swap was served by the new version", swap.get("first_new_answer_s") is not None, swap
    )
    for kind in CONTENDERS[1:]:
        fig.add_ratio(
            f"{one}: runway p99 / {kind} p99",
            g(one, "runway", "p99_ms"),
            g(one, kind, "p99_ms"),
            "x (below 1: Runway faster)",
        )
        fig.add_ratio(
            f"{c32}: runway / {kind} answers/s",
            g(c32, "runway", "per_s"),
            g(c32, kind, "per_s"),
            "x (above 1: Runway more)",
        )
    return fig
