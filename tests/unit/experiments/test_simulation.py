"""Simulated experiments with a known truth, through the `decide()` the DAG runs, day by day.

Each simulated day has 900 flights that share a day effect (its weather: a normal shift of
the log-odds, sd 0.6, that no model sees), so flights of a day are not independent. A flight
is delayed with probability sigmoid(-1.2 + day + x); a model sees x through noise of its own,
less noise ranking better. Every experiment looks every day from its start, as the DAG does,
until it promotes or rolls back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from runway.experiments import design
from runway.experiments.assignment import CHALLENGER, CHAMPION
from runway.experiments.decision import COLUMNS, decide
from runway.settings import ExperimentPolicy

START = dt.date(2026, 3, 2)
FLIGHTS = 900
DAY_SD = 0.6
INTERCEPT = -1.2
POLICY = ExperimentPolicy(auc_margin=0.03, resamples=200)
SAME, BETTER, WORSE = 0.8, 0.4, 1.4  # a model's noise on x: champion 0.8


@dataclasses.dataclass
class Arm:
    noise: float
    shift: float = 0.0  # added to the model's log-odds: miscalibration
    latency_ms: float = 8.0
    error_rate: float = 0.0


@functools.cache
def within_day_auc(noise: float, seed: int = 0, n: int = 200_000) -> float:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rng.random(n) < special.expit(INTERCEPT + x)
    score = x + noise * rng.normal(size=n)
    return float(stats.mannwhitneyu(score[y], score[~y]).statistic / (y.sum() * (~y).sum()))


@functools.cache
def plan(mode: str, share: float) -> int:
    """The planned days, as the experiment's start computes them (canary: the ramp's days,
    then its last share's plan)."""
    share = POLICY.ramp[-1] if mode == "canary" else share
    planned = design.planned_days(
        auc=within_day_auc(SAME), rate=float(special.expit(INTERCEPT)),
        flights_per_day=FLIGHTS, share=1.0 if mode == "shadow" else share,
        margin=POLICY.auc_margin, alpha=POLICY.alpha, power=POLICY.power,
    )["days"]  # fmt: skip
    return planned + (POLICY.ramp_days * (len(POLICY.ramp) - 1) if mode == "canary" else 0)


def _scores(x, arm: Arm, rng) -> np.ndarray:
    """P(delayed | what the model sees), calibrated over days: x given the seen value is
    normal, and the logistic-normal mean is expit(m / sqrt(1 + pi s^2 / 8))."""
    seen = x + arm.noise * rng.normal(size=len(x))
    mean = INTERCEPT + seen / (1 + arm.noise**2)
    spread = arm.noise**2 / (1 + arm.noise**2) + DAY_SD**2
    return special.expit(mean / math.sqrt(1 + math.pi * spread / 8) + arm.shift)


def serve_day(day: dt.date, mode: str, share: float, champion: Arm, challenger: Arm, rng):
    """A day's answers with their outcomes, as columns of the frame `decide` reads."""
    x = rng.normal(size=FLIGHTS)
    y = (rng.random(FLIGHTS) < special.expit(INTERCEPT + rng.normal(0, DAY_SD) + x)).astype(float)
    keys = np.arange(FLIGHTS) + 10_000 * (day - START).days
    if mode == "shadow":
        parts = [(CHAMPION, champion, np.ones(FLIGHTS, bool)),
                 (CHALLENGER, challenger, np.ones(FLIGHTS, bool))]  # fmt: skip
    else:
        to_challenger = rng.random(FLIGHTS) < share
        parts = [(CHAMPION, champion, ~to_challenger), (CHALLENGER, challenger, to_challenger)]
    columns = {c: [] for c in COLUMNS}
    for name, arm, rows in parts:
        count = int(rows.sum())
        columns["flight_key"].append(keys[rows])
        columns["day"].append(np.full(count, np.datetime64(day, "D")))
        columns["arm"].append(np.full(count, name, dtype=object))
        columns["score"].append(_scores(x[rows], arm, rng))
        columns["label"].append(y[rows])
        columns["latency_ms"].append(rng.gamma(4.0, arm.latency_ms / 4.0, size=count))
        columns["error"].append(rng.random(count) < arm.error_rate)
    return {c: np.concatenate(v) for c, v in columns.items()}


def run(mode: str, challenger: Arm, seed: int, *, share: float = 0.5, degrade_on=None):
    """One experiment looked at every day until it promotes or rolls back."""
    rng = np.random.default_rng(seed)
    champion = Arm(SAME)
    share = POLICY.ramp[0] if mode == "canary" else share
    experiment = {"mode": mode, "share": share, "planned_days": plan(mode, share),
                  "start": START, "share_since": START, "decisions": []}  # fmt: skip
    days = []
    for offset in range(experiment["planned_days"] + POLICY.min_days + 5):
        day = START + dt.timedelta(days=offset)
        arm = degrade_on(offset, challenger) if degrade_on else challenger
        days.append(serve_day(day, mode, experiment["share"], champion, arm, rng))
        served = pd.DataFrame({c: np.concatenate([d[c] for d in days]) for c in COLUMNS})
        verdict = decide(served, experiment, POLICY, day)
        experiment["decisions"].append(verdict.to_dict())
        if verdict.action == "ramp":
            experiment.update(share=verdict.share, share_since=day + dt.timedelta(days=1))
        if verdict.action in ("promote", "rollback"):
            break
    return experiment


def final(experiment) -> dict:
    return experiment["decisions"][-1]


@pytest.mark.parametrize("mode, share", [("ab", 0.5)])
def test_a_same_model_false_promotions_within_alpha_despite_daily_peeking(mode, share):
    outcomes = [run(mode, Arm(SAME), seed) for seed in range(200)]
    promoted = sum(final(e)["action"] == "promote" for e in outcomes)
    # the same looks judged against a fixed one-sided 5% z: what peeking without correction does
    naive = sum(
        any(d["z"] is not None and d["z"] >= stats.norm.isf(POLICY.alpha) for d in e["decisions"])
        for e in outcomes
    )
    print(f"\n(a) {mode}: false promotions {promoted}/200, uncorrected peeking would give {naive}")
    assert stats.binomtest(promoted, 200, POLICY.alpha, alternative="greater").pvalue > 0.01
    assert naive > promoted
    assert all(final(e)["action"] in ("rollback", "promote") for e in outcomes)
    looked = final(outcomes[0])
    assert looked["test"] and looked["n"]["challenger"] > 0 and looked["boundary"] is not None


def test_a_shadow_two_equal_models_false_promotions_within_alpha():
    outcomes = [run("shadow", Arm(SAME), seed) for seed in range(1000, 1060)]
    promoted = sum(final(e)["action"] == "promote" for e in outcomes)
    print(f"\n(a) shadow: false promotions {promoted}/60")
    assert stats.binomtest(promoted, 60, POLICY.alpha, alternative="greater").pvalue > 0.01


def test_b_better_challenger_promoted_within_the_planned_sample():
    truth = within_day_auc(BETTER) - within_day_auc(SAME)
    outcomes = [run("ab", Arm(BETTER), seed) for seed in range(2000, 2060)]
    within = [
        final(e)["action"] == "promote" and final(e)["days"] <= e["planned_days"] for e in outcomes
    ]
    rate = sum(within) / len(within)
    print(f"\n(b) ab: AUC margin {truth:.3f}, planned {outcomes[0]['planned_days']} days: "
          f"promoted within the plan in {sum(within)}/{len(within)} ({rate:.0%})")  # fmt: skip
    assert truth >= POLICY.auc_margin
    assert rate >= 0.7
    assert not any(final(e)["action"] == "rollback" and "behind" in final(e)["reason"]
                   for e in outcomes)  # fmt: skip


def test_b_canary_ramps_then_promotes_a_better_challenger():
    outcomes = [run("canary", Arm(BETTER), seed) for seed in range(3000, 3010)]
    shares = [[d["share"] for d in e["decisions"] if d["action"] == "ramp"] for e in outcomes]
    promoted = sum(final(e)["action"] == "promote" for e in outcomes)
    print(f"\n(b) canary: ramps {shares[0]}, promoted {promoted}/10")
    assert all(s[: len(POLICY.ramp) - 1] == list(POLICY.ramp[1:]) for s in shares if len(s) >= 2)
    assert promoted >= 6


def test_c_degrading_challenger_rolled_back_champion_untouched():
    outcomes = [run("ab", Arm(WORSE), seed) for seed in range(4000, 4040)]
    actions = [final(e)["action"] for e in outcomes]
    behind = sum("behind" in final(e)["reason"] for e in outcomes)
    guarded = sum(final(e)["reason"].startswith("guardrail") for e in outcomes)
    print(f"\n(c) ab: AUC {within_day_auc(WORSE) - within_day_auc(SAME):+.3f}: rolled back "
          f"{actions.count('rollback')}/40 ({behind} on the harm boundary, {guarded} by a "
          f"guardrail), median day {np.median([final(e)['days'] for e in outcomes])}")  # fmt: skip
    assert actions.count("promote") == 0  # the champion is never replaced
    assert actions.count("rollback") == 40 and behind + guarded == 40 and behind >= 20
    assert all(final(e)["share"] == 0.0 for e in outcomes)


@pytest.mark.parametrize(
    "breach, signal",
    [
        (Arm(SAME, latency_ms=120.0), "latency_p99_ms"),
        (Arm(SAME, error_rate=0.2), "error_rate"),
    ],
)
def test_d_guardrail_breach_ends_the_canary_at_once(breach, signal):
    experiment = run(
        "canary", Arm(SAME), 5000, degrade_on=lambda offset, arm: breach if offset >= 2 else arm
    )
    decisions = experiment["decisions"]
    assert [d["action"] for d in decisions[:2]] == ["refuse", "refuse"]  # fewer than min_days
    ended = decisions[2]  # the breach's own day: served at 5%, looked at that night
    assert len(decisions) == 3 and ended["action"] == "rollback" and ended["signal"] == signal
    assert ended["value"] > ended["threshold"] and ended["p_value"] < POLICY.guardrail_alpha
    assert ended["share"] == 0.0 and ended["n"]["challenger"] > 0


def test_d_miscalibrated_challenger_ends_on_its_calibration():
    experiment = run("canary", Arm(SAME, shift=1.5), 5100)
    ended = final(experiment)
    assert ended["action"] == "rollback" and ended["signal"] == "ece"
    assert ended["interval"][0] > POLICY.max_ece and ended["n"]["challenger"] >= 500
    assert ended["days"] <= POLICY.min_days + 2
