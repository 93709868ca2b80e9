"""Did retraining help? Old vs new champion on the same flights, after each promotion.

For every champion that replaced another, scores the flights its reign covered (the scored
frames monitoring keeps: the features each flight was scored with) with the previous champion
too, and reports both realized AUCs week by week, with the labels that landed since.

    python scripts/champion_report.py        # the installation's RUNWAY_HOME
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from runway import contracts, entities, scoring
from runway.settings import load_settings


def main() -> None:
    import mlflow
    from sklearn.metrics import roc_auc_score

    settings = load_settings()
    days = sorted(dt.date.fromisoformat(p.parent.name.split("=")[1]) for p in settings.scored_dir.glob("*/date=*/part-0.parquet"))
    if not days:
        raise SystemExit(f"nothing scored under {settings.scored_dir}")
    scored = scoring.read_scored(settings.scored_dir, days)
    labels = entities.entity_rows(entities.read_flights(settings.raw_dir, days), with_label=True)[["flight_id", contracts.LABEL]]
    scored = scored.merge(labels, on="flight_id")
    scored["week"] = pd.to_datetime(scored["flight_date"]).dt.to_period("W-SUN").dt.start_time.dt.date
    reigns = scored.groupby("champion_version")["flight_date"].agg(["min", "max"]).sort_values("min")
    print("Champions' reigns (flight days scored):")
    print(reigns.to_string())

    # Every retraining the gate judged, after the first champion: its candidate against the
    # champion that actually scored the weeks that followed its training window.
    from mlflow import MlflowClient

    client = MlflowClient(settings.mlflow_uri, settings.mlflow_uri)
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)  # a script: its own process
    gated = sorted(
        (
            (dt.date.fromisoformat(mv.tags["runway.training_window"].split("..")[-1]), int(mv.version), mv.tags)
            for mv in client.search_model_versions(f"name='{settings.model_name}'")
            if "runway.gate_passed" in mv.tags
        )
    )[1:]
    rows = []
    for i, (trained_until, version, tags) in enumerate(gated):
        until = gated[i + 1][0] if i + 1 < len(gated) else max(days)
        frame = scored[(pd.to_datetime(scored["flight_date"]).dt.date > trained_until)
                       & (pd.to_datetime(scored["flight_date"]).dt.date <= until)]
        if frame.empty:
            continue
        candidate = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
        frame = frame.assign(score_candidate=candidate.predict(frame))
        verdict = "promoted" if tags.get("runway.gate_passed") == "true" else "rejected"
        for week, part in frame.groupby("week"):
            if part[contracts.LABEL].nunique() < 2:
                continue
            rows.append(
                {
                    "week of": str(week),
                    "flights": len(part),
                    "champion": ",".join(f"v{v}" for v in sorted(part["champion_version"].unique())),
                    "AUC champion": round(roc_auc_score(part[contracts.LABEL], part["score_champion"]), 3),
                    "retrained": f"v{version} ({verdict})",
                    "AUC retrained": round(roc_auc_score(part[contracts.LABEL], part["score_candidate"]), 3),
                }
            )
    if rows:
        table = pd.DataFrame(rows)
        table["retrained - champion"] = (table["AUC retrained"] - table["AUC champion"]).round(3)
        print("\nRealized AUC in the weeks after each retraining, on the same flights:")
        print(table.to_string(index=False))


if __name__ == "__main__":
    main()
