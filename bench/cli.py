"""The harness's command line: which figures, how big, how often; writes the results.

    make bench                                  # every figure, default sizes, 3 repeats
    make bench BENCH_ARGS="--quick"             # tiny sizes, 1 repeat (what the smoke test runs)
    make bench BENCH_ARGS="--only features --scales 1,30 --range-large 2026-03-02..2026-03-29"

Results: `<out>/latest.json` (every figure, its measurements, ratios, checks, targets met or
missed), `<out>/report.md` with PNG plots beside it, `<out>/bench.log` (subprocess output).
With `--only`, figures not re-run are kept from the previous `latest.json` in `<out>`, each
with the time it was measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from bench.context import Context
from bench.harness import REPO, Figure, git_commit, machine, versions

FIGURES = (
    "features",
    "features_dask",
    "retrieval",
    "online",
    "scoring",
    "drift",
    "dags",
    "demo",
    "training",
    "serving",
    "tests",
)


def _ints(text: str) -> list[int]:
    return sorted({int(x) for x in text.split(",") if x.strip()})


def _names(text: str) -> list[str]:
    names = [x.strip() for x in text.split(",") if x.strip()]
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown figure(s) {unknown}; one of {', '.join(FIGURES)}"
        )
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes and 1 repeat (the smoke test; < 1-2 min)"
    )
    p.add_argument(
        "--only", type=_names, default=None, help=f"comma-separated figures: {', '.join(FIGURES)}"
    )
    p.add_argument("--skip", type=_names, default=[], help="figures to leave out")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="results folder")
    p.add_argument(
        "--work",
        type=Path,
        default=REPO / "bench" / "results" / "work",
        help="where the benchmark worlds (replayed data per scale) live; kept between runs "
        "(git-ignored; not under .runway/, which `make clean` and the demo reset)",
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="repeats per contender (default 3; --quick 1)"
    )
    p.add_argument(
        "--scales", type=_ints, default=None, help="feature-job scales (default 1,30; --quick 1)"
    )
    p.add_argument(
        "--range-1x",
        default="year",
        help="feature-job target days at 1x (default 'year': 2025-12-30..2026-12-28, every day "
        "with weather)",
    )
    p.add_argument(
        "--range-large",
        default="2026-03-02..2026-03-29",
        help="feature-job target days at the larger scales (default: 4 weeks; 'year' for all)",
    )
    p.add_argument("--quick-range", default="2026-02-02..2026-02-08", help="target days in --quick")
    p.add_argument(
        "--dask-scale",
        type=int,
        default=None,
        help="scale of the features_dask figure, over --range-large (default 30; --quick 1)",
    )
    p.add_argument(
        "--dask-workers",
        type=int,
        default=2,
        help="Dask worker processes (one thread each) the features_dask figure starts",
    )
    p.add_argument(
        "--retrieval-scales",
        type=_ints,
        default=None,
        help="retrieval scales (default 1,10; --quick 1)",
    )
    p.add_argument(
        "--retrieval-range",
        default="2026-04-01..2026-06-30",
        help="flights whose training rows are retrieved (default: a quarter)",
    )
    p.add_argument(
        "--online-calls",
        type=int,
        default=None,
        help="timed online calls per batch size (default 300)",
    )
    p.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/9",
        help="Redis for the online figure; its db is flushed afterwards (use a dedicated one)",
    )
    p.add_argument(
        "--serving-workers",
        type=int,
        default=2,
        help="worker processes of each server in the serving figure (Runway's, Feast's, MLflow's)",
    )
    p.add_argument(
        "--serving-seconds",
        type=float,
        default=None,
        help="seconds of load per case in the serving figure (default 10; --quick 3)",
    )
    p.add_argument(
        "--demo-timings",
        default=None,
        help="stage timings `make demo` wrote (default <RUNWAY_HOME>/demo_timings.json)",
    )
    p.add_argument(
        "--test-timings",
        default=None,
        help="wall time `make test` wrote (default bench/results/test_timings.json)",
    )
    p.add_argument(
        "--train-range",
        default="2026-04-01..2026-05-12",
        help="training window of the scoring, drift and training figures (6 weeks)",
    )
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.scales = args.scales or ([1] if args.quick else [1, 30])
    args.retrieval_scales = args.retrieval_scales or ([1] if args.quick else [1, 10])
    args.online_calls = args.online_calls or (30 if args.quick else 300)
    if args.quick:
        args.retrieval_range = args.quick_range
        args.train_range = "2026-01-27..2026-02-16"  # 3 weeks: 1 train, 1 valid, 1 test
    return args


def run_figure(name: str, ctx: Context) -> Figure:
    started = time.monotonic()
    module = importlib.import_module(f"bench.figures.{name}")
    try:
        figure = module.run(ctx)
    except Exception as err:  # noqa: BLE001 - one figure failing must not lose the others
        figure = Figure(
            name=name,
            title=getattr(module, "TITLE", name),
            contender="",
            baselines=[],
            status="error",
            error=f"{type(err).__name__}: {err}\n{traceback.format_exc()[-4000:]}",
        )
        ctx.say(f"{name}: ERROR {type(err).__name__}: {str(err)[:500]}")
    figure.seconds = time.monotonic() - started
    return figure


def main(argv: list[str] | None = None) -> int:
    args = resolve(parser().parse_args(argv))
    # a TERM (a killed run) unwinds like Ctrl-C: figures' clean-ups (the Redis db) still run
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    ctx = Context(work=work, out=out, quick=args.quick, repeats=args.repeats, args=args)
    names = [n for n in (args.only or FIGURES) if n not in args.skip]
    latest = out / "latest.json"
    previous = {}
    if args.only and latest.exists():
        try:
            previous = {f["name"]: f for f in json.loads(latest.read_text()).get("figures", [])}
        except (ValueError, KeyError):
            previous = {}
    doc = {
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(argv or []),
        "quick": args.quick,
        "repeats": args.repeats,
        "git_commit": git_commit(),
        "machine": machine(),
        "versions": versions(),
        "figures": [],
    }
    ctx.say(f"bench: {', '.join(names)} -> {out} (work {work}, {args.repeats} repeat(s))")
    measured: dict[str, dict] = {}
    for name in names:
        ctx.say(f"== {name}")
        figure = run_figure(name, ctx).to_json()
        figure["measured_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        figure["load_average"] = [round(x, 2) for x in os.getloadavg()]
        measured[name] = figure
        doc["figures"] = [
            measured.get(n) or previous[n] for n in FIGURES if n in measured or n in previous
        ]
        latest.write_text(json.dumps(doc, indent=2, default=str))
    doc["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    doc["seconds"] = round(time.monotonic() - ctx.started, 1)
    from bench.report import write_report

    write_report(doc, out)
    latest.write_text(json.dumps(doc, indent=2, default=str))
    ctx.say(f"bench: done in {doc['seconds']:.0f} s -> {latest}, {out / 'report.md'}")
    for figure in doc["figures"]:
        for target in figure.get("targets", []):
            state = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
            value = target["value"]
            shown = f"{value:.3g}" if isinstance(value, (int, float)) else "-"
            ctx.say(
                f"  {figure['name']:9s} {state:12s} {target['name']}: "
                f"{shown} {target['op']} {target['threshold']}"
            )
    return 1 if any(measured[n]["status"] == "error" for n in measured) else 0
