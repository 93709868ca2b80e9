"""The retraining decision: one function of the monitoring history, no side effects.

`retraining_decision` reads the champion's `monitoring_metrics` rows and says whether today's
monitoring run triggers a training run, why (or why not), and the numbers behind it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd

from runway.days import local_day, trailing
from runway.settings import RetrainPolicy

# The monitoring_metrics names the decision reads: the drift report's share as is, and the
# realized performance's auc under the `realized_` prefix the monitoring steps give it.
DRIFT_SHARE = "drift_share"
REALIZED_AUC = "realized_auc"


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether to retrain, why (or why not), and the numbers behind it.

    `reason`: 'drift' or 'decay' when `retrain`; otherwise 'no signal', 'not allowed',
    'training active' or 'cooldown'. `evidence` is JSON-serialisable: it becomes the training
    run's conf.
    """

    retrain: bool
    reason: str
    evidence: dict


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def retraining_decision(
    history: pd.DataFrame,
    today: dt.date,
    champion_test_auc: float | None,
    last_retrain: dt.datetime | None,
    policy: RetrainPolicy,
    training_active: bool = False,
    allowed: bool = True,
) -> Decision:
    """Decide from the champion's `monitoring_metrics` rows (columns day, metric, value)
    whether `today`'s monitoring run triggers a training run.

    Signals, over the window of the `policy.consecutive_days` calendar days ending `today`:
    - drift: every day of the window has a `drift_share` above `policy.drift_threshold` (a
      missing day breaks the streak);
    - decay: the mean `realized_auc` over the window's labelled days is below
      `champion_test_auc - policy.auc_drop` (the mean, not one day: a day's AUC over ~900
      flights moves by a few hundredths on its own).
    A signal retrains unless the run may not retrain (`allowed` false), a training run is
    active, or the last retraining is fewer than `policy.cooldown_days` days before `today`
    (or after it: a rerun of an old day does not retrain a newer model). Rows after `today`
    are ignored, so a rerun decides as the first run did.
    """
    window = trailing(today, policy.consecutive_days)
    frame = pd.DataFrame(history, columns=["day", "metric", "value"]).copy()
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame[frame["day"].isin(window) & frame["value"].notna()]

    def by_day(metric: str) -> dict[dt.date, float]:
        rows = frame[frame["metric"] == metric]
        return {d: float(v) for d, v in rows.groupby("day")["value"].mean().items()}

    drift = by_day(DRIFT_SHARE)
    drift_days = [d for d in window if d in drift and drift[d] > policy.drift_threshold]
    drift_signal = len(drift_days) == policy.consecutive_days

    auc = by_day(REALIZED_AUC)
    labelled = [d for d in window if d in auc]
    realized_auc = float(np.mean([auc[d] for d in labelled])) if labelled else None
    test_auc = _finite(champion_test_auc)
    auc_floor = test_auc - policy.auc_drop if test_auc is not None else None
    decay_signal = realized_auc is not None and auc_floor is not None and realized_auc < auc_floor

    since = (today - local_day(last_retrain)).days if last_retrain is not None else None
    in_cooldown = since is not None and (since < 0 or since < policy.cooldown_days)
    signals = [name for name, on in (("drift", drift_signal), ("decay", decay_signal)) if on]

    evidence = {
        "today": today.isoformat(),
        "window": [d.isoformat() for d in window],
        "signals": signals,
        "drift_share_by_day": {d.isoformat(): drift.get(d) for d in window},
        "drift_threshold": float(policy.drift_threshold),
        "drift_days": len(drift_days),
        "consecutive_days": int(policy.consecutive_days),
        "realized_auc_by_day": {d.isoformat(): auc.get(d) for d in window},
        "realized_auc": realized_auc,
        "champion_test_auc": test_auc,
        "auc_drop": float(policy.auc_drop),
        "auc_floor": auc_floor,
        "last_retrain": last_retrain.isoformat() if last_retrain is not None else None,
        "days_since_retrain": since,
        "cooldown_days": int(policy.cooldown_days),
        "training_active": bool(training_active),
        "allowed": bool(allowed),
    }
    if not signals:
        return Decision(False, "no signal", evidence)
    if not allowed:
        return Decision(False, "not allowed", evidence)
    if training_active:
        return Decision(False, "training active", evidence)
    if in_cooldown:
        return Decision(False, "cooldown", evidence)
    return Decision(True, signals[0], evidence)
