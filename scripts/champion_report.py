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
    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)
    rows, previous = [], None
    for version, reign in reigns.iterrows():
        if previous is not None:
            old = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{previous}")
            frame = scored[scored["champion_version"] == version]
            frame = frame.assign(score_old=old.predict(frame))
            for week, part in frame.groupby("week"):
                if part[contracts.LABEL].nunique() < 2:
                    continue
                rows.append(
                    {
                        "week of": str(week),
                        "flights": len(part),
                        "old champion": f"v{previous}",
                        "AUC old": round(roc_auc_score(part[contracts.LABEL], part["score_old"]), 3),
                        "new champion": f"v{version}",
                        "AUC new": round(roc_auc_score(part[contracts.LABEL], part["score_champion"]), 3),
                    }
                )
        previous = version
    print("Champions' reigns (flight days scored):")
    print(reigns.to_string())
    if rows:
        table = pd.DataFrame(rows)
        table["new - old"] = (table["AUC new"] - table["AUC old"]).round(3)
        print("\nRealized AUC after each promotion, old and new champion on the same flights:")
        print(table.to_string(index=False))
        print(f"\nmean AUC old {table['AUC old'].mean():.3f}, new {table['AUC new'].mean():.3f} over {len(table)} weeks")


if __name__ == "__main__":
    main()
