"""The experiment's HTML report: the arms over time and the interval of the difference.

One self-contained file per experiment (plots inlined as PNG data), rewritten at every look:
the plan, each look's decision with its evidence, the per-arm figures with day-block
intervals, and two plots: each arm's within-day AUC per day, and the running mean difference
with its interval against the look's O'Brien-Fleming boundary (on the z scale).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from runway.settings import ExperimentPolicy


def arm_figures(frame: pd.DataFrame, policy: ExperimentPolicy, seed: int = 0) -> pd.DataFrame:
    """Per arm, on its labelled flights: AUC, log loss, Brier, ECE with day-block intervals."""
    from runway import intervals
    from runway.experiments.assignment import CHALLENGER, CHAMPION

    rows = []
    labelled = frame[frame["label"].notna() & ~frame["error"]]
    for arm in (CHAMPION, CHALLENGER):
        part = labelled[labelled["arm"] == arm]
        if part.empty or part["label"].nunique() < 2:
            continue
        for metric in ("roc_auc", "log_loss", "brier", "ece"):
            est = intervals.estimate(
                part["label"].to_numpy(), part["score"].to_numpy(),
                part["day"].dt.date.astype(str).to_numpy(), metric,
                resamples=policy.resamples, level=policy.level, seed=seed,
            )  # fmt: skip
            rows.append({"arm": arm, **est.to_dict()})
    return pd.DataFrame(rows)


def daily_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per day and arm: flights answered, labelled, and the within-day AUC."""
    from runway.experiments.assignment import CHALLENGER, CHAMPION
    from runway.experiments.decision import daily_auc, rows_of

    per = daily_auc(rows_of(frame))
    days = pd.to_datetime(per["day"], unit="D").date
    out = []
    for i, day in enumerate(days):
        for j, arm in enumerate((CHAMPION, CHALLENGER)):
            out.append({"day": day, "arm": arm, "labelled": int(per["n"][i, j]),
                        "auc": float(per["auc"][i, j])})  # fmt: skip
    columns = ["day", "arm", "labelled", "auc"]
    return pd.DataFrame(out, columns=columns).replace({np.nan: None})


def looks_table(experiment: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per look (the record's decisions, in day order): the challenger's share that
    day (configured, and as served), each arm's labelled flights, within-day AUC and ECE on
    that day's flights, the primary test's z against its boundary, its p-value and interval,
    and the action taken."""
    from runway import metrics
    from runway.experiments.assignment import CHALLENGER, CHAMPION

    ramp = experiment.get("ramp") or []
    share = float(ramp[0]) if experiment["mode"] == "canary" and ramp else None
    if share is None:
        share = float(experiment["share"]) if experiment["mode"] != "shadow" else 1.0
    day_of = frame["day"].dt.date
    labelled = frame["label"].notna() & ~frame["error"]
    daily = daily_table(frame) if len(frame) else pd.DataFrame(columns=["day", "arm", "auc"])
    auc = {(r.day, r.arm): r.auc for r in daily.itertuples()}
    out = []
    for decision in experiment["decisions"]:
        day = pd.Timestamp(decision["day"]).date()
        today = frame[day_of == day]
        answered = today[today["arm"] == CHALLENGER]
        row = {
            "day": day.isoformat(),
            "share": share,
            "served share": len(answered) / len(today) if len(today) else None,
        }
        for arm, short in ((CHAMPION, "champ"), (CHALLENGER, "chall")):
            part = today[(today["arm"] == arm) & labelled[day_of == day]]
            row[f"n {short}"] = len(part)
            row[f"AUC {short}"] = auc.get((day, arm))
            row[f"ECE {short}"] = (
                metrics.expected_calibration_error(part["label"], part["score"])
                if len(part)
                else None
            )
        low, high = decision.get("interval") or (None, None)
        row |= {
            "z": decision.get("z"),
            "boundary": decision.get("boundary"),
            "p": decision.get("p_value"),
            "diff interval": None if low is None else f"[{low:+.3f}, {high:+.3f}]",
            "decision": decision["action"],
            "reason": decision["reason"],
        }
        out.append(row)
        share = float(decision.get("share", share)) if decision["action"] == "ramp" else share
    return pd.DataFrame(out)


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode()


def plots(experiment: dict, daily: pd.DataFrame) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    images = []
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    for arm, part in daily.groupby("arm"):
        ax.plot(part["day"], part["auc"].astype(float), "o-", label=arm)
    ax.set(title="within-day AUC per arm", xlabel="flight day", ylabel="AUC")
    ax.legend()
    fig.autofmt_xdate()
    images.append(_png(fig))
    plt.close(fig)

    looks = [d for d in experiment["decisions"] if d.get("interval") and d.get("value") is not None]
    looks = [d for d in looks if d["interval"][0] is not None]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    if looks:
        days = [d["day"] for d in looks]
        value = [d["value"] for d in looks]
        low = [d["interval"][0] for d in looks]
        high = [d["interval"][1] for d in looks]
        ax.fill_between(days, low, high, alpha=0.3, label="interval of the difference")
        ax.plot(days, value, "o-", label="mean daily AUC difference (challenger - champion)")
        ax.axhline(0, color="grey", linestyle="--")
        twin = ax.twinx()
        twin.plot(days, [d.get("z") for d in looks], "k.", label="z")
        twin.plot(days, [d.get("boundary") for d in looks], "g_", markersize=12, label="boundary")
        twin.set_ylabel("z / promotion boundary")
        ax.legend(loc="upper left", fontsize=7)
    ax.set(title="the difference, and the sequential boundary", xlabel="look")
    fig.autofmt_xdate()
    images.append(_png(fig))
    plt.close(fig)
    return images


def write(experiment: dict, frame: pd.DataFrame, out_dir: Path, policy: ExperimentPolicy) -> Path:
    """Write (atomically, replacing) the experiment's report; return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    daily = daily_table(frame)
    figures = arm_figures(frame, policy)
    looks = pd.DataFrame(
        [
            {
                k: d.get(k)
                for k in (
                    "day",
                    "action",
                    "reason",
                    "signal",
                    "value",
                    "threshold",
                    "p_value",
                    "z",
                    "boundary",
                    "days",
                    "share",
                )
            }  # fmt: skip
            | {"n": json.dumps(d.get("n"))}
            for d in experiment["decisions"]
        ]
    )
    title = f"Experiment {experiment['experiment_id']}"
    parts = [
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>champion v{experiment['champion_version']} vs challenger "
        f"v{experiment['challenger_version']}, mode {experiment['mode']}, share "
        f"{experiment['share']:.0%}, status <b>{experiment['status']}</b>, started "
        f"{experiment['start']}, planned {experiment['planned_days']} days.</p>",
        f"<h2>Plan</h2><pre>{html.escape(json.dumps(experiment['plan'], indent=1))}</pre>",
        "<h2>Looks</h2>",
        looks.to_html(index=False) if len(looks) else "<p>no look yet</p>",
        "<h2>Per arm (day-block intervals)</h2>",
        figures.to_html(index=False) if len(figures) else "<p>no labelled flights yet</p>",
        *(f"<img src='data:image/png;base64,{img}'/>" for img in plots(experiment, daily)),
        "</body></html>",
    ]
    path = out_dir / f"{experiment['experiment_id']}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text("\n".join(parts))
    os.replace(tmp, path)
    return path
