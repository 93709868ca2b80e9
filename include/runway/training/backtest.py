"""Rolling-origin backtest: is a recipe better than the simple baselines, out of time, again
and again?

One test week is too noisy to judge a recipe (family, settings, features, window length): a
recipe that was +0.055 AUC better pooled over ten two-week windows of 2013 was below +0.03 in
half of them. So the recipe is trained and tested on several earlier windows of the history
that exists: window k trains on `window_days` days (its last `valid_days` for early stopping
and tuning) and tests on the `test_days` that follow, and the windows' test days tile the end
of the history without overlap. Beside each recipe, on the same test flights:

- `carrier_hour_rate`: the delayed rate of the flight's carrier x scheduled hour over the
  training window (shrunk toward the carrier's rate, then the window's, where a cell is thin);
- `carrier_hour_rate_28d`: the same rate over the 28 days before each test day (labels of
  day D-1 are known when day D is predicted), a rolling baseline;
- `logreg`: the schedule-only logistic regression (`training.baseline`).

Per window and over all test days: pooled AUC, mean of daily AUCs (ranking within a day, not
telling bad days from good ones), ECE, log loss, and each recipe's AUC gain over the best
baseline with its day-block bootstrap interval (`runway.intervals`). `BacktestResult.evidence`
hands the gate its `beats_baseline` check: the gain over the best baseline pooled over every
window's test days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import time

import numpy as np
import pandas as pd

from runway import contracts, intervals
from runway.training.baseline import RateTable
from runway.training.inputs import labels

log = logging.getLogger(__name__)

DATE = "flight_date"
BASELINES = ("carrier_hour_rate", "carrier_hour_rate_28d", "logreg")
ROLLING_DAYS = 28  # the rolling baseline's window
CALIBRATIONS = ("none", "isotonic", "platt")
BASELINE_TRIALS = 3  # the logistic regression's C is its only knob


@dataclasses.dataclass(frozen=True)
class Window:
    """One fold: train on train_start..train_end (the last valid days validate), test after."""

    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date

    @property
    def name(self) -> str:
        return f"{self.test_start}..{self.test_end}"


def rolling_windows(
    first: dt.date,
    last: dt.date,
    window_days: int,
    test_days: int,
    count: int,
    step_days: int | None = None,
) -> list[Window]:
    """The latest `count` folds that fit in the days first..last, oldest first: fold k tests
    on the `test_days` ending `k * step_days` (default `test_days`: the folds' test days tile
    the end of the history) days before `last` and trains on the `window_days` before them.
    Fewer (possibly none) when the history is shorter."""
    step = step_days or test_days
    if step < test_days:
        raise ValueError(f"step_days {step} < test_days {test_days}: test days would overlap")
    if window_days < 2 or test_days < 1 or count < 0:
        raise ValueError(
            f"window_days must be >= 2, test_days >= 1, count >= 0; got {window_days}, "
            f"{test_days}, {count}"
        )
    out = []
    for k in range(count):
        test_end = last - dt.timedelta(days=k * step)
        test_start = test_end - dt.timedelta(days=test_days - 1)
        train_end = test_start - dt.timedelta(days=1)
        train_start = train_end - dt.timedelta(days=window_days - 1)
        if train_start < first:
            break
        out.append(Window(train_start, train_end, test_start, test_end))
    return out[::-1]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a candidate is made: its family, budget, window length, calibration, and the
    feature columns it is denied (ablations for research; none in production)."""

    family: str
    window_days: int = 42
    valid_days: int = 7
    n_trials: int = 3
    timeout_s: float = 60.0
    calibration: str = "none"  # none | isotonic | platt, fitted on the validation days
    withheld: tuple[str, ...] = ()
    label: str = ""  # a name for research tables; default: from the fields

    def __post_init__(self) -> None:
        if self.calibration not in CALIBRATIONS:
            raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        if self.valid_days >= self.window_days:
            raise ValueError(
                f"valid_days {self.valid_days} leaves no training day in a {self.window_days}-day "
                "window"
            )
        from runway.training import inputs

        unknown = sorted(set(self.withheld) - set(inputs.NUMERIC))
        if unknown:
            raise ValueError(f"withheld columns are not numeric model inputs: {unknown}")

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        name = f"{self.family}_{self.window_days}d"
        if self.calibration != "none":
            name += f"_{self.calibration}"
        return name + (f"_without_{len(self.withheld)}" if self.withheld else "")


# ---- baselines -----------------------------------------------------------------------------
def carrier_hour_rate(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """P(delayed) = the carrier x hour delayed rate of the training rows (shrunk)."""
    return RateTable.fit(train).lookup(test)


def rolling_carrier_hour_rate(
    history: pd.DataFrame, test: pd.DataFrame, days: int = ROLLING_DAYS
) -> np.ndarray:
    """For each test day D, the carrier x hour rate over the `days` days before D found in
    `history` (test days included: their labels are known once they are over)."""
    dates = pd.to_datetime(history[DATE])
    test_dates = pd.to_datetime(test[DATE])
    out = np.empty(len(test), dtype="float64")
    for day in test_dates.unique():
        past = history[(dates < day) & (dates >= day - pd.Timedelta(days=days))]
        rows = (test_dates == day).to_numpy()
        if past.empty:
            raise ValueError(f"no labelled day in the {days} days before {day.date()}")
        out[rows] = RateTable.fit(past).lookup(test[rows])
    return out


# ---- calibration ---------------------------------------------------------------------------
class Calibrated:
    """A fitted model whose probabilities are remapped by a calibrator fitted on held-out days."""

    def __init__(self, model, method: str, p_valid: np.ndarray, y_valid: np.ndarray):
        self.model, self.method = model, method
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.map = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.map.fit(p_valid, y_valid)
        else:
            from sklearn.linear_model import LogisticRegression

            self.map = LogisticRegression(C=1e6).fit(_logit(p_valid)[:, None], y_valid)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        p = self.model.predict_proba(frame)
        if self.method == "isotonic":
            return np.clip(self.map.predict(p), 1e-4, 1 - 1e-4)
        return self.map.predict_proba(_logit(p)[:, None])[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


# ---- the backtest ----------------------------------------------------------------------------
def _days(frame: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    dates = pd.to_datetime(frame[DATE]).dt.date
    return frame[(dates >= first) & (dates <= last)]


def _fit_recipe(recipe: Recipe, frame: pd.DataFrame, window: Window, seed: int, threads: int):
    from runway.training.candidates import train_candidate

    start = window.train_end - dt.timedelta(days=recipe.window_days - 1)
    valid_start = window.train_end - dt.timedelta(days=recipe.valid_days - 1)
    data = frame.assign(**{c: np.nan for c in recipe.withheld}) if recipe.withheld else frame
    train = _days(data, start, valid_start - dt.timedelta(days=1))
    valid = _days(data, valid_start, window.train_end)
    if train.empty or valid.empty:
        raise ValueError(f"{recipe.name}: window {window.name} has no training or validation rows")
    result = train_candidate(
        recipe.family, train, valid, n_trials=recipe.n_trials, timeout_s=recipe.timeout_s,
        seed=seed, threads=threads,
    )  # fmt: skip
    model = result.model
    if recipe.calibration != "none":
        model = Calibrated(model, recipe.calibration, model.predict_proba(valid), labels(valid))
    return model, data


def _summary(y, p, days, seed: int) -> dict:
    est = {
        m: intervals.estimate(y, p, days, m, resamples=200, seed=seed)
        for m in ("roc_auc", "daily_auc", "ece", "log_loss")
    }
    out = {m: e.value for m, e in est.items()}
    out |= {f"{m}_low": e.low for m, e in est.items()} | {
        f"{m}_high": e.high for m, e in est.items()
    }
    out |= {"rows": int(len(y)), "days": est["roc_auc"].days, "rate": float(np.mean(y))}
    out["mean_score"] = float(np.mean(p))
    return out


@dataclasses.dataclass
class BacktestResult:
    windows: list[Window]
    recipes: list[str]
    predictions: pd.DataFrame  # flight_id, flight_date, window, label, one column per model
    per_window: pd.DataFrame  # one row per (window, model)
    overall: pd.DataFrame  # one row per model, over every window's test days
    gains: pd.DataFrame  # recipe vs best baseline, per window and overall, with intervals
    seconds: float = 0.0

    def best_baseline(self, window: str | None = None) -> str:
        table = self.overall if window is None else self.per_window.query("window == @window")
        table = table[table["model"].isin(BASELINES)]
        return str(table.sort_values("roc_auc", ascending=False)["model"].iloc[0])

    def gain(self, recipe: str, window: str = "overall", metric: str = "roc_auc") -> dict:
        rows = self.gains[
            (self.gains["recipe"] == recipe)
            & (self.gains["window"] == window)
            & (self.gains["metric"] == metric)
        ]
        if rows.empty:
            raise KeyError(f"no {metric} gain of {recipe!r} in window {window!r}")
        return rows.iloc[0].to_dict()

    def evidence(self, recipe: str):
        """The gate's `beats_baseline` check: the recipe's AUC gain over the best baseline
        over every window's test days, with its day-block interval."""
        from runway.training.gate import Evidence

        g = self.gain(recipe)
        share = (
            self.gains.query("recipe == @recipe and metric == 'roc_auc' and window != 'overall'")
            .eval("low > 0")
            .mean()
        )
        estimate = intervals.Estimate(
            "roc_auc difference", g["value"], g["low"], g["high"], g["level"], int(g["days"]),
            int(g["rows"]), int(g["resamples"]),
        )  # fmt: skip
        detail = (
            f"rolling-origin backtest of recipe {recipe} vs baseline {g['baseline']}: "
            f"{len(self.windows)} windows (test days {self.windows[0].test_start}.."
            f"{self.windows[-1].test_end}), interval above 0 in {share:.0%} of them"
        )
        return Evidence("beats_baseline", estimate, detail)

    def to_markdown(self) -> str:
        def fmt(v) -> str:
            return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"

        lines = [
            "## Rolling-origin backtest",
            "",
            f"{len(self.windows)} windows, test days "
            f"{self.windows[0].test_start}..{self.windows[-1].test_end}; {self.seconds:.0f} s.",
            "",
            "| window | model | pooled AUC | mean daily AUC | ECE | log loss | rate | mean score |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for table, name in ((self.per_window, None), (self.overall, "overall")):
            for r in table.to_dict("records"):
                lines.append(
                    f"| {name or r['window']} | {r['model']} | {fmt(r['roc_auc'])} | "
                    f"{fmt(r['daily_auc'])} | {fmt(r['ece'])} | {fmt(r['log_loss'])} | "
                    f"{fmt(r['rate'])} | {fmt(r['mean_score'])} |"
                )
        lines += [
            "",
            "Gain over the best baseline (90% day-block interval):",
            "",
            "| window | recipe | metric | vs | gain | interval |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for r in self.gains.to_dict("records"):
            lines.append(
                f"| {r['window']} | {r['recipe']} | {r['metric']} | {r['baseline']} | "
                f"{r['value']:+.4f} | [{r['low']:+.4f}, {r['high']:+.4f}] |"
            )
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        def records(table: pd.DataFrame) -> list[dict]:
            return json.loads(table.to_json(orient="records"))

        return {
            "windows": [
                {k: str(v) for k, v in dataclasses.asdict(w).items()} | {"name": w.name}
                for w in self.windows
            ],
            "recipes": self.recipes,
            "per_window": records(self.per_window),
            "overall": records(self.overall),
            "gains": records(self.gains),
            "seconds": self.seconds,
        }


def _gain_rows(window: str, recipe: str, baseline: str, y, a, b, days, seed: int) -> list[dict]:
    rows = []
    for metric in ("roc_auc", "daily_auc"):
        d = intervals.difference(y, a, b, days, metric, seed=seed)
        rows.append(
            d.to_dict()
            | {"window": window, "recipe": recipe, "baseline": baseline, "metric": metric}
        )
    return rows


def run_backtest(
    frame: pd.DataFrame,
    recipes: list[Recipe],
    windows: list[Window],
    *,
    seed: int = 0,
    threads: int = 1,
    baseline_window_days: int | None = None,
) -> BacktestResult:
    """Train every recipe and baseline on each window and score its test days (see the module
    docstring). `frame`: labelled flights with the model's inputs covering the windows (and,
    for the rolling baseline, the 28 days before each test day). The baselines train on
    `baseline_window_days` (default: the first recipe's window)."""
    if not windows:
        raise ValueError("no backtest window: the history is too short for one")
    if not recipes:
        raise ValueError("no recipe to backtest")
    names = [r.name for r in recipes]
    if len(set(names)) != len(names):
        raise ValueError(f"recipes must have distinct names, got {names}")
    missing = [c for c in (DATE, contracts.LABEL, *contracts.RAW_INPUTS) if c not in frame.columns]
    if missing:
        raise KeyError(f"the backtest frame lacks the columns {missing}")
    started = time.monotonic()
    base_days = baseline_window_days or recipes[0].window_days
    base = Recipe(BASELINES[2], window_days=base_days, n_trials=BASELINE_TRIALS)
    parts = []
    for window in windows:
        test = _days(frame, window.test_start, window.test_end)
        if test.empty:
            raise ValueError(f"window {window.name} has no test rows")
        train = _days(frame, window.train_end - dt.timedelta(days=base_days - 1), window.train_end)
        scores = {
            "carrier_hour_rate": carrier_hour_rate(train, test),
            "carrier_hour_rate_28d": rolling_carrier_hour_rate(frame, test),
        }
        model, _ = _fit_recipe(base, frame, window, seed, threads)
        scores["logreg"] = model.predict_proba(test)
        for recipe in recipes:
            model, data = _fit_recipe(recipe, frame, window, seed, threads)
            scores[recipe.name] = model.predict_proba(data.loc[test.index])
        parts.append(
            pd.DataFrame(
                {
                    "flight_id": test["flight_id"].to_numpy(),
                    DATE: pd.to_datetime(test[DATE]).dt.date.astype(str).to_numpy(),
                    "window": window.name,
                    contracts.LABEL: labels(test),
                }
                | scores
            )
        )
        log.info("backtest window %s done (%.0f s so far)", window.name, time.monotonic() - started)
    predictions = pd.concat(parts, ignore_index=True)
    models = [*BASELINES, *names]
    per_window, gains, overall = [], [], []
    groups = [(w.name, predictions[predictions["window"] == w.name]) for w in windows]
    for name, part in [*groups, ("overall", predictions)]:
        y, days = part[contracts.LABEL].to_numpy(), part[DATE].to_numpy()
        summaries = {m: _summary(y, part[m].to_numpy(), days, seed) for m in models}
        table = overall if name == "overall" else per_window
        table += [{"window": name, "model": m} | s for m, s in summaries.items()]
        best = max(BASELINES, key=lambda m: summaries[m]["roc_auc"])
        for recipe in names:
            gains += _gain_rows(
                name, recipe, best, y, part[recipe].to_numpy(), part[best].to_numpy(), days, seed
            )
    return BacktestResult(
        windows=list(windows),
        recipes=names,
        predictions=predictions,
        per_window=pd.DataFrame(per_window),
        overall=pd.DataFrame(overall),
        gains=pd.DataFrame(gains),
        seconds=time.monotonic() - started,
    )
