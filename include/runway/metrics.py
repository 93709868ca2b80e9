"""How good a probability is: ranking, calibration, per-slice, and the plots that show it."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

ECE_BINS = 10
EPS = 1e-6  # log loss clips probabilities to [EPS, 1 - EPS]


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |observed rate - mean predicted probability| over `bins` equal-width probability
    bins, weighted by the share of rows in each bin."""
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    if len(y) == 0:
        return math.nan
    index = np.minimum((p * bins).astype("int64"), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def classification_metrics(y, p) -> dict[str, float]:
    """`roc_auc`, `pr_auc`, `log_loss`, `brier`, `ece`, plus `rows`, `base_rate` and
    `base_log_loss` (the log loss of always predicting the base rate: the bar for skill).
    AUCs are NaN when the rows hold a single class."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype="int64")
    p = np.clip(np.asarray(p, dtype="float64"), EPS, 1 - EPS)
    rate = float(y.mean()) if len(y) else math.nan
    two_classes = len(np.unique(y)) == 2
    prior = min(max(rate, EPS), 1 - EPS) if len(y) else math.nan
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if two_classes else math.nan,
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "rows": float(len(y)),
        "base_rate": rate,
        "base_log_loss": float(-(rate * math.log(prior) + (1 - rate) * math.log(1 - prior))),
    }


@dataclasses.dataclass(frozen=True)
class SliceMetric:
    """One slice of the test rows (e.g. carrier = "UA") and how the model ranks inside it."""

    column: str
    value: str
    rows: int
    positives: int
    roc_auc: float  # NaN when the slice holds a single class

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"


def slice_metrics(frame: pd.DataFrame, y, p, columns=("carrier", "origin")) -> list[SliceMetric]:
    """ROC AUC of each value of each slice column, every slice reported with its size."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype="int64")
    p = np.asarray(p, dtype="float64")
    out = []
    for col in columns:
        values = frame[col].astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            ys = y[mask]
            auc = float(roc_auc_score(ys, p[mask])) if len(np.unique(ys)) == 2 else math.nan
            out.append(SliceMetric(col, value, int(mask.sum()), int(ys.sum()), auc))
    return out


# ---- plots -----------------------------------------------------------------------------------
def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; never a display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(
    y, p, out_dir: Path, importance: dict[str, float] | None = None, title: str = ""
) -> list[Path]:
    """ROC, precision-recall, calibration (and feature importance when given) as PNG files."""
    from sklearn.metrics import precision_recall_curve, roc_curve

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    y = np.asarray(y, dtype="int64")
    p = np.asarray(p, dtype="float64")
    paths = []

    plt, fig, ax = _figure()
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label="model")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC {title}")
    ax.legend(loc="lower right")
    paths.append(_save(plt, fig, out_dir / "roc.png"))

    plt, fig, ax = _figure()
    precision, recall, _ = precision_recall_curve(y, p)
    ax.plot(recall, precision, label="model")
    ax.axhline(y.mean(), linestyle="--", color="grey", label="base rate")
    ax.set(xlabel="recall", ylabel="precision", title=f"Precision-recall {title}")
    ax.legend(loc="upper right")
    paths.append(_save(plt, fig, out_dir / "pr.png"))

    plt, fig, ax = _figure()
    index = np.minimum((p * ECE_BINS).astype("int64"), ECE_BINS - 1)
    filled = [b for b in range(ECE_BINS) if (index == b).any()]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(
        [p[index == b].mean() for b in filled],
        [y[index == b].mean() for b in filled],
        "o-",
        label=f"model (ECE {expected_calibration_error(y, p):.3f})",
    )
    ax.set(xlabel="mean predicted probability", ylabel="observed delayed rate")
    ax.set(title=f"Calibration {title}", xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left")
    paths.append(_save(plt, fig, out_dir / "calibration.png"))

    if importance:
        top = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:20][::-1]
        plt, fig, ax = _figure()
        fig.set_size_inches(6, 6)
        ax.barh([k for k, _ in top], [v for _, v in top])
        ax.set(xlabel="importance", title=f"Feature importance {title}")
        ax.tick_params(axis="y", labelsize=7)
        paths.append(_save(plt, fig, out_dir / "feature_importance.png"))
    return paths
