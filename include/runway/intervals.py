"""Intervals over days: how sure a metric is when the flights of a day are not independent.

The flights of one day share its weather and its knock-on delays, so their outcomes move
together: an interval that resamples flights is far too narrow. Every interval here resamples
whole days (a day-block bootstrap, percentile method): each resample draws the days with
replacement, and a day drawn twice counts twice. The metrics are computed from per-day
sufficient statistics (sums, and for AUC the score order computed once), so a thousand
resamples of a hundred thousand flights take about a second.

`estimate(y, p, days, metric)` gives one metric with its interval; `difference(y, a, b, days,
metric)` gives metric(a) - metric(b) on the same resampled days (paired: both models scored the
same flights), the comparison the model gate and the monitor make.

Metrics: `roc_auc` (pooled), `daily_auc` (the mean of the days' own AUCs: how well a model
ranks flights within a day, not telling bad days from good ones), `log_loss`, `brier`, `ece`
(10 equal-width bins, as `runway.metrics`), `mean_score` and `rate` (the observed delayed rate).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

METRICS = ("roc_auc", "daily_auc", "log_loss", "brier", "ece", "mean_score", "rate")
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "daily_auc": True,
    "log_loss": False,
    "brier": False,
    "ece": False,
}
EPS = 1e-6
ECE_BINS = 10
RESAMPLES = 1000
LEVEL = 0.90


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A metric (or a difference of two), its day-block bootstrap interval, and its support."""

    metric: str
    value: float
    low: float
    high: float
    level: float
    days: int
    rows: int
    resamples: int

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in dataclasses.asdict(self).items()
        }

    def __str__(self) -> str:
        interval = f"[{self.low:.4f}, {self.high:.4f}]"
        return f"{self.value:.4f} {interval} ({self.level:.0%}, {self.days} days)"


class _Days:
    """Per-day sufficient statistics of one set of scores on labelled, dated rows."""

    def __init__(self, y: np.ndarray, p: np.ndarray, day_index: np.ndarray, n_days: int):
        self.n_days = n_days
        self.y, self.p, self.day = y, p, day_index
        self.n = np.bincount(day_index, minlength=n_days).astype("float64")
        self.pos = np.bincount(day_index, weights=y, minlength=n_days)
        clipped = np.clip(p, EPS, 1 - EPS)
        loss = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
        self.loss = np.bincount(day_index, weights=loss, minlength=n_days)
        self.sq = np.bincount(day_index, weights=(p - y) ** 2, minlength=n_days)
        self.score = np.bincount(day_index, weights=p, minlength=n_days)
        bins = np.minimum((p * ECE_BINS).astype("int64"), ECE_BINS - 1)
        cell = day_index * ECE_BINS + bins
        size = n_days * ECE_BINS
        self.bin_n = np.bincount(cell, minlength=size).reshape(n_days, ECE_BINS)
        self.bin_y = np.bincount(cell, weights=y, minlength=size).reshape(n_days, ECE_BINS)
        self.bin_p = np.bincount(cell, weights=p, minlength=size).reshape(n_days, ECE_BINS)
        # pooled AUC: rows sorted by score once, ties grouped
        order = np.argsort(p, kind="mergesort")
        _, self.group = np.unique(p[order], return_inverse=True)
        self.sorted_y = y[order]
        self.sorted_day = day_index[order]
        self.day_auc = np.full(n_days, np.nan)
        for d in range(n_days):
            rows = day_index == d
            self.day_auc[d] = _auc(y[rows], p[rows])

    def value(self, metric: str, counts: np.ndarray) -> float:
        """The metric when day d is counted counts[d] times."""
        rows = counts @ self.n
        if rows == 0:
            return math.nan
        if metric == "log_loss":
            return float(counts @ self.loss / rows)
        if metric == "brier":
            return float(counts @ self.sq / rows)
        if metric == "mean_score":
            return float(counts @ self.score / rows)
        if metric == "rate":
            return float(counts @ self.pos / rows)
        if metric == "ece":
            n, y, p = (counts @ m for m in (self.bin_n, self.bin_y, self.bin_p))
            return float(np.abs(y - p).sum() / rows)
        if metric == "daily_auc":
            defined = ~np.isnan(self.day_auc) & (counts > 0)
            if not defined.any():
                return math.nan
            return float(np.average(self.day_auc[defined], weights=counts[defined]))
        if metric == "roc_auc":
            w = counts[self.sorted_day]
            pos = np.bincount(self.group, weights=w * self.sorted_y)
            neg = np.bincount(self.group, weights=w * (1 - self.sorted_y))
            total_pos, total_neg = pos.sum(), neg.sum()
            if total_pos == 0 or total_neg == 0:
                return math.nan
            below = np.cumsum(neg) - neg
            return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))
        raise ValueError(f"unknown metric {metric!r}; one of {METRICS}")


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    positives = y.sum()
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return math.nan
    order = np.argsort(p, kind="mergesort")
    _, group = np.unique(p[order], return_inverse=True)
    ys = y[order]
    pos = np.bincount(group, weights=ys)
    neg = np.bincount(group, weights=1 - ys)
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (positives * negatives))


def _prepare(y, days, *scores):
    y = np.asarray(y, dtype="float64")
    days = np.asarray(days)
    arrays = [np.asarray(s, dtype="float64") for s in scores]
    if any(len(a) != len(y) for a in arrays) or len(days) != len(y):
        raise ValueError("labels, scores and days must have one value per row")
    if len(y) == 0:
        raise ValueError("no rows to estimate from")
    if any(np.isnan(a).any() for a in arrays):
        raise ValueError("scores hold NaN: score every row before estimating")
    _, day_index = np.unique(days, return_inverse=True)
    return y, day_index, int(day_index.max()) + 1, arrays


def _resampled(n_days: int, resamples: int, seed: int) -> np.ndarray:
    """`resamples` rows of day counts: each a draw of n_days days with replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_days, size=(resamples, n_days))
    return np.stack([np.bincount(row, minlength=n_days) for row in draws]).astype("float64")


def _interval(metric, point, samples, level, n_days, rows, resamples) -> Estimate:
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0 or math.isnan(point):
        return Estimate(metric, point, math.nan, math.nan, level, n_days, rows, resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Estimate(metric, float(point), float(low), float(high), level, n_days, rows, resamples)


def estimate(
    y, p, days, metric: str, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> Estimate:
    """`metric` of scores `p` on labels `y`, with its day-block bootstrap interval."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {METRICS}")
    y, day_index, n_days, (p,) = _prepare(y, days, p)
    stats = _Days(y, p, day_index, n_days)
    point = stats.value(metric, np.ones(n_days))
    counts = _resampled(n_days, resamples, seed)
    samples = np.array([stats.value(metric, c) for c in counts])
    return _interval(metric, point, samples, level, n_days, len(y), resamples)


def difference(
    y, a, b, days, metric: str, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0
) -> Estimate:
    """metric(a) - metric(b) on the same rows, with a paired day-block bootstrap interval: each
    resample draws the days once and scores both models on them."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {METRICS}")
    y, day_index, n_days, (a, b) = _prepare(y, days, a, b)
    first, second = _Days(y, a, day_index, n_days), _Days(y, b, day_index, n_days)
    point = first.value(metric, np.ones(n_days)) - second.value(metric, np.ones(n_days))
    counts = _resampled(n_days, resamples, seed)
    samples = np.array([first.value(metric, c) - second.value(metric, c) for c in counts])
    return _interval(f"{metric} difference", point, samples, level, n_days, len(y), resamples)


def gain(estimate_: Estimate, metric: str) -> Estimate:
    """A difference turned so that positive is better (log loss, Brier and ECE fall)."""
    if HIGHER_IS_BETTER.get(metric, True):
        return estimate_
    return dataclasses.replace(
        estimate_, value=-estimate_.value, low=-estimate_.high, high=-estimate_.low
    )
