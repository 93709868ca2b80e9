"""Did retraining help? Each retrained model against the champion it would replace.

For every retraining the gate judged after the first champion, scores the flights of the days
that followed its training window (until the next retraining) with the retrained model and
with the champion it would have replaced, on the same flights with the features they were
scored with (the scored frames monitoring keeps), and reports realized AUC and log loss for
both, the difference with its day-block bootstrap interval (`runway.intervals`), and whether
the gate's verdict was right: a promoted model should not be clearly worse in AUC or log loss,
a rejected one should not have been clearly better in either.

    python scripts/champion_report.py        # the installation's RUNWAY_HOME
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from runway import contracts, entities, intervals, registry
from runway.registry import GATE_PASSED_TAG, versions_by_training_end
from runway.scoring import batch
from runway.settings import load_settings


def _scored_days(settings) -> list[dt.date]:
    return sorted(
        dt.date.fromisoformat(p.parent.name.split("=")[1])
        for p in settings.scored_dir.glob("*/date=*/part-0.parquet")
    )


def _verdict_right(promoted: bool, auc: intervals.Estimate, loss: intervals.Estimate) -> str:
    """Judged on both gains (positive: the retrained model better), each beyond noise: a
    promoted model clearly worse on either was wrong, a rejected one clearly better on one and
    not clearly worse on the other was kept back wrongly."""
    worse = [name for name, g in (("AUC", auc), ("log loss", loss)) if g.high < 0]
    better = [name for name, g in (("AUC", auc), ("log loss", loss)) if g.low > 0]
    if promoted:
        return f"wrong: worse in {' and '.join(worse)}" if worse else "right"
    if better and not worse:
        return f"wrong: better in {' and '.join(better)}, kept back"
    return "right"


def retraining_rows(settings) -> list[dict]:
    """One row per judged retraining: its days after training, both models' figures, the gain."""
    days = _scored_days(settings)
    if not days:
        raise SystemExit(f"nothing scored under {settings.scored_dir}")
    scored = batch.read_scored(settings.scored_dir, days)
    flights = entities.read_flights(settings.raw_dir, days)
    labels = entities.entity_rows(flights, with_label=True)[["flight_id", contracts.LABEL]]
    scored = scored.merge(labels, on="flight_id")
    scored["day"] = pd.to_datetime(scored["flight_date"]).dt.date
    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    gated = [
        (end, version, tags)
        for end, version, tags in versions_by_training_end(**where)
        if GATE_PASSED_TAG in tags  # judged by the gate, whatever its verdict
    ]
    if len(gated) < 2:
        return []
    models: dict[int, object] = {}

    def predict(version: int, frame: pd.DataFrame):
        if version not in models:
            models[version] = registry.load_model(
                registry.version_uri(version, settings.model_name), tracking_uri=settings.mlflow_uri
            )
        return models[version].predict(frame[list(contracts.RAW_INPUTS)])

    incumbent = next(v for _, v, t in gated if t.get(GATE_PASSED_TAG) == "true")
    rows = []
    for i, (trained_until, version, tags) in enumerate(gated):
        if version == incumbent:
            continue
        later = [end for end, _, _ in gated[i + 1 :] if end > trained_until]
        until = later[0] if later else max(days)
        frame = scored[(scored["day"] > trained_until) & (scored["day"] <= until)]
        promoted = tags.get(GATE_PASSED_TAG) == "true"
        if frame.empty or frame[contracts.LABEL].nunique() < 2:
            incumbent = version if promoted else incumbent
            continue
        y, day = frame[contracts.LABEL].to_numpy(), frame["day"].astype(str).to_numpy()
        new, old = predict(version, frame), predict(incumbent, frame)
        auc = intervals.difference(y, new, old, day, "roc_auc")
        loss = intervals.gain(intervals.difference(y, new, old, day, "log_loss"), "log_loss")
        rows.append(
            {
                "trained until": str(trained_until),
                "days after": f"{frame['day'].min()}..{frame['day'].max()} ({auc.days})",
                "retrained": f"v{version} ({'promoted' if promoted else 'rejected'})",
                "champion before": f"v{incumbent}",
                "AUC retrained": round(
                    intervals.estimate(y, new, day, "roc_auc", resamples=10).value, 3
                ),
                "AUC before": round(
                    intervals.estimate(y, old, day, "roc_auc", resamples=10).value, 3
                ),
                "AUC gain [90%]": f"{auc.value:+.3f} [{auc.low:+.3f}, {auc.high:+.3f}]",
                "log-loss gain [90%]": f"{loss.value:+.4f} [{loss.low:+.4f}, {loss.high:+.4f}]",
                "verdict": _verdict_right(promoted, auc, loss),
            }
        )
        incumbent = version if promoted else incumbent
    return rows


def main() -> None:
    settings = load_settings()
    rows = retraining_rows(settings)
    if not rows:
        print("no retraining judged after the first champion yet")
        return
    table = pd.DataFrame(rows)
    print("Each retraining against the champion it would replace, on the days that followed it")
    print("(same flights, same features; gains with 90% day-block bootstrap intervals):")
    with pd.option_context("display.width", 250, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    right = table["verdict"].eq("right").sum()
    print(f"\nthe gate's verdict was right on {right} of {len(table)} retrainings")


if __name__ == "__main__":
    main()
