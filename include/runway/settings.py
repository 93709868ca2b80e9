"""Runway's one settings object: every name, path, URI and threshold, for both profiles.

Values come from defaults, overridden by environment variables named ``RUNWAY_<FIELD>``
(upper case); a group's fields are ``RUNWAY_<GROUP>_<FIELD>`` (``RUNWAY_GATE_MAX_ECE``,
``RUNWAY_RETRAIN_COOLDOWN_DAYS``). The object is resolved and validated once; functions of
the package take what they need from it as explicit arguments, and only DAGs and entry points
call ``load_settings``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import os
import re
import shlex
import sys
import typing
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[2]
# The browser assets GX Data Docs load from CDNs, put there by scripts/ensure_web_assets.sh
# (inside the virtualenv: `make install` keeps it, cleaning the checkout does not touch it).
WEB_ASSETS_DIR = Path(sys.prefix) / "share" / "runway-web"
PROFILES = ("local", "cluster")
# Short names for RUNWAY_BEAM_RUNNER, beside Beam's own (FnApiRunner, FlinkRunner, ...). Beam
# knows its Dask runner only by its full path: the short name `DaskRunner` is refused.
BEAM_RUNNERS = {"dask": "apache_beam.runners.dask.dask_runner.DaskRunner"}
DASK_RUNNER = BEAM_RUNNERS["dask"]
DASK_ADDRESS = re.compile(r"^(tcp|tls)://[A-Za-z0-9_.\-]+:(\d{1,5})$")
# Pipeline options that have a setting of their own: refused in RUNWAY_BEAM_EXTRA_OPTIONS.
OWN_BEAM_OPTIONS = {
    "runner": "RUNWAY_BEAM_RUNNER",
    "dask_client_address": "RUNWAY_DASK_SCHEDULER",
    "dask_connection_timeout": "RUNWAY_DASK_CONNECT_TIMEOUT_S",
}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class GateThresholds:
    """The model gate's thresholds (`runway.training.gate`).

    Defaults chosen on real 2013 weeks (42-day frames, 7-day validation and test). Sound
    models scored test AUC 0.64-0.74, ECE 0.02-0.05, worst carrier slice AUC >= 0.59;
    label-shuffled models AUC 0.47-0.53; models caught by a storm week AUC 0.57-0.60, ECE
    0.07-0.21. The floors sit between those groups."""

    min_test_rows: int = 1000  # fewer and the metrics below are noise
    min_roc_auc: float = 0.60  # the schedule-only baseline reaches ~0.64
    min_log_loss_skill: float = 0.0  # 1 - log_loss / log_loss(base rate): beat the base rate
    max_ece: float = 0.05  # probabilities are used as such: calibrated within 5 points
    max_auc_drop: float = 0.01  # vs champion, same window
    max_log_loss_increase: float = 0.01  # vs champion, same window
    slice_columns: tuple[str, ...] = ("carrier", "origin")
    min_slice_rows: int = 300  # smaller slices: AUC standard error > ~0.04, not judged
    min_slice_auc: float = 0.55


@dataclasses.dataclass(frozen=True)
class RetrainPolicy:
    """When monitoring triggers a training run (`runway.monitoring.decision`), and on what.

    Drift: the share of feature columns whose entity-day distribution moved beyond the
    week-to-week variation of the champion's own training window (each column calibrated on
    it). Measured over 2013 (scripts/drift_controls.py, ten six-week windows): the two weeks
    after a window reached 0.15 in 5 of 20 (spring, late summer, the holidays), a random half
    of a window against the other half in 0 of 10, the same weeks 22-23 weeks later in 10 of
    10 (the old rule, Evidently's fixed 0.1 per column over flights, fired on all 30 no-change
    controls). Decay: the realized figures of the trailing monitoring window, each with a
    day-block bootstrap interval, against the champion's test figures."""

    drift_threshold: float = 0.15  # drifted share of columns that counts as a drift day
    consecutive_days: int = 3  # drift days in a row (ending today) before retraining
    auc_drop: float = 0.02  # decay: realized AUC's upper bound below the test AUC minus this
    log_loss_rise: float = 0.02  # decay: realized log loss's lower bound above test + this
    max_ece: float = 0.05  # decay: realized ECE's lower bound above this
    cooldown_days: int = 14  # no drift/decay retraining this soon after the last one
    window_days: int = 42  # the training window a retraining (or a run without one) uses


@dataclasses.dataclass(frozen=True)
class ExperimentPolicy:
    """How an online experiment decides (`runway.experiments.decision`), and on what.

    The primary test compares the arms' within-day AUC (each day's flights ranked against each
    other, so the weather a day shares cancels), one difference per day, in a weighted t-test
    over days; the daily looks are corrected by Lan-DeMets O'Brien-Fleming alpha spending
    (`runway.experiments.design`). The planned length comes from a power calculation on the
    champion's baseline rates; guardrails end an experiment at once."""

    alpha: float = 0.05  # one-sided: false promotions over the whole experiment, all looks
    harm_alpha: float = 0.05  # one-sided: rolling back a challenger that is not worse
    power: float = 0.80  # chance of promoting a challenger better by `auc_margin`
    auc_margin: float = 0.02  # the within-day AUC gain worth detecting
    min_days: int = 5  # refuse to decide on fewer labelled days (the t-test's df, the intervals)
    max_days: int = 60  # a plan longer than this is refused at start: raise the share or margin
    ab_share: float = 0.5  # the challenger's traffic share in `ab` unless the start says otherwise
    ramp: tuple[float, ...] = (0.05, 0.25, 0.5)  # the canary's challenger shares, in order
    ramp_days: int = 3  # days each canary step must hold its guardrails before the next
    max_error_rate: float = 0.01  # guardrail: the challenger arm's share of failed answers
    max_latency_p99_ms: float = 50.0  # guardrail: the challenger arm's p99 answer latency
    max_ece: float = 0.10  # guardrail: the challenger arm's ECE (interval's lower bound)
    min_ece_flights: int = 500  # ... judged on at least this many labelled flights (bias)
    guardrail_alpha: float = 0.01  # each guardrail's test level (error rate, latency)
    resamples: int = 1000  # day-block bootstrap resamples of the report's intervals
    level: float = 0.90  # the intervals' coverage


@dataclasses.dataclass(frozen=True)
class ServingSettings:
    """The online endpoint (`runway.serving`): where it listens, how many workers, its bounds.

    The bearer key is generated once per installation under `home` (`Settings.serving_key_file`)
    unless `api_key` is given (the cluster passes one from its secrets)."""

    host: str = "127.0.0.1"
    port: int = 8090
    workers: int = 2  # uvicorn worker processes under gunicorn
    max_flights: int = 100  # flights in one call; more is refused naming the field
    poll_seconds: float = 2.0  # how often each worker asks the registry where the alias points
    log_batch_rows: int = 500  # the served-predictions writer flushes at this many rows ...
    log_flush_seconds: float = 1.0  # ... or this often, whichever comes first
    api_key: str = ""  # empty: the per-installation key file


@dataclasses.dataclass(frozen=True)
class BacktestPolicy:
    """The rolling-origin backtest of a recipe (`runway.training.backtest`) that the training
    DAG runs beside its candidates, feeding the gate's `beats_baseline` check.

    The DAG backtests few windows, so that `make demo` stays within its minutes;
    `scripts/backtest_report.py` runs the year's (>= 8) with the same code."""

    windows: int = 2  # folds ending at the training window's end, as many as the history holds
    test_days: int = 14  # each fold's out-of-time test days
    n_trials: int = 3  # Optuna trials per recipe and fold
    timeout_s: float = 60.0  # per recipe and fold
    families: tuple[str, ...] = ("xgboost", "lightgbm")  # recipes backtested (of those trained)


@dataclasses.dataclass(frozen=True)
class Settings:
    profile: Literal["local", "cluster"] = "local"
    home: Path = REPO_ROOT / ".runway"  # all state of the local profile lives below it
    replay_year: int = 0  # the year 2013 is replayed onto; 0 = the current year
    scale: int = 1  # replicate the 2013 data N times (benchmarks)

    # cluster-profile services (local profile derives everything from `home`)
    postgres_url: str = ""  # e.g. postgresql+psycopg2://runway@127.0.0.1:5432/runway
    redis_url: str = ""  # e.g. redis://127.0.0.1:6379/0
    mlflow_tracking_uri: str = ""  # cluster: http://mlflow:5000
    mlflow_ui_url: str = "http://127.0.0.1:5000"  # where a browser reaches the MLflow UI

    # Beam
    beam_runner: str = "FnApiRunner"  # or "dask" (BEAM_RUNNERS), or a runner's class path
    beam_extra_options: str = ""  # e.g. "--flink_master=host:8081 --environment_type=LOOPBACK"
    dask_scheduler: str = ""  # the Dask runner's scheduler, tcp://host:8786 (needs runner dask)
    dask_connect_timeout_s: int = 30  # how long the job waits for the scheduler and a worker

    # feature windows, Feast
    feature_windows_days: tuple[int, ...] = (1, 7, 28)
    feature_service: str = "flight_delay_v1"
    feature_ttl_days: int = 35

    # MLflow
    model_name: str = "flight_delay"  # the registered model
    experiment: str = "flight_delay"

    # training: CPU threads per candidate fit (0 = all cores). Families train as parallel
    # tasks; on few cores, one thread each beats OpenMP threads spinning against each other.
    train_threads: int = 1

    # raw gate sanity bounds
    min_flights_per_day: int = 300
    max_flights_per_day: int = 1500
    # A day whose feature windows reach over a quarantined raw day: "mark" builds and serves it
    # (windows sum the days that exist) and names it in the feature gate's result; "hold"
    # quarantines its features until the raw day is mended and the days are rerun.
    window_gap_policy: Literal["mark", "hold"] = "mark"

    # monitoring
    monitor_window_days: int = 7  # trailing days compared with the reference (its test week)
    drift_sample_rows: int = 5000  # rows of each frame the drift report compares (speed)
    drift_seed: int = 13  # seed of that sample, so a rerun reports the same drift

    gate: GateThresholds = GateThresholds()
    retrain: RetrainPolicy = RetrainPolicy()
    experiments: ExperimentPolicy = ExperimentPolicy()
    serving: ServingSettings = ServingSettings()
    backtest: BacktestPolicy = BacktestPolicy()

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SettingsError(f"RUNWAY_PROFILE must be one of {PROFILES}, got {self.profile!r}")
        if self.scale < 1:
            raise SettingsError(f"RUNWAY_SCALE must be >= 1, got {self.scale}")
        if self.window_gap_policy not in ("mark", "hold"):
            raise SettingsError(
                f"RUNWAY_WINDOW_GAP_POLICY must be 'mark' or 'hold', got {self.window_gap_policy!r}"
            )
        if self.replay_year and not 2000 <= self.replay_year <= 2100:
            raise SettingsError(f"RUNWAY_REPLAY_YEAR out of range: {self.replay_year}")
        self._check_beam()
        ramp = self.experiments.ramp
        rising = all(a < b for a, b in zip(ramp, ramp[1:], strict=False))
        if not ramp or not rising or not all(0 < share < 1 for share in ramp):
            raise SettingsError(
                f"RUNWAY_EXPERIMENTS_RAMP must rise strictly inside (0, 1), got {ramp}"
            )
        unknown = sorted(set(self.backtest.families) - {"xgboost", "lightgbm", "torch"})
        if unknown:
            raise SettingsError(
                f"RUNWAY_BACKTEST_FAMILIES names unknown families {unknown}: "
                "of xgboost, lightgbm, torch"
            )
        if self.profile == "cluster":
            missing = [
                f"RUNWAY_{name.upper()}"
                for name in ("postgres_url", "redis_url", "mlflow_tracking_uri")
                if not getattr(self, name)
            ]
            if missing:
                raise SettingsError(f"the cluster profile needs {', '.join(missing)}")
        for group, name, low, high in (
            ("retrain", "drift_threshold", 0.0, 1.0),
            ("retrain", "auc_drop", 0.0, 1.0),
            ("retrain", "log_loss_rise", 0.0, 10.0),
            ("retrain", "max_ece", 0.0, 1.0),
            ("retrain", "consecutive_days", 1, None),
            ("retrain", "cooldown_days", 0, None),
            ("retrain", "window_days", 14, 366),
            ("gate", "max_ece", 0.0, 1.0),
            ("backtest", "windows", 0, 52),
            ("backtest", "test_days", 1, 60),
            ("backtest", "n_trials", 1, 500),
            ("backtest", "timeout_s", 1.0, 3600.0),
            ("gate", "min_roc_auc", 0.0, 1.0),
            (None, "drift_sample_rows", 1, None),
            (None, "monitor_window_days", 1, None),
            (None, "dask_connect_timeout_s", 1, None),
            ("experiments", "alpha", 1e-6, 0.5),
            ("experiments", "harm_alpha", 1e-6, 0.5),
            ("experiments", "power", 0.5, 0.999),
            ("experiments", "auc_margin", 1e-4, 0.5),
            ("experiments", "min_days", 2, None),
            ("experiments", "max_days", 2, 366),
            ("experiments", "ab_share", 0.01, 0.99),
            ("experiments", "ramp_days", 1, None),
            ("experiments", "max_error_rate", 0.0, 1.0),
            ("experiments", "max_latency_p99_ms", 0.0, None),
            ("experiments", "max_ece", 0.0, 1.0),
            ("experiments", "min_ece_flights", 1, None),
            ("experiments", "guardrail_alpha", 1e-6, 0.5),
            ("experiments", "resamples", 0, None),
            ("experiments", "level", 0.5, 0.999),
            (None, "feature_ttl_days", 1, None),
            ("serving", "port", 1, 65535),
            ("serving", "workers", 1, 64),
            ("serving", "max_flights", 1, 10000),
            ("serving", "poll_seconds", 0.1, 3600.0),
            ("serving", "log_batch_rows", 1, None),
            ("serving", "log_flush_seconds", 0.01, 60.0),
        ):
            value = getattr(getattr(self, group) if group else self, name)
            if not (low <= value and (high is None or value <= high)):  # NaN fails too
                bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
                raise SettingsError(f"{_env_name(name, group)} must be {bounds}, got {value}")

    def _check_beam(self) -> None:
        """Resolve the runner's short name (the field then holds what Beam is given) and
        refuse a runner, scheduler or extra option Beam would choke on later."""
        runner = BEAM_RUNNERS.get(self.beam_runner.lower(), self.beam_runner)
        object.__setattr__(self, "beam_runner", runner)
        if runner.lower() == "daskrunner":
            raise SettingsError(
                "RUNWAY_BEAM_RUNNER=DaskRunner: Beam refuses that short name; use "
                f"RUNWAY_BEAM_RUNNER=dask (or the full path {DASK_RUNNER})"
            )
        if not runner:
            raise SettingsError("RUNWAY_BEAM_RUNNER is empty: e.g. FnApiRunner or dask")
        if runner == DASK_RUNNER and not self.dask_scheduler:
            raise SettingsError(
                "RUNWAY_BEAM_RUNNER=dask needs RUNWAY_DASK_SCHEDULER, the scheduler's address "
                "(e.g. tcp://dask-scheduler:8786)"
            )
        if self.dask_scheduler:
            match = DASK_ADDRESS.match(self.dask_scheduler)
            if not match or not 1 <= int(match.group(2)) <= 65535:
                raise SettingsError(
                    f"RUNWAY_DASK_SCHEDULER must be tcp://host:port (or tls://host:port), "
                    f"got {self.dask_scheduler!r}"
                )
        try:
            extra = shlex.split(self.beam_extra_options)
        except ValueError as err:
            raise SettingsError(f"RUNWAY_BEAM_EXTRA_OPTIONS does not parse: {err}") from None
        for arg in extra:
            name = arg.lstrip("-").partition("=")[0]
            if name in OWN_BEAM_OPTIONS:
                raise SettingsError(
                    f"RUNWAY_BEAM_EXTRA_OPTIONS sets --{name}: set {OWN_BEAM_OPTIONS[name]} instead"
                )

    # ---- derived paths -------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def source_dir(self) -> Path:
        """The replayed source year, cached once as parquet."""
        return self.data_dir / "source"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def features_dir(self) -> Path:
        return self.data_dir / "features"

    @property
    def scored_dir(self) -> Path:
        """Scored flights per day (features + scores), read by monitoring."""
        return self.data_dir / "scored"

    @property
    def training_dir(self) -> Path:
        return self.data_dir / "training"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def references_dir(self) -> Path:
        """Drift references downloaded from MLflow, one file per model version."""
        return self.home / "references"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def feature_repo_dir(self) -> Path:
        return REPO_ROOT / "feature_repo"

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @property
    def mlflow_uri(self) -> str:
        """MLflow tracking + registry: SQLite locally, the tracking server on the cluster."""
        if self.profile == "cluster":
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def mlflow_artifact_location(self) -> str | None:
        """Where new experiments keep artifacts: a local folder, or (None) wherever the
        cluster's tracking server puts them (its --artifacts-destination)."""
        return None if self.profile == "cluster" else self.mlflow_artifacts_dir.as_uri()

    @property
    def sql_url(self) -> str:
        """SQLAlchemy URL of the `predictions` and `monitoring_metrics` tables."""
        if self.profile == "cluster":
            return self.postgres_url
        return f"sqlite:///{self.home / 'runway.db'}"

    @property
    def serving_dir(self) -> Path:
        """The serving service's state: its key file, its Prometheus multiprocess folder."""
        return self.home / "serving"

    @property
    def serving_key_file(self) -> Path:
        return self.serving_dir / "api_key"

    @property
    def replay_shift(self) -> dt.timedelta:
        """Whole weeks that carry 2013 onto the replay year, weekdays kept."""
        year = self.replay_year or dt.datetime.now(dt.UTC).year
        return replay_shift_for(year)


def replay_shift_for(year: int) -> dt.timedelta:
    """Shift 2013-01-01 (a Tuesday) to the Tuesday nearest to 1 January of `year`."""
    first = dt.date(year, 1, 1)
    offset = (first - dt.date(2013, 1, 1)).days
    weeks = round(offset / 7)
    return dt.timedelta(weeks=weeks)


def _env_name(name: str, group: str | None = None) -> str:
    return f"RUNWAY_{group.upper()}_{name.upper()}" if group else f"RUNWAY_{name.upper()}"


def _coerce(kind, raw: str, env: str):
    """`raw` (an environment variable's text) as a value of the field type `kind`."""
    origin = typing.get_origin(kind)
    try:
        if kind is int:
            return int(raw)
        if kind is float:
            value = float(raw)
            if math.isnan(value):
                raise ValueError("not a number")
            return value
        if kind is Path:
            return Path(raw).expanduser().resolve()
        if origin is tuple:
            item = typing.get_args(kind)[0]
            return tuple(item(x.strip()) for x in raw.split(",") if x.strip())
        return raw
    except ValueError as err:
        raise SettingsError(
            f"{env}={raw!r} is not a valid {getattr(kind, '__name__', kind)}: {err}"
        ) from None


def _from_env(cls, environ: dict[str, str], group: str | None = None):
    hints = typing.get_type_hints(cls)
    values = {}
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            values[field.name] = _from_env(kind, environ, field.name)
            continue
        env = _env_name(field.name, group)
        raw = environ.get(env)
        if raw is not None and raw != "":
            values[field.name] = _coerce(kind, raw, env)
    return cls(**values)


# Variables of earlier releases, refused with their new names rather than silently ignored.
RENAMED = {
    "RUNWAY_DRIFT_THRESHOLD": "RUNWAY_RETRAIN_DRIFT_THRESHOLD",
    "RUNWAY_DRIFT_CONSECUTIVE_DAYS": "RUNWAY_RETRAIN_CONSECUTIVE_DAYS",
    "RUNWAY_AUC_DROP": "RUNWAY_RETRAIN_AUC_DROP",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    renamed = [f"{old} (now {new})" for old, new in RENAMED.items() if environ.get(old)]
    if renamed:
        raise SettingsError(f"renamed settings: {', '.join(renamed)}")
    return _from_env(Settings, environ)


@functools.lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, resolved from the environment once."""
    return settings_from_env()
