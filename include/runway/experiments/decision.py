"""The daily decision of an online experiment: one function of the served, labelled flights.

`decide(frame, experiment, policy, day)` reads the experiment's answers joined with their
realized outcomes (one row per flight and arm that scored it: `flight_key`, `day`, `arm`,
`score`, `label` (NaN until it lands), `latency_ms`, `error`) and says, with no side effect:

1. **guardrails** on the challenger arm, each a test at `guardrail_alpha`: the look day's error
   rate above `max_error_rate` (exact binomial test), its p99 latency above
   `max_latency_p99_ms` (the exact quantile test, as scipy's), and the labelled flights' ECE
   whose day-block interval lies above `max_ece` (judged from `min_ece_flights` on: on fewer,
   a calibrated model's ECE is biased upwards past any useful threshold). A breach rolls back
   at once, in any mode;
2. **refuse** before `min_days` labelled days;
3. **the primary test**: per labelled day, the challenger's within-day AUC minus the
   champion's (paired on the same flights in shadow; two samples, the arms' own flights of
   the same day, in ab and canary: each day is a block, so the weather it shares cancels).
   The days' differences, weighted by their precision, go into a one-sided weighted t-test
   over days (`statsmodels` `DescrStatsW.ttest_mean`): the days, not the flights, are the
   independent units. Its p-value on the z scale is compared with the Lan-DeMets
   O'Brien-Fleming boundary of this look (`design.boundaries`), at `alpha` for promotion and
   `harm_alpha` for rollback, the information fraction being labelled days / planned days;
4. **the action**: promote past the upper boundary, roll back past the lower one or at the
   planned end without a gain, ramp a canary whose step held its guardrails `ramp_days`
   days, else continue.

Every decision carries its signal, value, threshold, interval, test, p-value and sample.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
from scipy import stats

from runway import intervals
from runway.experiments import design
from runway.experiments.assignment import CHALLENGER, CHAMPION
from runway.settings import ExperimentPolicy

ACTIONS = ("continue", "ramp", "promote", "rollback", "refuse")
MODES = ("shadow", "ab", "canary")
COLUMNS = ("flight_key", "day", "arm", "score", "label", "latency_ms", "error")
PRIMARY_TEST = "weighted one-sided t over days of within-day AUC differences (statsmodels)"
SEQUENTIAL = "Lan-DeMets O'Brien-Fleming alpha spending, information = labelled days / planned"


@dataclasses.dataclass(frozen=True)
class Decision:
    """One look's decision and its evidence (JSON-serialisable through `to_dict`)."""

    day: str
    action: str
    reason: str
    signal: str
    value: float | None
    threshold: float | None
    interval: tuple[float | None, float | None]
    test: str
    p_value: float | None
    n: dict
    days: int
    share: float  # the challenger's share after this decision
    fraction: float | None = None  # information fraction of a counted look
    z: float | None = None
    boundary: float | None = None
    harm_boundary: float | None = None
    guardrails: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["interval"] = list(self.interval)
        out["guardrails"] = list(self.guardrails)
        return _clean(out)


def _clean(value):
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class Rows:
    """The experiment frame as arrays, checked once: days as day numbers (days since
    1970-01-01), the arm as a flag, labels NaN until they land."""

    day: np.ndarray
    challenger: np.ndarray
    score: np.ndarray
    label: np.ndarray
    latency_ms: np.ndarray
    error: np.ndarray

    def where(self, mask: np.ndarray) -> Rows:
        return Rows(*(getattr(self, f.name)[mask] for f in dataclasses.fields(self)))


def rows_of(frame: pd.DataFrame) -> Rows:
    """The frame's columns checked and converted: a clear error naming what is wrong."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the experiment frame lacks the columns {missing}")
    arm = frame["arm"].to_numpy()
    challenger = arm == CHALLENGER
    if not (challenger | (arm == CHAMPION)).all():
        unknown = sorted(set(arm[~(challenger | (arm == CHAMPION))].tolist()))
        raise ValueError(f"the experiment frame holds unknown arms {unknown}")
    label = frame["label"].to_numpy(dtype="float64")
    landed = label[~np.isnan(label)]
    if not np.isin(landed, (0.0, 1.0)).all():
        raise ValueError("the experiment frame's label must be 0, 1 or NaN (not landed)")
    error = frame["error"].to_numpy(dtype=bool)
    score = frame["score"].to_numpy(dtype="float64")
    if np.isnan(score[~error]).any():
        raise ValueError("the experiment frame has answers without a score that are not errors")
    day = frame["day"]
    if not pd.api.types.is_datetime64_any_dtype(day):
        day = pd.to_datetime(day, cache=False)  # dates from SQL: converted once here
    days = day.to_numpy().astype("datetime64[D]").astype("int64")
    latency = frame["latency_ms"].to_numpy(dtype="float64")
    return Rows(days, challenger, score, label, latency, error)


def _day_number(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def daily_auc(rows: Rows) -> dict[str, np.ndarray]:
    """Per labelled day and arm: flights `n`, positives `pos` and the within-day `auc`
    (Mann-Whitney U / (pos * neg), tied scores sharing their average rank; NaN when the day's
    arm holds one class). Vectorised: one sort for every day and arm. Arrays of shape
    (days, 2): column 0 the champion, 1 the challenger."""
    rows = rows.where(~np.isnan(rows.label) & ~rows.error)
    day_values, day_codes = np.unique(rows.day, return_inverse=True)
    group = day_codes * 2 + rows.challenger.astype("int64")
    order = np.lexsort((rows.score, group))
    g, s, ys = group[order], rows.score[order], rows.label[order]
    size = 2 * len(day_values)
    if len(g):
        new_group = np.r_[True, g[1:] != g[:-1]]
        new_run = new_group | np.r_[True, s[1:] != s[:-1]]
        index = np.arange(len(g))
        position = index - np.maximum.accumulate(np.where(new_group, index, 0))  # 0-based
        run = np.cumsum(new_run) - 1
        run_length = np.bincount(run)
        rank = position[new_run][run] + (run_length[run] + 1) / 2  # 1-based, ties averaged
    else:
        rank = np.zeros(0)
    n = np.bincount(g, minlength=size).astype("float64")
    pos = np.bincount(g, weights=ys, minlength=size)
    rank_pos = np.bincount(g, weights=rank * ys, minlength=size)
    neg = n - pos
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_pos - pos * (pos + 1) / 2) / (pos * neg)
    auc[(pos == 0) | (neg == 0)] = np.nan
    shape = (len(day_values), 2)
    return {"day": day_values, "n": n.reshape(shape), "pos": pos.reshape(shape),
            "auc": auc.reshape(shape)}  # fmt: skip


def daily_differences(rows: Rows, mode: str) -> dict[str, np.ndarray]:
    """Per labelled day with both arms' AUC defined: the day number, the AUCs' difference
    (challenger minus champion), each arm's flights and the difference's precision weight."""
    per = daily_auc(rows)
    difference = per["auc"][:, 1] - per["auc"][:, 0]
    keep = ~np.isnan(difference)
    n_champion, n_challenger = per["n"][keep, 0], per["n"][keep, 1]
    if mode == "shadow":  # the same flights: the variance falls as 1 / n
        weight = n_champion
    else:  # two samples: 1 / (1 / n_a + 1 / n_b)
        weight = 1 / (1 / n_champion + 1 / n_challenger)
    return {"day": per["day"][keep], "difference": difference[keep], "weight": weight,
            "n_champion": n_champion, "n_challenger": n_challenger}  # fmt: skip


def primary_test(differences: dict[str, np.ndarray], level: float) -> dict:
    """The one-sided weighted t-test over days (greater: the challenger ranks better)."""
    from statsmodels.stats.weightstats import DescrStatsW

    d = np.asarray(differences["difference"], dtype="float64")
    w = np.asarray(differences["weight"], dtype="float64")
    w = w * len(w) / w.sum()  # analytic weights: the days, not the weights, count as nobs
    described = DescrStatsW(d, weights=w)
    if len(d) < 2 or described.std == 0:
        return {"mean": float(described.mean), "p_value": None, "z": None, "interval": (None, None)}
    _, p_value, _ = described.ttest_mean(0.0, alternative="larger")
    low, high = described.tconfint_mean(alpha=1 - level)
    p_value = float(np.clip(p_value, 1e-300, 1 - 1e-16))
    return {
        "mean": float(described.mean),
        "p_value": p_value,
        "z": float(stats.norm.isf(p_value)),
        "interval": (float(low), float(high)),
    }


def guardrails(rows: Rows, day: dt.date, policy: ExperimentPolicy, *, seed: int = 0) -> list[dict]:
    """The challenger arm's guardrails on the look day (errors, latency) and on its labelled
    flights so far (calibration), each with its test."""
    arm = rows.where(rows.challenger & (rows.day <= _day_number(day)))
    today = arm.where(arm.day == _day_number(day))
    checks = []
    n, errors = len(today.day), int(today.error.sum())
    if n:
        test = stats.binomtest(errors, n, policy.max_error_rate, alternative="greater")
        checks.append(
            _check("error_rate", errors / n, policy.max_error_rate,
                   lambda test=test: test.proportion_ci(confidence_level=policy.level),
                   "exact binomial, one-sided", test.pvalue, n, policy.guardrail_alpha)
        )  # fmt: skip
        latency = today.latency_ms[~today.error & ~np.isnan(today.latency_ms)]
        if len(latency):
            # the exact quantile test: H0 "p99 <= threshold" means at most 1% of answers
            # exceed it, so the exceedances are binomial (scipy's quantile_test, one-sided,
            # is this test; its interval for the p99 is computed only on a breach)
            over = int((latency > policy.max_latency_p99_ms).sum())
            test = stats.binomtest(over, len(latency), 0.01, alternative="greater")
            checks.append(
                _check("latency_p99_ms", float(np.quantile(latency, 0.99)),
                       policy.max_latency_p99_ms,
                       lambda latency=latency: stats.quantile_test(
                           latency, q=policy.max_latency_p99_ms, p=0.99, alternative="greater"
                       ).confidence_interval(confidence_level=policy.level),
                       "exact quantile test (p=0.99), one-sided", test.pvalue, len(latency),
                       policy.guardrail_alpha)
            )  # fmt: skip
    labelled = arm.where(~np.isnan(arm.label) & ~arm.error)
    if len(np.unique(labelled.day)) >= 2 and len(labelled.day) >= policy.min_ece_flights:
        y, p = labelled.label, labelled.score
        point = _ece(y, p)  # the bootstrap only when the point is past the threshold
        if point > policy.max_ece and policy.resamples:
            est = intervals.estimate(
                y, p, labelled.day, "ece", resamples=policy.resamples, level=policy.level,
                seed=seed,
            )  # fmt: skip
            interval, breached = (est.low, est.high), est.low > policy.max_ece
        else:
            interval, breached = (None, None), False
        checks.append(
            {"signal": "ece", "value": point, "threshold": policy.max_ece,
             "interval": list(interval), "test": "day-block bootstrap lower bound above threshold",
             "p_value": None, "n": len(y), "breached": bool(breached)}
        )  # fmt: skip
    return [_clean(c) for c in checks]


def _ece(y: np.ndarray, p: np.ndarray) -> float:
    bins = np.minimum((p * intervals.ECE_BINS).astype("int64"), intervals.ECE_BINS - 1)
    n = np.bincount(bins, minlength=intervals.ECE_BINS)
    gap = np.bincount(bins, weights=y - p, minlength=intervals.ECE_BINS)
    return float(np.abs(gap).sum() / n.sum())


def _check(signal, value, threshold, interval, test, p_value, n, alpha) -> dict:
    """A guardrail's record; its interval (`interval()`, slow in scipy) only on a breach,
    where it becomes the decision's evidence."""
    breached = bool(p_value < alpha)
    ci = interval() if breached else None
    return {
        "signal": signal, "value": float(value), "threshold": float(threshold),
        "interval": [float(ci[0]), float(ci[1])] if ci else [None, None], "test": test,
        "p_value": float(p_value), "n": int(n), "breached": breached,
    }  # fmt: skip


def _counted_fractions(experiment: dict, day: dt.date) -> list[float]:
    """The information fractions of the earlier counted looks (a rerun of a day replaces it)."""
    return [
        float(d["fraction"])
        for d in experiment.get("decisions") or []
        if d.get("fraction") is not None and d["day"] < day.isoformat()
    ]


def _days_at_step(rows: Rows, experiment: dict, day: dt.date) -> int:
    """Days the challenger answered at its current share, up to `day`."""
    since = experiment.get("share_since") or experiment["start"]
    if isinstance(since, str):
        since = dt.date.fromisoformat(since[:10])
    served = rows.day[rows.challenger]
    window = (served >= _day_number(since)) & (served <= _day_number(day))
    return len(np.unique(served[window]))


def decide(
    frame: pd.DataFrame, experiment: dict, policy: ExperimentPolicy, day: dt.date, *, seed=0
) -> Decision:
    """The experiment's decision for the look on `day`, from the rows served up to it.

    `experiment` carries `mode`, `share`, `planned_days`, `start`, `share_since` (canary) and
    the `decisions` so far (their counted looks' information fractions)."""
    mode = experiment["mode"]
    if mode not in MODES:
        raise ValueError(f"unknown experiment mode {mode!r}; one of {MODES}")
    rows = rows_of(frame)
    rows = rows.where(rows.day <= _day_number(day))
    share = float(experiment["share"])
    checks = guardrails(rows, day, policy, seed=seed)
    labelled = ~np.isnan(rows.label) & ~rows.error
    n = {CHAMPION: int((labelled & ~rows.challenger).sum()),
         CHALLENGER: int((labelled & rows.challenger).sum())}  # fmt: skip
    differences = daily_differences(rows, mode)
    days = len(differences["difference"])
    common = {"day": day.isoformat(), "n": n, "days": days, "guardrails": tuple(checks)}

    breached = [c for c in checks if c["breached"]]
    if breached:
        c = breached[0]
        return Decision(
            action="rollback", reason=f"guardrail {c['signal']} breached", signal=c["signal"],
            value=c["value"], threshold=c["threshold"], interval=tuple(c["interval"]),
            test=c["test"], p_value=c["p_value"], share=0.0, **common,
        )  # fmt: skip
    if days < policy.min_days:
        return Decision(
            action="refuse", reason=f"{days} labelled days of the {policy.min_days} needed to "
            f"decide (planned {experiment['planned_days']})", signal="labelled_days",
            value=float(days), threshold=float(policy.min_days), interval=(None, None),
            test=PRIMARY_TEST, p_value=None, share=share, **common,
        )  # fmt: skip

    result = primary_test(differences, policy.level)
    fraction = min(1.0, days / float(experiment["planned_days"]))
    earlier = [f for f in _counted_fractions(experiment, day) if f < fraction]
    looks = (*earlier, fraction)
    upper = design.boundaries(looks, policy.alpha)[-1]
    lower = design.boundaries(looks, policy.harm_alpha)[-1]
    z = result["z"]
    evidence = {
        "signal": "daily_auc_difference", "value": result["mean"], "interval": result["interval"],
        "test": f"{PRIMARY_TEST}; {SEQUENTIAL}", "p_value": result["p_value"],
        "fraction": fraction, "z": z, "boundary": upper, "harm_boundary": lower, **common,
    }  # fmt: skip
    if z is not None and z >= upper:
        return Decision(
            action="promote", reason=f"challenger ahead: z {z:.2f} >= boundary {upper:.2f}",
            threshold=upper, share=1.0, **evidence,
        )  # fmt: skip
    if z is not None and -z >= lower:
        return Decision(
            action="rollback", reason=f"challenger behind: z {z:.2f} <= -{lower:.2f}",
            threshold=-lower, share=0.0, **evidence,
        )  # fmt: skip
    if fraction >= 1.0:
        return Decision(
            action="rollback",
            reason=f"no gain at the planned {experiment['planned_days']} days "
            f"(z {z if z is None else round(z, 2)} < {upper:.2f}): the champion stays",
            threshold=upper, share=0.0, **evidence,
        )  # fmt: skip
    ramp = tuple(policy.ramp)
    if mode == "canary" and share < ramp[-1]:
        held = _days_at_step(rows, experiment, day)
        if held >= policy.ramp_days:
            step = next(s for s in ramp if s > share + 1e-12)
            return Decision(
                action="ramp", reason=f"guardrails held {held} days at {share:.0%}: {step:.0%}",
                threshold=upper, share=step, **evidence,
            )  # fmt: skip
    return Decision(
        action="continue", reason=f"z {z if z is None else round(z, 2)} inside the boundaries "
        f"(-{lower:.2f}, {upper:.2f}) at {fraction:.0%} of the plan",
        threshold=upper, share=share, **evidence,
    )  # fmt: skip
