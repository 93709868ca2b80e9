"""The drift rule against controls with a known answer, across the replayed year.

For training windows of six weeks starting every four weeks, with each column's alarm
calibrated on the window (`monitoring.drift.calibrate`), the calibrated drift share of:
- the two weeks right after the window (normal change: should stay under the threshold);
- the window's last week, a random half of its entity-days against the other half (no change);
- the same weeks 22 and 23 weeks later (another season: should reach the threshold);
and, beside them, what the fixed per-column threshold of Evidently's default (0.1) gives on
the same entity-days. Prints a table and the rates, and writes them to
`<RUNWAY_HOME>/reports/drift_controls.csv`.

    python scripts/drift_controls.py        # lands the year into RUNWAY_HOME if needed (~1 min)
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from runway import contracts
from runway.days import day_range
from runway.features import reference, sources
from runway.monitoring import drift
from runway.settings import load_settings

WINDOW, WEEK = 42, 7


def _between(days: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    return days[(days["flight_date"] >= first) & (days["flight_date"] <= last)]


def main() -> None:
    settings = load_settings()
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    first, last = sources.source_days(source)
    for day in day_range(first, last):
        if not (settings.raw_dir / "flights" / f"date={day}").exists():
            sources.land_day(day, source, settings.raw_dir)
    start = first + dt.timedelta(days=contracts.MAX_WINDOW_DAYS + 6)
    days = drift.entity_days(reference.featured_flights(settings.raw_dir, source, start, last))
    columns = list(contracts.ALL_FEATURES)
    threshold = settings.retrain.drift_threshold
    fixed = {c: 0.1 for c in columns}

    def share(ref, cur, thresholds) -> float:
        return drift.drift_report(ref, cur, columns, None, 0, None, thresholds=thresholds)[
            "drift_share"
        ]

    rows = []
    window_start = start
    while window_start + dt.timedelta(days=WINDOW + 2 * WEEK) <= last:
        window_end = window_start + dt.timedelta(days=WINDOW - 1)
        ref = _between(days, window_start, window_end)
        alarms = drift.calibrate(ref, columns)["thresholds"]
        for k in range(2):
            a = window_end + dt.timedelta(days=1 + WEEK * k)
            cur = _between(days, a, a + dt.timedelta(days=WEEK - 1))
            rows.append({"window": f"{window_start}..{window_end}", "control": f"week +{k + 1}",
                         "expected": "quiet", "calibrated": share(ref, cur, alarms),
                         "fixed 0.1": share(ref, cur, fixed)})  # fmt: skip
        half = ref.sample(frac=0.5, random_state=1)
        other = ref.drop(half.index)
        tail = _between(other, window_end - dt.timedelta(days=WEEK - 1), window_end)
        own = drift.calibrate(half, columns)["thresholds"]
        rows.append({"window": f"{window_start}..{window_end}", "control": "random half",
                     "expected": "quiet", "calibrated": share(half, tail, own),
                     "fixed 0.1": share(half, tail, fixed)})  # fmt: skip
        for weeks in (22, 23):
            a = window_end + dt.timedelta(days=1 + WEEK * (weeks - 1))
            if a + dt.timedelta(days=WEEK - 1) <= last:
                cur = _between(days, a, a + dt.timedelta(days=WEEK - 1))
                rows.append({"window": f"{window_start}..{window_end}", "control": f"week +{weeks}",
                             "expected": "loud", "calibrated": share(ref, cur, alarms),
                             "fixed 0.1": share(ref, cur, fixed)})  # fmt: skip
        window_start += dt.timedelta(days=28)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
    for rule in ("calibrated", "fixed 0.1"):
        for expected, part in table.groupby("expected"):
            fired = (
                (part[rule] >= threshold).mean()
                if rule == "calibrated"
                else (part[rule] > 0.5).mean()
            )
            bar = f">= {threshold}" if rule == "calibrated" else "> 0.5 (the old rule)"
            print(f"{rule:10s} {expected:5s} controls: {fired:.0%} of {len(part)} at {bar}")
    out = settings.reports_dir / "drift_controls.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    print(f"written {out}")


if __name__ == "__main__":
    main()
