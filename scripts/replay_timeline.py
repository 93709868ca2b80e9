"""The retraining timeline of an installation: when each retraining fired, on which signal,
with what value against what threshold, what the gate said, and the realized AUC of the
champion before and of the retrained model after (from `scripts/champion_report.py`).

    RUNWAY_HOME=.runway/replay python scripts/replay_timeline.py
"""

from __future__ import annotations

import json

import pandas as pd

from runway.registry import GATE_PASSED_TAG, TAG_PREFIX, versions_by_training_end
from runway.settings import load_settings


def _signals(tags: dict) -> str:
    fired = json.loads(tags.get(f"{TAG_PREFIX}trigger_signals", "[]"))
    parts = []
    for s in fired:
        value = "n/a" if s["value"] is None else f"{s['value']:.3f}"
        interval = s.get("interval")
        if interval and None not in interval:
            value += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
        threshold = "n/a" if s["threshold"] is None else f"{s['threshold']:.3f}"
        parts.append(f"{s['signal']} {value} vs {threshold}")
    return "; ".join(parts) or "-"


def timeline(settings) -> pd.DataFrame:
    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    rows = []
    for end, version, tags in versions_by_training_end(**where):
        if GATE_PASSED_TAG not in tags:
            continue  # a candidate the gate did not judge (another family of the same run)
        rows.append(
            {
                "trained until": str(end),
                "trigger": tags.get(f"{TAG_PREFIX}trigger", "")[:60],
                "signals (value vs threshold)": _signals(tags),
                "version": f"v{version} {tags.get(f'{TAG_PREFIX}family', '?')}",
                "gate": tags.get(f"{TAG_PREFIX}gate_summary", "")[:80],
                "champion": "yes" if tags.get(f"{TAG_PREFIX}promoted_by") else "no",
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    from champion_report import retraining_rows  # beside this script

    settings = load_settings()
    table = timeline(settings)
    with pd.option_context("display.width", 250, "display.max_colwidth", 90):
        print("Retrainings, as the registry recorded them:")
        print(table.to_string(index=False) if len(table) else "(none)")
        realized = pd.DataFrame(retraining_rows(settings))
        if len(realized):
            print("\nRealized on the days after each retraining (champion_report):")
            print(realized.to_string(index=False))


if __name__ == "__main__":
    main()
