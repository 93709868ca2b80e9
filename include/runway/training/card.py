"""The evidence a person reads about one version, written when the gate judges it: the gate
verdict as a report, and the model card (what it predicts, lineage, test metrics beside the
baseline, calibration, slices, what drives it, known limits).

Both go to the reports folder (the Runway view links them) and onto the version's MLflow run
(`gate/verdict.html`, `model_card.html`), written to a temporary name and renamed.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from runway import contracts
from runway.io import write_text_atomic
from runway.metrics import classification_metrics, slice_metrics
from runway.training.data import DATE
from runway.ui.pages import CARD, GATE, render

LINEAGE = (
    "training_window", "data_hash", "git_commit", "airflow_run_id", "feature_service",
    "feature_service_version", "trigger",
)  # fmt: skip
CARD_METRICS = ("roc_auc", "log_loss", "brier", "ece", "base_rate")
MIN_SLICE_ROWS = 300


def report_name(model_name: str, version: int) -> str:
    return f"{model_name}-v{int(version)}.html"


def _window(test: pd.DataFrame) -> str:
    days = pd.to_datetime(test[DATE]).dt.date
    return f"{days.min()}..{days.max()}"


def gate_report(
    verdict, *, model_name: str, version: int, family: str, test: pd.DataFrame, baseline
) -> str:
    return render(
        GATE,
        verdict=verdict,
        model=model_name,
        version=version,
        family=family,
        test_window=_window(test),
        test_rows=len(test),
        baseline=baseline,
    )


def _calibration_svg(y: np.ndarray, p: np.ndarray, bins: int = 10) -> str:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    mean_p = [p[which == b].mean() for b in range(bins) if (which == b).any()]
    rate = [y[which == b].mean() for b in range(bins) if (which == b).any()]
    fig, ax = plt.subplots(figsize=(4.2, 3.6), constrained_layout=True)
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", linewidth=1, label="perfect")
    ax.plot(mean_p, rate, marker="o", color="#1f5f99", label="this version (deciles)")
    ax.set_xlabel("predicted probability", fontsize=8)
    ax.set_ylabel("observed delayed share", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _drivers(scorer, frame: pd.DataFrame) -> tuple[list[tuple[str, float]], str]:
    contributions = scorer.contributions(frame) if scorer is not None else None
    if contributions is None:
        return [], (
            f"{getattr(scorer, 'family', 'this family')} gives no per-feature contributions; "
            "see its coefficients or importances in the MLflow run."
        )
    mean_abs = contributions.abs().mean().sort_values(ascending=False)
    method = (
        "SHAP contributions computed by the booster itself (TreeSHAP), mean absolute value "
        f"over {len(frame)} test flights, in log-odds."
    )
    return [(str(k), float(v)) for k, v in mean_abs.head(15).items()], method


def model_card(
    *,
    model_name: str,
    version: int,
    family: str,
    lineage: dict[str, str],
    test: pd.DataFrame,
    scores: np.ndarray,
    baseline_scores: np.ndarray | None,
    baseline_version: int | None,
    scorer=None,
) -> str:
    y = test[contracts.LABEL].to_numpy(dtype="int64")
    mine = classification_metrics(y, scores)
    theirs = classification_metrics(y, baseline_scores) if baseline_scores is not None else {}
    slices = [
        s
        for s in slice_metrics(test, y, scores)
        if s.rows >= MIN_SLICE_ROWS and not math.isnan(s.roc_auc)
    ]
    sample = test.sample(min(len(test), 2000), random_state=0)
    drivers, method = _drivers(scorer, sample)
    return render(
        CARD,
        model=model_name,
        version=version,
        family=family,
        lineage=lineage,
        test_window=_window(test),
        test_rows=len(test),
        metrics=[(k, mine.get(k), theirs.get(k)) for k in CARD_METRICS],
        baseline_version=baseline_version,
        calibration=_calibration_svg(y, np.asarray(scores, dtype="float64")),
        slices=slices,
        drivers=drivers,
        drivers_method=method,
    )


def write(reports_dir: Path, kind: str, name: str, html: str) -> Path:
    """`<reports_dir>/<kind>/<name>`, atomically."""
    path = Path(reports_dir) / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(html, path)
    return path
