"""Did retraining help? Old vs new champion on the same flights, after each promotion.

For every champion that replaced another, scores the flights its reign covered (the scored
frames monitoring keeps: the features each flight was scored with) with the previous champion
too, and reports both realized AUCs week by week, with the labels that landed since.

    python scripts/champion_report.py        # the installation's RUNWAY_HOME
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from runway import contracts, entities
from runway.contracts import RAW_INPUTS
from runway.registry import GATE_PASSED_TAG, versions_by_training_end
from runway.scoring import batch as scoring
from runway.settings import load_settings


def main() -> None:
    import mlflow
    from sklearn.metrics import roc_auc_score

    settings = load_settings()
    days = sorted(
        dt.date.fromisoformat(p.parent.name.split("=")[1])
        for p in settings.scored_dir.glob("*/date=*/part-0.parquet")
    )
    if not days:
        raise SystemExit(f"nothing scored under {settings.scored_dir}")
    scored = scoring.read_scored(settings.scored_dir, days)
    labels = entities.entity_rows(entities.read_flights(settings.raw_dir, days), with_label=True)[
        ["flight_id", contracts.LABEL]
    ]
    scored = scored.merge(labels, on="flight_id")
    scored["week"] = (
        pd.to_datetime(scored["flight_date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    )
    reigns = (
        scored.groupby("champion_version")["flight_date"].agg(["min", "max"]).sort_values("min")
    )
    print("Champions' reigns (flight days scored):")
    print(reigns.to_string())

    # Every retraining the gate judged, after the first champion: its candidate against the
    # champion that actually scored the weeks that followed its training window.
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)  # a script: its own process
    gated = [
        (end, version, tags)
        for end, version, tags in versions_by_training_end(
            tracking_uri=settings.mlflow_uri, model_name=settings.model_name
        )
        if GATE_PASSED_TAG in tags
    ]
    incumbent, models = gated[0][1], {}

    def load(v):
        return models.setdefault(v, mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{v}"))

    gated = gated[1:]
    rows = []
    for i, (trained_until, version, tags) in enumerate(gated):
        until = gated[i + 1][0] if i + 1 < len(gated) else max(days)
        frame = scored[
            (pd.to_datetime(scored["flight_date"]).dt.date > trained_until)
            & (pd.to_datetime(scored["flight_date"]).dt.date <= until)
        ]
        if frame.empty:
            continue
        inputs = frame[list(RAW_INPUTS)]  # the signature's columns only
        frame = frame.assign(
            score_candidate=load(version).predict(inputs),
            score_incumbent=load(incumbent).predict(inputs),
        )
        verdict = "promoted" if tags.get(GATE_PASSED_TAG) == "true" else "rejected"
        old, incumbent = incumbent, (version if verdict == "promoted" else incumbent)
        for week, part in frame.groupby("week"):
            if part[contracts.LABEL].nunique() < 2:
                continue
            rows.append(
                {
                    "week of": str(week),
                    "flights": len(part),
                    "champion before": f"v{old}",
                    "AUC champion before": round(
                        roc_auc_score(part[contracts.LABEL], part["score_incumbent"]), 3
                    ),
                    "retrained": f"v{version} ({verdict})",
                    "AUC retrained": round(
                        roc_auc_score(part[contracts.LABEL], part["score_candidate"]), 3
                    ),
                }
            )
    if rows:
        table = pd.DataFrame(rows)
        table["retrained - before"] = (table["AUC retrained"] - table["AUC champion before"]).round(
            3
        )
        print(
            "\nRealized AUC in the weeks after each retraining: "
            "the champion it would replace and the"
        )
        print("retrained model, on the same flights with the same features:")
        print(table.to_string(index=False))
        for verdict, part in table.groupby(table["retrained"].str.contains("promoted")):
            label = "promoted" if verdict else "rejected"
            print(
                f"  {label}: mean AUC {part['AUC retrained'].mean():.3f} "
                f"vs champion before {part['AUC champion before'].mean():.3f} "
                f"over {len(part)} weeks"
            )


if __name__ == "__main__":
    main()
