"""Out-of-time figures over the replayed year: the rolling-origin backtest at full length.

The training DAG backtests few windows (`RUNWAY_BACKTEST_WINDOWS`, for the demo's minutes);
this runs the same `runway.training.backtest` over `--windows` two-week folds spread across
the year: the champion recipe (the DAG's: 42-day window less its 7 test days, 7 of them
validating) per family against the baselines (carrier x hour rate, also rolling over 28 days;
the schedule-only logistic regression). With `--research`, the candidate additions beside it
(longer windows, calibration on the validation days, each feature group withheld), each
measured against the same baselines on the same folds.

Features come from `features.reference` (the DuckDB twin of the Beam job, held equal to it by
the tests) joined as Feast joins them: day D-1's rows for flights of day D.

Writes `<RUNWAY_HOME>/reports/<name>.{md,html,json,png}` and `<name>_predictions.parquet`
(`--name`, default `backtest_report`).

    python scripts/backtest_report.py                       # ~10 folds, the champion recipe
    python scripts/backtest_report.py --research            # + the research variants
    python scripts/backtest_report.py --end 2026-07-06 --windows 2 --step-days 14 \
        --name backtest_demo_weeks                          # the demo's four scored weeks
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import logging

import pandas as pd

from runway import contracts, entities
from runway.days import day_range
from runway.features import reference, sources
from runway.io import write_parquet_atomic
from runway.settings import load_settings
from runway.training.backtest import BASELINES, Recipe, rolling_windows, run_backtest

TRAINING_DAYS = 35  # the DAG's 42-day window less its 7 test days
VALID_DAYS = 7
GROUPS = {  # feature groups withheld one at a time (research)
    "weather": contracts.WEATHER_FEATURES,
    "plane": tuple(f for f in contracts.ALL_FEATURES if f.startswith("plane_")),
    "route": tuple(f for f in contracts.ALL_FEATURES if f.startswith("route_")),
    "carrier": tuple(f for f in contracts.ALL_FEATURES if f.startswith("carrier_")),
    "origin": tuple(f for f in contracts.ALL_FEATURES if f.startswith("origin_")),
}


def year_frame(settings) -> pd.DataFrame:
    """Every replayed flight with its label, schedule columns and day-before features."""
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    first, last = sources.source_days(source)
    for day in day_range(first, last):
        if not (settings.raw_dir / "flights" / f"date={day}").exists():
            sources.land_day(day, source, settings.raw_dir)
    start = first + dt.timedelta(days=contracts.MAX_WINDOW_DAYS)
    featured = reference.featured_flights(settings.raw_dir, source, start, last)
    flights = pd.read_parquet(source / "flights.parquet")
    rows = entities.entity_rows(flights, with_label=True)
    keep = [c for c in featured.columns if c not in rows.columns or c == "flight_id"]
    return rows.merge(featured[keep], on="flight_id", how="inner", validate="one_to_one")


def recipes(families: list[str], trials: int, research: bool) -> list[Recipe]:
    base = {"valid_days": VALID_DAYS, "n_trials": trials, "timeout_s": 120.0}
    out = [Recipe(f, TRAINING_DAYS, **base) for f in families]
    if research:
        lead = families[0]
        out += [
            Recipe(lead, 84, **base),
            Recipe(lead, TRAINING_DAYS, calibration="isotonic", **base),
            Recipe(lead, TRAINING_DAYS, calibration="platt", **base),
        ]
        out += [
            Recipe(lead, TRAINING_DAYS, withheld=cols, label=f"{lead}_no_{group}", **base)
            for group, cols in GROUPS.items()
        ]
    return out


def _plot(result, path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    table = result.per_window.pivot(index="window", columns="model", values="roc_auc")
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
    for model in table.columns:
        style = "--" if model in BASELINES else "-"
        ax.plot(range(len(table)), table[model], style, marker="o", label=model)
    ax.set_xticks(range(len(table)), [w.split("..")[0] for w in table.index], rotation=45)
    ax.set(ylabel="pooled AUC (test days)", title="Rolling-origin backtest, out of time")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def verdict_lines(result, lead: str, min_gain: float, max_ece: float) -> list[str]:
    g = result.gain(lead)
    d = result.gain(lead, metric="daily_auc")
    ece = float(result.overall.set_index("model").loc[lead, "ece"])
    auc_met = "met" if g["value"] >= min_gain and g["low"] > 0 else "NOT met"
    return [
        f"Champion recipe {lead} vs best baseline {g['baseline']} over {int(g['days'])} test days: "
        f"pooled AUC gain {g['value']:+.4f} [{g['low']:+.4f}, {g['high']:+.4f}] "
        f"(target >= +{min_gain:.2f} with the interval above 0: {auc_met}); "
        f"mean daily AUC gain {d['value']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}].",
        f"ECE over the period {ece:.4f} (target <= {max_ece:.2f}: "
        f"{'met' if ece <= max_ece else 'NOT met'}).",
        "Where a target is not met the gate's beats_baseline check fails and the baseline "
        "stays the honest champion.",
    ]


def research_table(result, lead: str) -> pd.DataFrame:
    """Each variant against the champion recipe and the best baseline, on the same folds."""
    overall = result.overall.set_index("model")
    rows = []
    for name in result.recipes:
        g = result.gain(name)
        rows.append(
            {
                "recipe": name,
                "pooled_auc": overall.loc[name, "roc_auc"],
                "daily_auc": overall.loc[name, "daily_auc"],
                "ece": overall.loc[name, "ece"],
                "log_loss": overall.loc[name, "log_loss"],
                "auc_vs_lead": overall.loc[name, "roc_auc"] - overall.loc[lead, "roc_auc"],
                "gain_vs_baseline": g["value"],
                "gain_low": g["low"],
                "gain_high": g["high"],
                "windows_above_0": float(
                    result.gains.query(
                        "recipe == @name and metric == 'roc_auc' and window != 'overall'"
                    )
                    .eval("low > 0")
                    .mean()
                ),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--step-days", type=int, default=0, help="default: spread over the year")
    parser.add_argument("--families", default="lightgbm,xgboost")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--research", action="store_true")
    parser.add_argument(
        "--end",
        type=dt.date.fromisoformat,
        help="last test day (default: the year's); e.g. the demo's scored weeks: --end "
        "2026-07-06 --windows 2 --step-days 14 --name backtest_demo_weeks",
    )
    parser.add_argument("--name", default="backtest_report", help="the reports' file name")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = load_settings()
    frame = year_frame(settings)
    days = pd.to_datetime(frame["flight_date"])
    first, last = days.min().date(), days.max().date()
    if args.end:
        if not first < args.end <= last:
            raise SystemExit(f"--end {args.end} is outside the replayed days {first}..{last}")
        last = args.end
        frame = frame[days.dt.date <= last]
    chosen = recipes(args.families.split(","), args.trials, args.research)
    longest = max(r.window_days for r in chosen)
    span = (last - first).days + 1 - longest - args.test_days
    step = args.step_days or max(args.test_days, span // max(args.windows - 1, 1))
    windows = rolling_windows(first, last, longest, args.test_days, args.windows, step)
    print(f"{len(windows)} folds of {args.test_days} test days, every {step} days; "
          f"{len(chosen)} recipes; {len(frame)} flights {first}..{last}")  # fmt: skip
    result = run_backtest(
        frame, chosen, windows, threads=settings.train_threads or 1,
        baseline_window_days=TRAINING_DAYS,
    )  # fmt: skip
    lead = chosen[0].name
    lines = verdict_lines(result, lead, 0.03, settings.gate.max_ece)
    markdown = result.to_markdown() + "\n" + "\n".join(f"- {line}" for line in lines) + "\n"
    out = settings.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    figures = result.to_dict()
    if args.research:
        table = research_table(result, lead)
        markdown += "\n## Research: each variant on the same folds\n\n"
        markdown += table.to_markdown(index=False, floatfmt="+.4f") + "\n"
        figures["research"] = json.loads(table.to_json(orient="records"))
    (out / f"{args.name}.md").write_text(markdown)
    (out / f"{args.name}.json").write_text(json.dumps(figures, indent=1))
    (out / f"{args.name}.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Runway backtest</title>"
        f"<img src='{args.name}.png'><pre>{html.escape(markdown)}</pre>"
    )
    import pyarrow as pa

    write_parquet_atomic(
        pa.Table.from_pandas(result.predictions, preserve_index=False),
        out / f"{args.name}_predictions.parquet",
    )
    _plot(result, out / f"{args.name}.png")
    print(markdown)
    print(f"written {out / args.name}.md ({result.seconds:.0f} s of backtest)")


if __name__ == "__main__":
    main()
