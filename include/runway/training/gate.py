"""The model gate: may this candidate become champion?

`evaluate_gate` is a pure function of metrics, so every rule is table-testable. The checks:

- absolute: enough test rows, ROC AUC floor, log-loss skill over the base rate (a model must
  beat always answering the test window's delayed rate);
- calibration: expected calibration error (10 bins) at most a bound;
- where the champion itself fails an absolute or calibration floor on the same test days (it
  decayed), the candidate must instead be no worse than the champion there;
- change (only when a champion exists, on the SAME test window): AUC may not drop, log loss
  may not rise, by more than a tolerance;
- evidence: the candidate's *recipe* (family, settings, features, window) must beat the
  baseline's beyond noise: the lower bound of a day-block bootstrap interval of its AUC gain
  (`runway.intervals`) above zero, pooled over the rolling-origin backtest of both recipes
  (`Evidence` handed in), or over the test days when the history is too short for a
  backtest (the verdict says which; one test week rarely carries it). A recipe other than
  the champion's must beat the champion's recipe the same way; a retrain of the champion's
  own recipe must only not regress on the latest test days (the change checks). The gains
  over the champion on the test days are reported beside, with their intervals;
- slices: every carrier and origin slice with enough rows reaches a slice AUC floor.

First run (no champion): the change checks cannot be evaluated; the others decide alone, and
the verdict says so.

`compare_with_champion` produces the inputs: the registered candidate, the current champion
and a baseline, all loaded from the registry through the pyfunc interface that scoring uses,
scored on the same test frame.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping

import pandas as pd

from runway.intervals import Estimate
from runway.metrics import SliceMetric
from runway.registry import MODEL_NAME
from runway.settings import GateThresholds

DEFAULT_THRESHOLDS = GateThresholds()

FIRST_RUN_POLICY = (
    "first run: no champion to compare with, so the change checks are not evaluated; the "
    "absolute, calibration and slice checks decide alone"
)
CHAMPION_POLICY = "candidate vs champion {version}, both scored on the same test window"
DEFAULT_THRESHOLDS = GateThresholds()


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    kind: str  # absolute | calibration | change | evidence | slice
    observed: float | None
    threshold: float
    comparison: str  # ">=", "<=" or ">" (strict): how observed must relate to threshold
    passed: bool
    detail: str = ""
    interval: tuple[float, float] | None = None  # of the statistic the check is about


@dataclasses.dataclass(frozen=True)
class Evidence:
    """A gain with its interval, for an evidence check: `gain` positive is better (a
    difference in AUC, or a fall in log loss); the check passes when its lower bound is
    above zero."""

    name: str  # the check's name, e.g. "beats_baseline"
    gain: Estimate
    detail: str = ""


TOLERANCE = 1e-9  # a value on the threshold passes, floating-point noise included


def _check(
    name: str, kind: str, observed, threshold: float, comparison: str, detail="", interval=None
) -> Check:
    value = None if observed is None or math.isnan(observed) else float(observed)
    if value is None:  # NaN (e.g. AUC of a single class) never passes
        passed = False
    elif comparison == ">=":
        passed = value >= threshold - TOLERANCE
    elif comparison == ">":
        passed = value > threshold + TOLERANCE
    else:
        passed = value <= threshold + TOLERANCE
    return Check(name, kind, value, float(threshold), comparison, passed, detail, interval)


def _floor(
    name: str, kind: str, observed, floor: float, comparison: str, champion, detail=""
) -> Check:
    """An absolute floor; where the champion fails it itself on the same test days, the
    candidate must be no worse than the champion there instead: an incumbent that decayed below
    a floor cannot hold back a model that improves on it (the floor and the champion's value are
    named in the detail)."""
    check = _check(name, kind, observed, floor, comparison, detail)
    if champion is None or check.passed or _check(name, kind, champion, floor, comparison).passed:
        return check
    why = (
        f"the champion fails the floor {floor:g} on the same days ({champion:.4f}): "
        "the candidate must be no worse than it"
    )
    return _check(
        name, kind, observed, champion, comparison, "; ".join(filter(None, (detail, why)))
    )


def _metric(estimate: Estimate) -> str:
    return estimate.metric.removesuffix(" difference")


def evidence_check(evidence: Evidence) -> Check:
    """Passes when the gain's lower bound is above zero: better beyond noise."""
    g = evidence.gain
    detail = (
        f"{_metric(g)} gain {g.value:+.4f}, {g.level:.0%} interval [{g.low:+.4f}, {g.high:+.4f}] "
        f"over {g.days} days"
    )
    if evidence.detail:
        detail += f"; {evidence.detail}"
    return _check(evidence.name, "evidence", g.low, 0.0, ">", detail, (g.low, g.high))


@dataclasses.dataclass(frozen=True)
class GateVerdict:
    checks: tuple[Check, ...]
    policy: str
    champion_version: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {
            "passed": self.passed,
            "policy": self.policy,
            "champion_version": self.champion_version,
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_markdown(self) -> str:
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.4g}"

        lines = [
            f"## Model gate: {'PASSED' if self.passed else 'FAILED'}",
            "",
            f"Policy: {self.policy}.",
            "",
            f"{len(self.checks) - len(self.failed)} of {len(self.checks)} checks passed.",
            "",
            "| check | kind | observed | must be | result | detail |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for c in self.checks:
            result = "pass" if c.passed else "**FAIL**"
            lines.append(
                f"| {c.name} | {c.kind} | {fmt(c.observed)} | {c.comparison} "
                f"{fmt(c.threshold)} | {result} | {c.detail} |"
            )
        if self.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def _slice(item) -> SliceMetric:
    return (
        item
        if isinstance(item, SliceMetric)
        else SliceMetric(
            **{k: item[k] for k in ("column", "value", "rows", "positives", "roc_auc")}
        )
    )


def _same_window(candidate: Mapping[str, float], champion: Mapping[str, float]) -> None:
    for key in ("rows", "base_rate"):
        if key in candidate and key in champion and candidate[key] != champion[key]:
            raise ValueError(
                f"candidate and champion metrics come from different test windows ({key}: "
                f"{candidate[key]} vs {champion[key]}): score both on the same frame"
            )


def evaluate_gate(
    candidate_metrics: Mapping[str, float],
    champion_metrics: Mapping[str, float] | None,
    slice_metrics: Iterable[SliceMetric | Mapping],
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    champion_version: int | None = None,
    evidence: Iterable[Evidence] = (),
) -> GateVerdict:
    """The verdict on a candidate from its test-window metrics (keys as
    `metrics.classification_metrics`), the champion's on the same rows (None on the first
    run), the candidate's slice metrics, and the gains it must show beyond noise."""
    t = thresholds
    c = candidate_metrics
    champion = champion_metrics or {}
    base = c.get("base_log_loss", math.nan)
    skill = 1 - c["log_loss"] / base if base and not math.isnan(base) else math.nan
    champion_skill = 1 - champion["log_loss"] / base if champion and base else None
    checks = [
        _check("test_rows", "absolute", c.get("rows", math.nan), t.min_test_rows, ">="),
        _floor("test_roc_auc", "absolute", c["roc_auc"], t.min_roc_auc, ">=",
               champion.get("roc_auc")),
        _floor("test_log_loss_skill", "absolute", skill, t.min_log_loss_skill, ">=",
               champion_skill, f"1 - {c['log_loss']:.4f} / {base:.4f} (base-rate log loss)"),
        _floor("test_ece", "calibration", c["ece"], t.max_ece, "<=", champion.get("ece")),
    ]  # fmt: skip
    if champion_metrics is None:
        policy = FIRST_RUN_POLICY
    else:
        _same_window(c, champion_metrics)
        policy = CHAMPION_POLICY.format(version=champion_version or "(unnamed)")
        checks += [
            _check(
                "roc_auc_vs_champion",
                "change",
                c["roc_auc"] - champion_metrics["roc_auc"],
                -t.max_auc_drop,
                ">=",
                f"candidate {c['roc_auc']:.4f} - champion {champion_metrics['roc_auc']:.4f}",
            ),
            _check(
                "log_loss_vs_champion",
                "change",
                c["log_loss"] - champion_metrics["log_loss"],
                t.max_log_loss_increase,
                "<=",
                f"candidate {c['log_loss']:.4f} - champion {champion_metrics['log_loss']:.4f}",
            ),
        ]
    checks += [evidence_check(e) for e in evidence]
    notes = []
    small, single_class = [], []
    for s in map(_slice, slice_metrics):
        if s.column not in t.slice_columns:
            continue
        if s.rows < t.min_slice_rows:
            small.append(f"{s.name} ({s.rows})")
        elif s.roc_auc is None or math.isnan(s.roc_auc):
            single_class.append(s.name)
        else:
            checks.append(
                _check(
                    f"slice_roc_auc[{s.name}]",
                    "slice",
                    s.roc_auc,
                    t.min_slice_auc,
                    ">=",
                    f"{s.rows} rows, {s.positives} delayed",
                )
            )
    if small:
        notes.append(f"slices under {t.min_slice_rows} rows not judged: {', '.join(small)}")
    if single_class:
        notes.append(f"slices holding one class only, not judged: {', '.join(single_class)}")
    return GateVerdict(tuple(checks), policy, champion_version, tuple(notes))


# ---- inputs from the registry -----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GateInputs:
    candidate_version: int
    champion_version: int | None
    candidate: dict[str, float]  # test-window metrics
    champion: dict[str, float] | None  # same rows, None when there is no champion
    slices: list[SliceMetric]  # the candidate's
    test_window: str
    evidence: list[Evidence]  # the gains the candidate must show beyond noise
    notes: list[str]  # the gains over the champion on the test days, for the report


def _gains(y, candidate, other, days, seed: int) -> tuple[Evidence, Evidence]:
    from runway import intervals

    auc = intervals.difference(y, candidate, other, days, "roc_auc", seed=seed)
    loss = intervals.gain(
        intervals.difference(y, candidate, other, days, "log_loss", seed=seed), "log_loss"
    )
    return Evidence("auc", auc), Evidence("log_loss", loss)


def compare_with_champion(
    candidate_version: int,
    test: pd.DataFrame,
    *,
    tracking_uri: str,
    model_name: str = MODEL_NAME,
    slice_columns: tuple[str, ...] = GateThresholds.slice_columns,
    baseline_version: int | None = None,
    recipe_evidence: Iterable[Evidence] = (),
    seed: int = 0,
) -> GateInputs:
    """Score the registered candidate, the current champion and (given) a baseline on the
    same test frame, with the day-block intervals of the candidate's gains over them.

    `recipe_evidence` (from the backtest) is passed on; without a `beats_baseline` in it, the
    test days decide that check (detail says so). A baseline is not compared with itself.
    """
    from runway import registry
    from runway.contracts import RAW_INPUTS
    from runway.metrics import classification_metrics, slice_metrics
    from runway.training.inputs import labels

    y = labels(test)
    days = test["flight_date"].astype(str).to_numpy()
    champion = registry.champion_version(tracking_uri=tracking_uri, model_name=model_name)
    inputs = test[list(RAW_INPUTS)]  # exactly the signature: no "extra inputs" warnings

    def score(version: int):
        uri = registry.version_uri(version, model_name)
        return registry.load_model(uri, tracking_uri=tracking_uri).predict(inputs)

    scores = score(candidate_version)
    evidence, champion_metrics, notes = list(recipe_evidence), None, []
    if champion is not None and champion != int(candidate_version):
        reference = score(champion)
        champion_metrics = classification_metrics(y, reference)
        for gain in _gains(y, scores, reference, days, seed):
            g = gain.gain
            notes.append(
                f"vs champion {champion} on the test days: {_metric(g)} gain {g.value:+.4f}, "
                f"{g.level:.0%} interval [{g.low:+.4f}, {g.high:+.4f}] over {g.days} days"
            )
    named = {e.name for e in evidence}
    if "beats_baseline" not in named and baseline_version is not None:
        if int(baseline_version) != int(candidate_version):
            auc, _ = _gains(y, scores, score(baseline_version), days, seed)
            detail = f"vs baseline version {baseline_version} on the test days (no backtest)"
            evidence.append(Evidence("beats_baseline", auc.gain, detail))
    return GateInputs(
        candidate_version=int(candidate_version),
        champion_version=champion,
        candidate=classification_metrics(y, scores),
        champion=champion_metrics,
        slices=slice_metrics(test, y, scores, slice_columns),
        test_window=f"{test['flight_date'].min()}..{test['flight_date'].max()}",
        evidence=evidence,
        notes=notes,
    )


def gate_candidate(
    candidate_version: int,
    test: pd.DataFrame,
    *,
    tracking_uri: str,
    model_name: str = MODEL_NAME,
    thresholds: GateThresholds = DEFAULT_THRESHOLDS,
    baseline_version: int | None = None,
    recipe_evidence: Iterable[Evidence] = (),
    notes: tuple[str, ...] = (),
    record: bool = True,
) -> GateVerdict:
    """Compare with the champion (and the baseline), evaluate the gate, and (with `record`)
    record the verdict on the version (tags `runway.gate_*`, run artifacts
    `gate/verdict.{json,md}`). Moves no alias."""
    from runway.registry import record_gate

    inputs = compare_with_champion(
        candidate_version,
        test,
        tracking_uri=tracking_uri,
        model_name=model_name,
        slice_columns=thresholds.slice_columns,
        baseline_version=baseline_version,
        recipe_evidence=recipe_evidence,
    )
    verdict = evaluate_gate(
        inputs.candidate, inputs.champion, inputs.slices, thresholds, inputs.champion_version,
        inputs.evidence,
    )  # fmt: skip
    verdict = dataclasses.replace(
        verdict,
        notes=verdict.notes + tuple(inputs.notes) + notes + (f"test window {inputs.test_window}",),
    )
    if record:
        record_gate(candidate_version, verdict, tracking_uri=tracking_uri, model_name=model_name)
    return verdict
