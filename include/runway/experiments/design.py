"""An experiment's design: how long it must run, and the boundaries its daily looks must cross.

**Planned length (power).** The primary test works on one figure per day: the challenger's
within-day AUC minus the champion's. Its spread per day follows from the baseline rates: the
Hanley-McNeil (1982) variance of an AUC on `n` flights with a delayed rate `rate` and an AUC
`auc`, `auc_sd(auc, rate) ** 2 / n`, summed over the two arms (independent flights in ab and
canary; the same flights in shadow, counted as independent: the plan is conservative there).
`statsmodels.stats.power.TTestPower` then gives the number of days a one-sided t-test over
days needs to detect `margin` at `alpha` with `power`.

**Daily looks (peeking).** Each day's look compares the test's z (its one-sided p-value on
the normal scale) with a group-sequential boundary: Lan-DeMets alpha spending with the
O'Brien-Fleming-type function `alpha(t) = 2 - 2 Phi(z_{1 - alpha/2} / sqrt(t))` (Lan & DeMets
1983; gsDesign's `sfLDOF`), `t` the information fraction (labelled days / planned days). The
boundaries come from the usual recursive numerical integration of the z process over the
continuation region (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000, ch. 19), on a
grid, with scipy's normal density: the overall one-sided false-crossing rate is `alpha` for
any sequence of looks, and early looks need far stronger evidence than the last.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import optimize, special, stats

GRID = 401  # points of the integration grid per look
LOW = -10.0  # the grid's lower end, in standard deviations of the score process


def obf_spending(t: float, alpha: float) -> float:
    """The alpha spent by information fraction `t` (Lan-DeMets O'Brien-Fleming type)."""
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    return float(2 - 2 * stats.norm.cdf(stats.norm.isf(alpha / 2) / math.sqrt(t)))


def boundaries(fractions: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    """Upper z boundaries for looks at the information `fractions` (rising, the last <= 1).

    A look whose fraction spends no new alpha gets an infinite boundary. Each prefix of looks
    is computed once per process (the boundary of a look depends only on the looks before)."""
    fractions = tuple(float(x) for x in fractions)
    if not fractions:
        return ()
    t = np.asarray(fractions)
    if (t <= 0).any() or (np.diff(t) <= 0).any() or t[-1] > 1 + 1e-12:
        raise ValueError(f"information fractions must rise within (0, 1]: {fractions}")
    return _looks(fractions, float(alpha))[0]


@functools.lru_cache(maxsize=8192)
def _looks(fractions: tuple[float, ...], alpha: float):
    """(boundaries, grid, weights, sub-density) after the looks at `fractions`: the score
    process B(t) = Z sqrt(t) on its continuation region, one look added to the previous."""
    tk = fractions[-1]
    increment = (
        obf_spending(tk, alpha) - obf_spending(fractions[-2], alpha)
        if len(fractions) > 1
        else obf_spending(tk, alpha)
    )
    if len(fractions) == 1:
        previous, grid, mass = 0.0, None, None
        bounds: tuple[float, ...] = ()

        def crossing(b):
            return float(special.ndtr(-b))

    else:
        bounds, grid, weights, density = _looks(fractions[:-1], alpha)
        previous, mass = fractions[-2], weights * density
        step = math.sqrt(tk - previous)

        def crossing(b):
            return float(mass @ special.ndtr((grid - b * math.sqrt(tk)) / step))

    if increment <= 1e-15:
        bound = math.inf
    else:
        bound = optimize.brentq(lambda b: crossing(b) - increment, -10.0, 40.0, xtol=1e-6)
    top = bound * math.sqrt(tk) if math.isfinite(bound) else 12.0 * math.sqrt(tk)
    new_grid = np.linspace(LOW * math.sqrt(tk), top, GRID)
    new_weights = np.full(GRID, new_grid[1] - new_grid[0])
    new_weights[[0, -1]] /= 2  # trapezoid
    if grid is None:
        new_density = _pdf(new_grid / math.sqrt(tk)) / math.sqrt(tk)
    else:
        step = math.sqrt(tk - previous)
        new_density = (_pdf((new_grid[:, None] - grid[None, :]) / step) / step) @ mass
    return (*bounds, float(bound)), new_grid, new_weights, new_density


def _pdf(x: np.ndarray) -> np.ndarray:
    return stats.norm.pdf(x)


def auc_sd(auc: float, rate: float) -> float:
    """sqrt(n) times the standard error of an AUC on n flights with delayed rate `rate`
    (Hanley & McNeil 1982, its large-sample form: positives rate*n, negatives (1-rate)*n)."""
    if not 0.5 <= auc < 1 or not 0 < rate < 1:
        raise ValueError(f"baseline AUC must be in [0.5, 1) and rate in (0, 1): {auc}, {rate}")
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return math.sqrt((q1 - auc**2) / (1 - rate) + (q2 - auc**2) / rate)


def daily_difference_sd(auc: float, rate: float, flights_per_day: float, share: float) -> float:
    """The standard deviation of one day's within-day AUC difference between the arms, the
    challenger answering `share` of `flights_per_day` (shadow: share 1, both on all flights)."""
    if flights_per_day <= 0 or not 0 < share <= 1:
        raise ValueError(f"flights per day must be > 0 and share in (0, 1]: {flights_per_day}")
    sd = auc_sd(auc, rate)
    if share == 1:  # shadow: both models on every flight
        return sd * math.sqrt(2 / flights_per_day)
    challenger, champion = flights_per_day * share, flights_per_day * (1 - share)
    return sd * math.sqrt(1 / challenger + 1 / champion)


def planned_days(
    *, auc: float, rate: float, flights_per_day: float, share: float, margin: float,
    alpha: float, power: float,
) -> dict:  # fmt: skip
    """The days a one-sided t-test over daily differences needs (statsmodels `TTestPower`),
    with what went in: the plan the experiment record keeps."""
    from statsmodels.stats.power import TTestPower

    sd = daily_difference_sd(auc, rate, flights_per_day, share)
    effect = margin / sd
    days = TTestPower().solve_power(
        effect_size=effect, alpha=alpha, power=power, alternative="larger"
    )
    return {
        "method": "statsmodels TTestPower, one-sided t over days; Hanley-McNeil day sd",
        "baseline_auc": auc,
        "baseline_rate": rate,
        "flights_per_day": flights_per_day,
        "share": share,
        "margin": margin,
        "alpha": alpha,
        "power": power,
        "daily_sd": sd,
        "effect_size": effect,
        "days": max(2, math.ceil(float(days))),
    }
