"""The retraining decision: one function of the monitoring history, no side effects.

`retraining_decision` reads the champion's `monitoring_metrics` rows and says whether today's
monitoring run triggers a training run, why (or why not), and the evidence: every signal with
its value, its threshold, its interval where it is a statistic, and whether it fired.

The signals (thresholds in `settings.RetrainPolicy`):
- drift: the calibrated drift share (`drift_share`: the share of feature columns beyond their
  own week-to-week variation) reached the threshold on each of the last `consecutive_days`
  days;
- decay, on the trailing window's labelled flights, each with a day-block bootstrap interval:
  realized AUC whose upper bound is below the champion's test AUC minus `auc_drop`; realized
  log loss whose lower bound is above the test log loss plus `log_loss_rise`; realized ECE
  whose lower bound is above `max_ece`. An interval that still holds the threshold is noise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import pandas as pd

from runway.days import local_day, trailing
from runway.settings import RetrainPolicy

# The monitoring_metrics names the decision reads (monitoring.steps writes them).
DRIFT_SHARE = "drift_share"
REALIZED = "realized_{}"  # auc, log_loss, ece: the point value ...
REALIZED_LOW = "realized_{}_low"  # ... and its interval
REALIZED_HIGH = "realized_{}_high"
REALIZED_AUC = REALIZED.format("auc")


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether to retrain, why (or why not), and the numbers behind it.

    `reason`: 'drift' or 'decay' when `retrain`; otherwise 'no signal', 'not allowed',
    'training active' or 'cooldown'. `evidence` is JSON-serialisable: it becomes the training
    run's conf, and `evidence["signals"]` lists every signal with its figures.
    """

    retrain: bool
    reason: str
    evidence: dict

    @property
    def fired(self) -> list[str]:
        return [s["signal"] for s in self.evidence["signals"] if s["fired"]]


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _decay(name: str, metric: str, today: dict, threshold: float | None, worse: str) -> dict:
    """A decay signal: fires when the whole interval is on the bad side of the threshold."""
    value = today.get(REALIZED.format(metric))
    low, high = today.get(REALIZED_LOW.format(metric)), today.get(REALIZED_HIGH.format(metric))
    if worse == "below":
        fired = high is not None and threshold is not None and high < threshold
        rule = "upper bound below"
    else:
        fired = low is not None and threshold is not None and low > threshold
        rule = "lower bound above"
    return {
        "signal": name,
        "metric": metric,
        "value": value,
        "interval": [low, high],
        "threshold": threshold,
        "rule": f"{rule} the threshold",
        "fired": bool(fired),
    }


def retraining_decision(
    history: pd.DataFrame,
    today: dt.date,
    champion: dict[str, float | None],
    last_retrain: dt.datetime | None,
    policy: RetrainPolicy,
    training_active: bool = False,
    allowed: bool = True,
) -> Decision:
    """Decide from the champion's `monitoring_metrics` rows (columns day, metric, value)
    whether `today`'s monitoring run triggers a training run.

    `champion` holds its test figures: `roc_auc`, `log_loss` (None where unknown). A fired
    signal retrains unless the run may not retrain (`allowed` false), a training run is
    active, or the last retraining is fewer than `policy.cooldown_days` days before `today`
    (or after it: a rerun of an old day does not retrain a newer model). Rows after `today`
    are ignored, so a rerun decides as the first run did.
    """
    window = trailing(today, policy.consecutive_days)
    frame = pd.DataFrame(history, columns=["day", "metric", "value"]).copy()
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame = frame[frame["day"].isin(window) & frame["value"].notna()]
    by_day: dict[dt.date, dict[str, float]] = {}
    for row in frame.groupby(["day", "metric"])["value"].mean().reset_index().itertuples():
        by_day.setdefault(row.day, {})[row.metric] = float(row.value)
    now = by_day.get(today, {})

    shares = {d: by_day.get(d, {}).get(DRIFT_SHARE) for d in window}
    over = [d for d in window if shares[d] is not None and shares[d] >= policy.drift_threshold]
    drift = {
        "signal": "drift",
        "metric": DRIFT_SHARE,
        "value": shares[today],
        "by_day": {d.isoformat(): v for d, v in shares.items()},
        "threshold": float(policy.drift_threshold),
        "rule": f"at or above the threshold on each of the last {policy.consecutive_days} days",
        "days_over": len(over),
        "fired": len(over) == policy.consecutive_days,
    }
    test_auc, test_loss = _finite(champion.get("roc_auc")), _finite(champion.get("log_loss"))
    signals = [
        drift,
        _decay(
            "decay_auc",
            "auc",
            now,
            None if test_auc is None else test_auc - policy.auc_drop,
            "below",
        ),
        _decay(
            "decay_log_loss",
            "log_loss",
            now,
            None if test_loss is None else test_loss + policy.log_loss_rise,
            "above",
        ),  # fmt: skip
        _decay("decay_calibration", "ece", now, float(policy.max_ece), "above"),
    ]
    fired = [s["signal"] for s in signals if s["fired"]]

    since = (today - local_day(last_retrain)).days if last_retrain is not None else None
    in_cooldown = since is not None and (since < 0 or since < policy.cooldown_days)
    evidence = {
        "today": today.isoformat(),
        "window": [d.isoformat() for d in window],
        "signals": signals,
        "fired": fired,
        "champion_test": {"roc_auc": test_auc, "log_loss": test_loss},
        "last_retrain": last_retrain.isoformat() if last_retrain is not None else None,
        "days_since_retrain": since,
        "cooldown_days": int(policy.cooldown_days),
        "training_active": bool(training_active),
        "allowed": bool(allowed),
    }
    if not fired:
        return Decision(False, "no signal", evidence)
    if not allowed:
        return Decision(False, "not allowed", evidence)
    if training_active:
        return Decision(False, "training active", evidence)
    if in_cooldown:
        return Decision(False, "cooldown", evidence)
    return Decision(True, "drift" if fired[0] == "drift" else "decay", evidence)


def describe(decision: Decision) -> str:
    """One line per signal, for the task log and the run's note."""
    lines = [f"retrain: {decision.retrain} ({decision.reason})"]
    for s in decision.evidence["signals"]:
        value = "n/a" if s["value"] is None else f"{s['value']:.4f}"
        interval = s.get("interval")
        shown = (
            f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval and None not in interval else ""
        )
        threshold = "n/a" if s["threshold"] is None else f"{s['threshold']:.4f}"
        lines.append(
            f"  {s['signal']:18s} {value}{shown} vs {threshold} ({s['rule']}): "
            + ("FIRED" if s["fired"] else "quiet")
        )
    return "\n".join(lines)
