"""Feature research: does a day-ahead signal known at prediction time help, out of time?

Candidate inputs, each computed from what is known before day D begins:
- `schedule` (day D's published schedule): the origin's scheduled departures that day and in
  the flight's hour, the plane's leg number among its NYC departures of the day and the
  minutes since its previous scheduled NYC departure;
- `holiday`: days to the nearest US federal holiday (of 2013, carried onto the replay year);
- `evening` (how day D-1 ended): the origin's delayed share of D-1's departures after 17:00,
  its mean departure delay then, and the pressure change at the origin from 14:00 to 23:00.

Each group is added to the model's inputs *in this process only* (the production inputs stay
`runway.training.inputs`) and the lead recipe is backtested with it on the same folds as
without it, beside the baselines (`runway.training.backtest`). Writes
`<RUNWAY_HOME>/reports/feature_research.md`. Keep a group only if it beats the recipe without
it beyond noise; then move it onto the production path (the Beam job and a Feast view, or a
column derived from the flight row in `inputs`).

    python scripts/feature_research.py [--windows 10] [--trials 4]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_report import TRAINING_DAYS, VALID_DAYS, year_frame  # noqa: E402

from runway import contracts  # noqa: E402
from runway.features import sources  # noqa: E402
from runway.settings import load_settings  # noqa: E402
from runway.training import inputs  # noqa: E402
from runway.training.backtest import Recipe, rolling_windows, run_backtest  # noqa: E402

GROUPS = {
    "schedule": ("origin_day_sched", "origin_hour_sched", "plane_leg", "plane_gap_minutes"),
    "holiday": ("days_to_holiday",),
    "evening": ("origin_evening_delay_rate", "origin_evening_dep_delay", "wx_pressure_trend"),
}


def _minutes(hhmm: pd.Series) -> pd.Series:
    return (hhmm // 100) * 60 + hhmm % 100


def add_candidates(frame: pd.DataFrame, settings) -> pd.DataFrame:
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    out = frame.copy()
    day = pd.to_datetime(out["flight_date"])
    # schedule of day D (published before D)
    out["origin_day_sched"] = out.groupby([day, "origin"])["flight_id"].transform("size")
    out["origin_hour_sched"] = out.groupby([day, "origin", "hour"])["flight_id"].transform("size")
    minute = _minutes(out["sched_dep_time"])
    known = out["tailnum"] != "UNKNOWN"
    order = out.assign(_m=minute, _d=day).sort_values(["tailnum", "_d", "_m"])
    leg = order.groupby(["tailnum", "_d"]).cumcount() + 1
    gap = order.groupby(["tailnum", "_d"])["_m"].diff()
    out["plane_leg"] = leg.reindex(out.index).where(known).astype("float64")
    out["plane_gap_minutes"] = gap.reindex(out.index).where(known)
    # holidays: 2013's federal holidays carried onto the replay year
    from pandas.tseries.holiday import USFederalHolidayCalendar

    holidays = USFederalHolidayCalendar().holidays("2012-12-01", "2014-01-31") + pd.Timedelta(
        settings.replay_shift
    )
    distance = np.abs(day.to_numpy()[:, None] - holidays.to_numpy()[None, :]).min(axis=1)
    out["days_to_holiday"] = np.minimum(distance / np.timedelta64(1, "D"), 14.0)
    # how day D-1 ended, at the origin
    flights = pd.read_parquet(source / "flights.parquet")
    flights["day"] = pd.to_datetime(flights["flight_date"]) + pd.Timedelta(days=1)  # serves D+1
    evening = flights[flights["hour"] >= 17].assign(
        delayed=lambda f: (
            f["arr_delay"].isna() | (f["arr_delay"] >= contracts.LABEL_DELAY_MINUTES)
        ).astype("float64")
    )
    ended = evening.groupby(["origin", "day"]).agg(
        origin_evening_delay_rate=("delayed", "mean"),
        origin_evening_dep_delay=("dep_delay", "mean"),
    )
    weather = pd.read_parquet(source / "weather.parquet")
    weather["day"] = pd.to_datetime(weather["obs_date"]) + pd.Timedelta(days=1)
    pressure = weather.drop_duplicates(["origin", "day", "hour"]).pivot_table(
        index=["origin", "day"], columns="hour", values="pressure"
    )
    trend = (pressure.get(23) - pressure.get(14)).rename("wx_pressure_trend")
    out["day"] = day
    out = out.merge(ended, left_on=["origin", "day"], right_index=True, how="left")
    out = out.merge(trend, left_on=["origin", "day"], right_index=True, how="left")
    return out.drop(columns="day")


def extend_inputs(extra: tuple[str, ...]) -> None:
    """Add `extra` frame columns to the model's numeric inputs, for this process only."""
    base_numeric = inputs.NUMERIC
    original = inputs._numeric

    def numeric(frame: pd.DataFrame, out: np.ndarray) -> np.ndarray:
        original(frame, out)
        for col in extra:
            out[:, inputs.NUMERIC.index(col)] = frame[col].to_numpy(dtype="float64")
        return out

    inputs.NUMERIC = base_numeric + extra
    inputs.MODEL_INPUTS = inputs.CATEGORICAL + inputs.NUMERIC
    inputs._numeric = numeric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--test-days", type=int, default=14)
    parser.add_argument("--family", default="lightgbm")
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    frame = add_candidates(year_frame(settings), settings)
    extra = tuple(c for cols in GROUPS.values() for c in cols)
    extend_inputs(extra)
    days = pd.to_datetime(frame["flight_date"])
    first, last = days.min().date(), days.max().date()
    span = (last - first).days + 1 - TRAINING_DAYS - args.test_days
    step = max(args.test_days, span // max(args.windows - 1, 1))
    windows = rolling_windows(first, last, TRAINING_DAYS, args.test_days, args.windows, step)
    # a recipe without a group sees its columns as NaN (`Recipe.withheld`)
    base = {"valid_days": VALID_DAYS, "n_trials": args.trials, "timeout_s": 120.0}
    withheld = {
        "current": extra,
        **{f"+{g}": tuple(c for c in extra if c not in cols) for g, cols in GROUPS.items()},
        "+all": (),
    }
    variants = [
        Recipe(args.family, TRAINING_DAYS, withheld=cols, label=name, **base)
        for name, cols in withheld.items()
    ]
    result = run_backtest(
        frame, variants, windows, threads=settings.train_threads or 1,
        baseline_window_days=TRAINING_DAYS,
    )  # fmt: skip
    overall = result.overall.set_index("model")
    rows = []
    for recipe in variants:
        g = result.gain(recipe.name)
        rows.append(
            {
                "variant": recipe.name,
                "pooled_auc": overall.loc[recipe.name, "roc_auc"],
                "daily_auc": overall.loc[recipe.name, "daily_auc"],
                "ece": overall.loc[recipe.name, "ece"],
                "gain_vs_best_baseline": g["value"],
                "low": g["low"],
                "high": g["high"],
            }
        )
    table = pd.DataFrame(rows)
    # each group against the current recipe, paired on the same flights and days
    from runway import intervals

    scores = result.predictions
    y, d = scores[contracts.LABEL].to_numpy(), scores["flight_date"].to_numpy()
    lines = []
    for name in list(withheld)[1:]:
        for metric in ("roc_auc", "daily_auc"):
            e = intervals.difference(y, scores[name], scores["current"], d, metric)
            lines.append(
                f"| {name} | {metric} | {e.value:+.4f} | [{e.low:+.4f}, {e.high:+.4f}] | "
                f"{'helps' if e.low > 0 else 'not beyond noise'} |"
            )
    markdown = (
        f"## Feature research: {args.family}, {len(windows)} folds of {args.test_days} days\n\n"
        + table.to_markdown(index=False, floatfmt="+.4f")
        + "\n\n"
        + result.to_markdown()
        + "\n\n| variant | metric | vs current | 90% interval | verdict |\n"
        "| --- | --- | --- | --- | --- |\n" + "\n".join(lines) + "\n"
    )
    out = settings.reports_dir / "feature_research.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown)
    print(markdown)
    print(f"written {out}")


if __name__ == "__main__":
    main()
