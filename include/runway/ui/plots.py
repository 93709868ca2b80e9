"""The story's time axis as inline SVG: drift share, realized AUC and ECE with their day-block
intervals, and each retraining on the same days (matplotlib, no JavaScript, no CDN)."""

from __future__ import annotations

import datetime as dt
import io

from runway.ui.story import Story


def _window_end(version) -> dt.date | None:
    window = version.tag("training_window")
    return dt.date.fromisoformat(window.split("..")[-1]) if ".." in window else None


def timeline_svg(story: Story, drift_threshold: float, max_ece: float) -> str:
    """Three panels over the monitored days; empty string when nothing is monitored yet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = story.series
    if not any(series.get(k) for k in ("drift_share", "realized_auc", "realized_ece")):
        return ""
    fig, axes = plt.subplots(3, 1, figsize=(10, 6.6), sharex=True, constrained_layout=True)
    panels = [
        ("drift_share", "drifted share of features", drift_threshold, "retrain threshold"),
        ("realized_auc", "realized AUC (90% interval)", None, ""),
        ("realized_ece", "realized ECE (90% interval)", max_ece, "max ECE"),
    ]
    for ax, (metric, label, line, line_label) in zip(axes, panels, strict=True):
        points = series.get(metric, [])
        if points:
            days, values = zip(*points, strict=True)
            ax.plot(days, values, marker="o", markersize=3, color="#1f5f99", label=metric)
            low, high = (
                dict(series.get(f"{metric}_low", [])),
                dict(series.get(f"{metric}_high", [])),
            )
            band = [d for d in days if d in low and d in high]
            if band:
                ax.fill_between(
                    band, [low[d] for d in band], [high[d] for d in band], color="#1f5f99",
                    alpha=0.18, linewidth=0,
                )  # fmt: skip
        if line is not None:
            ax.axhline(line, color="#b03030", linestyle="--", linewidth=1, label=line_label)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    for version in story.versions:
        end = _window_end(version)
        if end is None:
            continue
        trigger = version.tag("trigger", "schedule")
        color = "#2e7d32" if version.tag("promoted_by") else "#888888"
        for ax in axes:
            ax.axvline(end, color=color, linestyle=":" if trigger == "schedule" else "-", lw=1)
        axes[0].annotate(
            f"v{version.version} {trigger}", (end, 1), xycoords=("data", "axes fraction"),
            rotation=90, fontsize=7, va="top", ha="right", color=color,
        )  # fmt: skip
    axes[0].legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel(
        "monitored day; vertical lines: a version's training window end "
        "(green: promoted, solid: triggered by a signal, dotted: scheduled or manual)",
        fontsize=8,
    )
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    plt.close(fig)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
