"""Figure 8: training time per model family on CPU (and on a GPU when the machine has one).

`runway.training.candidates.train_candidate(family, train, valid, n_trials=1, ...)` on the
training window's featured flights, split as the training DAG does (7 validation and 7 test
days), with Settings.train_threads threads per fit (what the DAG passes). Each fit is a fresh
process; time is `train_candidate`'s own `fit_seconds` (prepare + trials), memory the peak RSS.
With a GPU (torch sees CUDA), the GPU families run again with device='cuda': the ratio is the
figure. Without one the GPU side is reported as 'no GPU'.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.harness import Figure, run_child

FAMILIES = ("xgboost", "lightgbm", "torch")
GPU_FAMILIES = ("xgboost", "torch")


def run(ctx: Context) -> Figure:
    fig = Figure(
        name="training",
        title="Training time per family (n_trials=1), CPU; GPU when present",
        contender="runway.training.candidates.train_candidate(family, n_trials=1)",
        baselines=["the same family on CPU (for the GPU ratio)"],
    )
    world = ctx.world(1)
    start, end = ctx.range(ctx.args.train_range)
    frame = world.featured_frame(start, end, ctx.log)
    timeout = 20 if ctx.quick else 120
    probe = run_child("bench.figures.training:gpu_child", {}, env=world.env(), log=ctx.log)
    gpu = probe["cuda"]
    fig.params = {
        "training_window": f"{start}..{end}",
        "n_trials": 1,
        "timeout_s": timeout,
        "gpu": probe["name"] or "no GPU",
        "repeats": ctx.repeats,
    }
    devices = ["cpu"] + (["cuda"] if gpu else [])
    samples: dict[tuple[str, str], dict[str, list[float]]] = {}
    for rep in range(ctx.repeats):
        for family in FAMILIES:
            for device in devices:
                if device == "cuda" and family not in GPU_FAMILIES:
                    continue
                ctx.say(f"training: {family} on {device}, run {rep + 1}/{ctx.repeats}")
                result = run_child(
                    "bench.figures.training:train_child",
                    {"frame": str(frame), "family": family, "device": device, "timeout_s": timeout},
                    env=world.env(),
                    log=ctx.log,
                )
                s = samples.setdefault(
                    (family, device), {"fit": [], "rss": [], "auc": [], "iters": []}
                )
                s["fit"].append(result["fit_seconds"])
                s["rss"].append(result["peak_rss_mb"])
                s["auc"].append(result["valid_auc"])
                s["iters"].append(result["best_iteration"] or 0)
                fig.params.setdefault("rows", result["rows"])
                fig.params.setdefault("threads", result["threads"])
                if result["device"] != device:
                    fig.notes.append(f"{family} asked for {device} trained on {result['device']}")
    for (family, device), s in samples.items():
        fig.measure(family, device, "fit_s", s["fit"], "s")
        fig.measure(family, device, "peak_rss_mb", s["rss"], "MiB")
        fig.measure(family, device, "valid_auc", s["auc"], "")
        fig.measure(family, device, "best_iteration", s["iters"], "rounds/epochs")
    for family in GPU_FAMILIES:
        if gpu:
            value = fig.add_ratio(
                f"{family}: cpu / gpu fit time",
                fig.get(family, "cpu", "fit_s"),
                fig.get(family, "cuda", "fit_s"),
                "x faster on the GPU",
            )
            fig.target(f"{family}: GPU/CPU ratio reported", value, ">=", 0.0, "x")
        else:
            fig.target(
                f"{family}: GPU/CPU ratio reported",
                None,
                ">=",
                0.0,
                "x",
                reason="no GPU on this machine",
            )
    fig.notes.append(
        "Fits stop early (50 rounds/epochs without improvement) or at the timeout; "
        "compare fit_s together with best_iteration."
    )
    return fig


# ---- child bodies -----------------------------------------------------------------------------
def gpu_child() -> dict:
    import torch

    cuda = bool(torch.cuda.is_available())
    return {"cuda": cuda, "name": torch.cuda.get_device_name(0) if cuda else None}


def train_child(frame: str, family: str, device: str, timeout_s: float) -> dict:
    import pandas as pd

    from runway.settings import load_settings
    from runway.training.candidates import train_candidate
    from runway.training.data import split_by_date

    settings = load_settings()
    data = pd.read_parquet(frame)
    split = split_by_date(data, valid_days=7, test_days=7)
    t0 = time.perf_counter()
    result = train_candidate(
        family,
        split.train,
        split.valid,
        n_trials=1,
        timeout_s=timeout_s,
        device=device,
        threads=settings.train_threads or None,
    )
    return {
        "fit_seconds": result.fit_seconds,
        "wall_s": time.perf_counter() - t0,
        "device": result.device,
        "valid_auc": result.valid_metrics["roc_auc"],
        "best_iteration": result.best_iteration,
        "rows": result.train_rows,
        "threads": settings.train_threads,
    }
