"""The steps of `training_pipeline`, one function per Airflow task.

Training set from Feast -> one candidate per family (each its own task) -> the best candidate
through the model gate against the champion -> challenger, and champion when the promotion
policy says so. Every step takes the settings and its inputs explicitly and returns a small
JSON-able summary.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import subprocess

import pandas as pd

from runway.registry import TAG_PREFIX
from runway.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)
FAMILIES = ("xgboost", "lightgbm", "torch")
BASELINE = "carrier_hour_rate"  # training.baseline.RateFamily
REFERENCE_ROWS = 20_000  # test-window flights kept as monitoring's drift reference


def training_window(
    settings: Settings,
    window_start: str | None,
    window_end: str | None,
    window_days: int | None,
    run_moment: dt.datetime,
) -> tuple[dt.date, dt.date]:
    """The params' window, else the `window_days` (default: the retrain policy's) days ending
    the last day whose flights have landed, at or before the day before the run's moment (its
    data interval's end, or when it was triggered), and starting no earlier than the first
    landed day. With nothing landed, refused at once, saying what to give."""
    from runway import days

    explicit = days.explicit_range(window_start, window_end, ("window_start", "window_end"))
    if explicit is not None:
        return explicit
    not_after = days.local_day(run_moment) - dt.timedelta(days=1)
    landed = landed_days(settings.raw_dir, not_after)
    if not landed:
        raise days.RunConfigError(
            f"no raw flights landed under {settings.raw_dir} up to {not_after}, so a run "
            "without a window has nothing to train on: give window_start and window_end "
            "(YYYY-MM-DD) of landed days, or land days first (feature_pipeline with start and end)"
        )
    length = window_days or settings.retrain.window_days
    end = landed[-1]
    return max(end - dt.timedelta(days=length - 1), landed[0]), end


def build_training_set(settings: Settings, start: dt.date, end: dt.date, run_id: str) -> dict:
    """The window's labelled flights with point-in-time features, as one parquet file."""
    from runway.features import store as feature_store
    from runway.registry import ensure_experiment, tracking
    from runway.training.training_set import write_training_set

    # Create (migrate) the MLflow store and the experiment here, once, before the families
    # train in parallel: concurrent first use of a SQLite store races on its schema migration.
    with tracking(settings.mlflow_uri) as client:
        ensure_experiment(client, settings.experiment, settings.mlflow_artifact_location)
    out = settings.training_dir / _safe(run_id) / "training_set.parquet"
    store = feature_store.get_store(settings)
    return write_training_set(store, settings.raw_dir, start, end, out)


def _safe(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _splits(path: str, valid_days: int, test_days: int):
    from runway.training.data import split_by_date

    frame = pd.read_parquet(path)
    return frame, split_by_date(frame, valid_days, test_days)


def train_family(
    settings: Settings,
    family: str,
    data_path: str,
    *,
    n_trials: int,
    timeout_s: float,
    valid_days: int,
    test_days: int,
    airflow_run_id: str,
    seed: int = 0,
    trigger: str = "",
    evidence: dict | None = None,
) -> dict:
    """Tune one family, log it to MLflow and register a version of the model. `trigger`: why
    the run trains (its `reason` param: scheduled, manual, or the monitor's signal), kept as
    the version's `runway.trigger` tag; the fired signals of the monitor's `evidence` (value,
    threshold, interval) as `runway.trigger_signals` (JSON)."""
    from runway.training.candidates import train_candidate
    from runway.training.data import training_data_hash
    from runway.training.tracking import lineage_tags, log_candidate

    frame, split = _splits(data_path, valid_days, test_days)
    result = train_candidate(
        family,
        split.train,
        split.valid,
        n_trials=n_trials,
        timeout_s=timeout_s,
        seed=seed,
        threads=settings.train_threads or None,
    )
    windows = split.windows()
    tags = lineage_tags(
        feature_service=settings.feature_service,
        feature_service_version=settings.feature_service.rsplit("_v", 1)[-1],
        training_window=f"{frame['flight_date'].min()}..{frame['flight_date'].max()}",
        data_hash=training_data_hash(frame),
        git_commit=_git_commit(),
        airflow_run_id=airflow_run_id,
    )
    if trigger:
        tags[f"{TAG_PREFIX}trigger"] = trigger[:500]
    fired = [
        {k: sig.get(k) for k in ("signal", "value", "threshold", "interval")}
        for sig in (evidence or {}).get("signals", [])
        if sig.get("fired")
    ]
    if fired:
        tags[f"{TAG_PREFIX}trigger_signals"] = json.dumps(fired)[:4000]
    logged = log_candidate(
        result,
        split.test,
        settings.mlflow_uri,
        settings.experiment,
        tags,
        artifact_location=settings.mlflow_artifact_location,
        model_name=settings.model_name,
    )
    summary = {
        "family": family,
        "version": logged.version,
        "run_id": logged.run_id,
        "device": result.device,
        "trials": result.trials,
        "fit_seconds": round(result.fit_seconds, 1),
        "valid_auc": round(logged.valid_metrics.get("roc_auc", float("nan")), 4),
        "valid_log_loss": round(logged.valid_metrics.get("log_loss", float("nan")), 5),
        "valid_ece": round(logged.valid_metrics.get("ece", float("nan")), 4),
        "test_auc": round(logged.test_metrics.get("roc_auc", float("nan")), 4),
        "windows": windows,
    }
    log.info("candidate %s", json.dumps(summary))
    return summary


def _landed_days(raw_dir) -> list[dt.date]:
    return sorted(
        dt.date.fromisoformat(path.parent.name.removeprefix("date="))
        for path in (raw_dir / "flights").glob("date=*/part-0.parquet")
    )


def backtest_recipe(
    settings: Settings,
    data: dict,
    families: list[str],
    *,
    valid_days: int,
    test_days: int,
    run_id: str,
    seed: int = 0,
) -> dict:
    """The rolling-origin backtest (`training.backtest`) of each family's recipe as this run
    trains it (its window less the test days, `valid_days` of them validating) against the
    baselines, over the latest `settings.backtest.windows` folds of `test_days` days that
    the landed history holds before the training window's end. Logged as an MLflow run
    (`backtest/backtest.{md,json}`); returns each family's `beats_baseline` evidence for the
    gate, empty when no fold fits (the gate then judges on the test days and says so)."""
    from runway.features import store as feature_store
    from runway.registry import ensure_experiment, tracking
    from runway.training.backtest import Recipe, rolling_windows, run_backtest
    from runway.training.training_set import write_training_set

    policy = settings.backtest
    first, last = (dt.date.fromisoformat(d) for d in data["window"].split(".."))
    window_days = (last - first).days + 1 - test_days
    recipes = [
        Recipe(f, window_days, valid_days, policy.n_trials, policy.timeout_s)
        for f in families
        if f in policy.families
    ]
    landed = [d for d in _landed_days(settings.raw_dir) if d <= last]
    windows = (
        rolling_windows(landed[0], last, window_days, policy.test_days, policy.windows)
        if landed and recipes and window_days > valid_days
        else []
    )
    if not windows:
        why = (
            f"no backtest: the recipes {[r.name for r in recipes]} need {window_days} + "
            f"{policy.test_days} days of history up to {last}, the landed days start at "
            f"{landed[0] if landed else 'none'} (RUNWAY_BACKTEST_WINDOWS={policy.windows})"
        )
        log.info(why)
        return {"evidence": {}, "windows": 0, "run_id": None, "note": why}
    out = settings.training_dir / _safe(run_id) / "backtest_set.parquet"
    start = windows[0].train_start
    write_training_set(feature_store.get_store(settings), settings.raw_dir, start, last, out)
    result = run_backtest(
        pd.read_parquet(out), recipes, windows, seed=seed, threads=settings.train_threads or 1
    )
    log.info("recipe backtest:\n%s", result.to_markdown())
    with tracking(settings.mlflow_uri) as client:
        experiment = ensure_experiment(
            client, settings.experiment, settings.mlflow_artifact_location
        )
        run = client.create_run(
            experiment,
            run_name=f"backtest-{_safe(run_id)}"[:250],
            tags={f"{TAG_PREFIX}kind": "backtest", f"{TAG_PREFIX}airflow_run_id": run_id},
        )
        mlflow_run = run.info.run_id
        for r in result.overall.to_dict("records"):
            for metric in ("roc_auc", "daily_auc", "ece"):
                client.log_metric(mlflow_run, f"{r['model']}.{metric}", float(r[metric]))
        client.log_text(mlflow_run, result.to_markdown(), "backtest/backtest.md")
        figures = json.dumps(result.to_dict(), indent=1)
        client.log_text(mlflow_run, figures, "backtest/backtest.json")
        client.set_terminated(mlflow_run)
    evidence = {}
    for recipe in recipes:
        e = result.evidence(recipe.name)
        detail = f"{e.detail}; MLflow run {mlflow_run}"
        evidence[recipe.family] = [{"name": e.name, "gain": e.gain.to_dict(), "detail": detail}]
    return {
        "evidence": evidence,
        "windows": len(windows),
        "test_days": f"{windows[0].test_start}..{windows[-1].test_end}",
        "run_id": mlflow_run,
        "overall_auc": {
            r["model"]: round(r["roc_auc"], 4) for r in result.overall.to_dict("records")
        },
        "seconds": round(result.seconds, 1),
    }


def choose_candidate(candidates: list[dict | None], max_ece: float) -> dict:
    """The best candidate on the validation window: lowest log loss among those calibrated
    within `max_ece` there (among all, if none is). The test window is never looked at; the
    baseline never competes."""
    contenders = [c for c in candidates if c and c["family"] != BASELINE]
    if not contenders:
        raise ValueError("no candidate was trained: 'families' selected none, or all failed")
    calibrated = [c for c in contenders if c["valid_ece"] <= max_ece] or contenders
    return min(calibrated, key=lambda c: c["valid_log_loss"])


def gate_best(
    settings: Settings,
    candidates: list[dict | None],
    data_path: str,
    test_days: int,
    valid_days: int,
    recipe: dict | None = None,
) -> dict:
    """The best candidate (`choose_candidate`) through the gate against the champion and the
    baseline; if its recipe did not beat the baseline's, the baseline itself through the gate:
    the simplest adequate model is the honest champion.

    `recipe`: what `backtest_recipe` returned, when it ran: its `evidence` of the best
    candidate's family (`Evidence` as dicts) decides `beats_baseline`. The verdict of the
    version the gate chose is returned (and recorded on it); the other's is
    recorded on its own version.
    """
    from runway import contracts, registry
    from runway.training.gate import Evidence, gate_candidate

    best = choose_candidate(candidates, settings.gate.max_ece)
    baseline = next((c for c in candidates if c and c["family"] == BASELINE), None)
    frame, split = _splits(data_path, valid_days, test_days)
    backtest = recipe or {}
    evidence = [
        Evidence(e["name"], _estimate(e["gain"]), e.get("detail", ""))
        for e in backtest.get("evidence", {}).get(best["family"], [])
    ]
    notes = (
        (f"recipe backtest: {backtest['windows']} windows, test days {backtest['test_days']}, "
         f"MLflow run {backtest['run_id']}, pooled AUC {backtest['overall_auc']}",)
        if backtest.get("windows") else
        ((backtest["note"],) if backtest.get("note") else ())
    )  # fmt: skip
    where = {
        "tracking_uri": settings.mlflow_uri,
        "model_name": settings.model_name,
        "thresholds": settings.gate,
    }
    verdict = gate_candidate(
        best["version"], split.test, baseline_version=baseline["version"] if baseline else None,
        recipe_evidence=evidence, notes=notes, **where,
    )  # fmt: skip
    chosen, note = best, None
    lost_to_baseline = verdict.failed and all(c.name == "beats_baseline" for c in verdict.failed)
    if lost_to_baseline and baseline is not None:
        failed = verdict.failed[0]
        note = (
            f"{best['family']} version {best['version']} did not beat the baseline "
            f"({failed.detail}): "
            f"the baseline {baseline['family']} version {baseline['version']} is gated in its place"
        )
        log.info(note)
        verdict = gate_candidate(baseline["version"], split.test, notes=(note, *notes), **where)
        chosen = baseline
        if not verdict.passed:
            # The baseline is not adequate either (e.g. miscalibrated): it cannot stand in, nor
            # hold back a candidate that passes every other check. The candidate is judged on
            # its own, its gain over the inadequate baseline named in the verdict's notes.
            note = (
                f"the baseline {baseline['family']} version {baseline['version']} failed "
                f"{', '.join(c.name for c in verdict.failed)}: not adequate, so it neither stands "
                f"in nor holds back {best['family']} version {best['version']}, judged without "
                f"the baseline comparison (its gain over the baseline: {failed.detail})"
            )
            log.info(note)
            verdict = gate_candidate(best["version"], split.test, notes=(note, *notes), **where)
            chosen = best
    log.info(
        "model gate for %s version %s:\n%s",
        chosen["family"],
        chosen["version"],
        verdict.to_markdown(),
    )
    model = registry.load_model(
        registry.version_uri(chosen["version"], settings.model_name),
        tracking_uri=settings.mlflow_uri,
    )
    scores = model.predict(split.test[list(contracts.RAW_INPUTS)])
    links = _write_evidence(settings, chosen, verdict, split.test, scores, model, baseline)
    if verdict.passed:
        _log_reference(settings, chosen, frame, split.test, model)
    return {
        "family": chosen["family"],
        "version": chosen["version"],
        "passed": verdict.passed,
        "policy": verdict.policy,
        "failed_checks": [c.name for c in verdict.checks if not c.passed],
        "evidence": [
            {
                "check": c.name,
                "gain_low": c.interval[0],
                "gain_high": c.interval[1],
                "passed": c.passed,
            }
            for c in verdict.checks
            if c.kind == "evidence"
        ],
        "honest_baseline": note,
        "backtest_run": backtest.get("run_id"),
        "test_auc": {c["family"]: c["test_auc"] for c in candidates if c},
        "baseline_test_auc": baseline["test_auc"] if baseline else None,
        "links": links,
    }


def _write_evidence(settings, chosen, verdict, test, scores, model, baseline) -> dict[str, str]:
    """The gate verdict report and the model card of the chosen version, in the reports folder
    and on its MLflow run; returns the Runway-view paths the task's extra links point to."""
    from runway import contracts, links, registry
    from runway.signature import fitted_scorer
    from runway.training import card

    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    baseline_version = baseline["version"] if baseline else None
    baseline_scores = None
    if baseline_version is not None and baseline_version != chosen["version"]:
        baseline_model = registry.load_model(
            registry.version_uri(baseline_version, settings.model_name),
            tracking_uri=settings.mlflow_uri,
        )
        baseline_scores = baseline_model.predict(test[list(contracts.RAW_INPUTS)])
    elif baseline_version == chosen["version"]:
        baseline_scores = scores
    tags = registry.version_tags(chosen["version"], **where)
    lineage = {
        k.removeprefix(registry.TAG_PREFIX): v
        for k, v in tags.items()
        if k.removeprefix(registry.TAG_PREFIX) in card.LINEAGE
    }
    name = card.report_name(settings.model_name, chosen["version"])
    gate_html = card.gate_report(
        verdict, model_name=settings.model_name, version=chosen["version"],
        family=chosen["family"], test=test, baseline=baseline_version,
    )  # fmt: skip
    card_html = card.model_card(
        model_name=settings.model_name, version=chosen["version"], family=chosen["family"],
        lineage=lineage, test=test, scores=scores, baseline_scores=baseline_scores,
        baseline_version=baseline_version,
        scorer=fitted_scorer(model),
    )  # fmt: skip
    gate_path = card.write(settings.reports_dir, "gate", name, gate_html)
    card_path = card.write(settings.reports_dir, "models", name, card_html)
    client = registry.mlflow_client(settings.mlflow_uri)
    client.log_text(chosen["run_id"], gate_html, "gate/verdict.html")
    client.log_text(chosen["run_id"], card_html, "model_card.html")
    return {
        "Gate verdict": links.file_url(gate_path, settings.reports_dir, settings.gx_dir),
        "Model card": links.file_url(card_path, settings.reports_dir, settings.gx_dir),
        "MLflow run": links.mlflow_run_url(chosen["run_id"]),
    }


def _estimate(gain: dict):
    from runway.intervals import Estimate

    return Estimate(**{k: math.nan if v is None else v for k, v in gain.items()})


def _log_reference(
    settings: Settings, best: dict, frame: pd.DataFrame, test: pd.DataFrame, model
) -> None:
    """Keep what monitoring compares the version with: its test window with its scores
    (prediction drift), its training window's entity-days and each feature column's drift
    alarm calibrated on them (data drift)."""
    from runway import contracts, registry
    from runway.monitoring.drift import calibrate, entity_days

    sample = test.sample(min(len(test), REFERENCE_ROWS), random_state=settings.drift_seed)
    sample = sample.assign(score_champion=model.predict(sample[list(contracts.RAW_INPUTS)]))
    days = entity_days(frame)
    calibration = calibrate(days, list(contracts.ALL_FEATURES))
    files = {
        registry.REFERENCE_SCORES: sample,
        registry.REFERENCE_ENTITY_DAYS: days,
        registry.REFERENCE_CALIBRATION: calibration,
    }
    registry.log_reference(best["run_id"], files, tracking_uri=settings.mlflow_uri)


def promote(settings: Settings, verdict: dict, policy: str, actor: str, reason: str) -> dict:
    """A passing model becomes challenger; champion too under the `auto` policy."""
    from runway import registry

    if not verdict["passed"]:
        raise RuntimeError(
            f"{settings.model_name} version {verdict['version']} failed the model gate "
            f"({', '.join(verdict['failed_checks'])}): it stays unpromoted, the champion is "
            "unchanged"
        )
    kwargs = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    registry.set_challenger(verdict["version"], **kwargs)
    if policy == "auto":
        change = registry.promote(verdict["version"], actor=actor, reason=reason, **kwargs)
        return {"champion": change.current, "previous_champion": change.previous, "policy": policy}
    return {
        "challenger": verdict["version"],
        "champion": registry.champion_version(**kwargs),
        "policy": policy,
    }


def landed_days(raw_dir, not_after: dt.date) -> list[dt.date]:
    """The days, at or before `not_after`, whose raw flights have landed, oldest first."""
    found = []
    for path in (raw_dir / "flights").glob("date=*/part-0.parquet"):
        day = dt.date.fromisoformat(path.parent.name.removeprefix("date="))
        if day <= not_after:
            found.append(day)
    return sorted(found)


def last_landed_day(raw_dir, not_after: dt.date) -> dt.date:
    """The newest day, at or before `not_after`, whose raw flights have landed."""
    found = landed_days(raw_dir, not_after)
    if not found:
        raise FileNotFoundError(
            f"no raw flights landed under {raw_dir} up to {not_after}: run feature_pipeline"
        )
    return found[-1]


def promote_version(
    settings: Settings,
    version: int,
    reason: str,
    actor: str,
    run_moment: dt.datetime,
    test_days: int,
    run_id: str,
) -> dict:
    """Move `champion` to `version` after re-running the gate's checks against the current
    champion on the latest `test_days` landed days; who and why recorded on the version.

    Refuses (RuntimeError naming the failed checks) when the version does not pass them; the
    champion is then unchanged."""
    from runway import days, registry
    from runway.features import store as feature_store
    from runway.training.gate import gate_candidate
    from runway.training.training_set import write_training_set

    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    tags = registry.version_tags(version, **where)  # refuses an unknown version, naming it
    champion = registry.champion_version(**where)
    if champion == int(version):
        return {
            "champion": champion,
            "previous_champion": champion,
            "changed": False,
            "test_window": None,
        }
    last = last_landed_day(settings.raw_dir, days.local_day(run_moment) - dt.timedelta(days=1))
    first = last - dt.timedelta(days=test_days - 1)
    out = settings.training_dir / _safe(run_id) / "promotion_test.parquet"
    write_training_set(feature_store.get_store(settings), settings.raw_dir, first, last, out)
    test = pd.read_parquet(out)
    note = f"manual promotion by {actor}: {reason}; re-gated on {first}..{last}"
    verdict = gate_candidate(
        version, test, thresholds=settings.gate, notes=(note,), record=False, **where
    )
    log.info("promotion gate for version %s:\n%s", version, verdict.to_markdown())
    if not verdict.passed:  # the version keeps the verdict its training gave it
        raise RuntimeError(
            f"{settings.model_name} version {version} failed the gate's checks on {first}..{last} "
            f"({', '.join(c.name for c in verdict.failed)}): the champion is unchanged"
        )
    registry.record_gate(version, verdict, **where)
    _ensure_reference(settings, version, tags)
    change = registry.promote(version, actor=actor, reason=reason, **where)
    return {
        "champion": change.current,
        "previous_champion": change.previous,
        "changed": change.changed,
        "test_window": f"{first}..{last}",
    }


def _ensure_reference(settings: Settings, version: int, tags: dict) -> None:
    """A version promoted by hand carries monitoring's references like a gated one: rebuilt
    from its training window when its training run did not log them."""
    from runway import registry
    from runway.features import store as feature_store
    from runway.training.training_set import write_training_set

    try:
        registry.reference_file(
            version, registry.REFERENCE_CALIBRATION, settings.references_dir,
            tracking_uri=settings.mlflow_uri, model_name=settings.model_name,
        )  # fmt: skip
        return
    except registry.RegistryError:
        pass
    window = tags.get(f"{registry.TAG_PREFIX}training_window", "")
    if ".." not in window:
        raise RuntimeError(
            f"version {version} records no training window: cannot build its references"
        )
    first, last = (dt.date.fromisoformat(d) for d in window.split(".."))
    out = settings.training_dir / f"references-v{int(version)}" / "training_set.parquet"
    write_training_set(feature_store.get_store(settings), settings.raw_dir, first, last, out)
    frame = pd.read_parquet(out)
    test_start = pd.to_datetime(frame["flight_date"]).max() - pd.Timedelta(days=6)
    test = frame[pd.to_datetime(frame["flight_date"]) >= test_start]
    run_id = (
        registry.mlflow_client(settings.mlflow_uri)
        .get_model_version(settings.model_name, str(version))
        .run_id
    )
    _log_reference(settings, {"version": version, "run_id": run_id}, frame, test)
