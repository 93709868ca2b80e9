"""`make demo`: Runway's loop, run through Airflow on the embedded local profile.

Stages (each timed): prepare Airflow (migrate its DB, create pools, register the DAGs), then
run `feature_pipeline` through Airflow (`airflow dags test` on the migrated DB: the DAG is
parsed, its tasks run by Airflow's task runner and recorded, visible in the UI) over the
history window, then read online features of tomorrow's real flights back from Feast.

    python scripts/demo.py [--days 28] [--end YYYY-MM-DD]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

from runway.settings import LOCAL_TZ, load_settings

TIMINGS: list[tuple[str, float]] = []


@contextmanager
def stage(name: str):
    print(f"\n==> {name}", flush=True)
    started = time.monotonic()
    yield
    TIMINGS.append((name, time.monotonic() - started))
    print(f"    done in {TIMINGS[-1][1]:.1f} s", flush=True)


def airflow(*args: str, log: Path | None = None) -> None:
    """Run an Airflow CLI command; its chatter goes to `log`, a failure shows the tail."""
    command = [sys.executable, "-m", "airflow", *args]
    out = subprocess.run(command, capture_output=True, text=True)
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).splitlines()[-40:])
        raise SystemExit(f"airflow {' '.join(args)} failed (full log: {log}):\n{tail}")


def run_dag(dag_id: str, logical_day: dt.date, conf: dict, logs: Path) -> None:
    log = logs / f"{dag_id}-{logical_day}.log"
    print(f"    airflow dags test {dag_id} {logical_day} -c '{json.dumps(conf)}'  (log: {log})", flush=True)
    airflow("dags", "test", dag_id, logical_day.isoformat(), "-c", json.dumps(conf), log=log)


def show_online_features(settings, day: dt.date, count: int = 5) -> None:
    import pyarrow.dataset as ds

    from runway import contracts, feature_store, sources

    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    flights = (
        ds.dataset(source / "flights.parquet")
        .to_table(filter=ds.field("flight_date") == day)
        .to_pandas()
        .dropna(subset=["tailnum"])
        .sample(count, random_state=7)
    )
    rows = [
        {"carrier": f.carrier, "origin": f.origin, "route": f"{f.origin}-{f.dest}", "tailnum": f.tailnum, "hour": int(f.hour)}
        for f in flights.itertuples()
    ]
    store = feature_store.get_store(settings)
    online = feature_store.online_features(store, rows)
    shown = ["carrier_delay_rate_7d", "origin_delay_rate_1d", "route_delay_rate_28d", "plane_flights_7d", "plane_year", "wx_visib", "wx_wind_speed"]
    table = flights[["flight_id"]].reset_index(drop=True).join(online[[c for c in shown if c in online]])
    print(f"\nOnline features from Feast for {count} real flights scheduled on {day} (of {len(contracts.ALL_FEATURES)} features):")
    with __import__("pandas").option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28, help="history to bootstrap (days)")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last day of history (default: yesterday)")
    args = parser.parse_args()

    settings = load_settings()
    today = dt.datetime.now(ZoneInfo(LOCAL_TZ)).date()
    end = args.end or today - dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days - 1)
    logs = settings.home / "logs"
    print(f"Runway demo: profile {settings.profile}, state in {settings.home}")
    print(f"history {start}..{end} ({args.days} days), replaying 2013 shifted by {settings.replay_shift.days} days")

    with stage("prepare Airflow (migrate the metadata DB, pools, DAGs)"):
        Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        airflow("db", "migrate", log=logs / "airflow-db-migrate.log")
        airflow("pools", "set", "gpu", "1", "GPU training slots", log=logs / "airflow-pools.log")
        airflow("dags", "reserialize", log=logs / "airflow-reserialize.log")

    with stage(f"feature_pipeline through Airflow: land, gate, Beam, gate, Feast for {start}..{end}"):
        run_dag("feature_pipeline", end, {"start": start.isoformat(), "end": end.isoformat()}, logs)

    with stage("read online features back from Feast"):
        show_online_features(settings, end + dt.timedelta(days=1))

    print("\nStage timings:")
    for name, seconds in TIMINGS:
        print(f"  {seconds:7.1f} s  {name}")
    print(f"  {sum(s for _, s in TIMINGS):7.1f} s  total")
    print(f"\nGreat Expectations Data Docs: {settings.gx_dir}")
    print("Airflow UI: `make airflow`, then http://127.0.0.1:8080 (credentials in .runway/airflow/passwords.json)")


if __name__ == "__main__":
    main()
