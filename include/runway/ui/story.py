"""The model's story, read from where each part is already stored.

Nothing here writes: the registry (aliases, version tags, run metrics), `monitoring_metrics`,
the quarantine folder and the reports folder are the record; this module only joins them for a
reader.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

from runway.io import QUARANTINE_REASONS
from runway.settings import Settings

TAG = "runway."
LINEAGE = ("training_window", "data_hash", "git_commit", "airflow_run_id", "feature_service")
METRICS = ("test_roc_auc", "test_log_loss", "test_ece", "test_daily_auc", "test_brier")
SERIES = (
    "drift_share",
    "realized_auc",
    "realized_auc_low",
    "realized_auc_high",
    "realized_ece",
    "realized_ece_low",
    "realized_ece_high",
    "realized_positive_rate",
    "mean_score_champion",
)


@dataclasses.dataclass(frozen=True)
class Version:
    version: int
    created: dt.datetime
    family: str
    aliases: tuple[str, ...]
    tags: dict[str, str]
    metrics: dict[str, float]
    run_id: str

    def tag(self, key: str, default: str = "") -> str:
        return self.tags.get(TAG + key, default)

    @property
    def lineage(self) -> dict[str, str]:
        return {key: self.tag(key) for key in LINEAGE if self.tag(key)}

    @property
    def events(self) -> list[dict]:
        """What happened to this version, each with who or what decided and why."""
        found = [
            {
                "what": "registered",
                "why": f"trigger: {self.tag('trigger', 'scheduled or manual')}"
                + (f" ({self.tag('trigger_signals')})" if self.tag("trigger_signals") else ""),
                "who": self.tag("airflow_run_id", "training_pipeline"),
            }
        ]
        if self.tag("gate_passed"):
            verdict = "passed" if self.tag("gate_passed") == "true" else "rejected"
            found.append(
                {"what": f"gate {verdict}", "why": self.tag("gate_summary"), "who": "gate"}
            )
        if self.tag("promoted_by"):
            found.append(
                {
                    "what": f"promoted to champion (was {self.tag('previous_champion', 'none')})",
                    "why": self.tag("promotion_reason"),
                    "who": self.tag("promoted_by"),
                }
            )
        if self.tag("rolled_back_to"):
            found.append(
                {
                    "what": f"rolled back to version {self.tag('rolled_back_to')}",
                    "why": self.tag("rolled_back_reason"),
                    "who": self.tag("rolled_back_by"),
                }
            )
        if self.tag("rollback_from"):
            found.append(
                {
                    "what": f"champion again, rolled back from {self.tag('rollback_from')}",
                    "why": self.tag("rollback_reason"),
                    "who": self.tag("rollback_actor"),
                }
            )
        if self.tag("retired"):
            found.append({"what": "retired", "why": self.tag("retired"), "who": "registration"})
        return found


@dataclasses.dataclass(frozen=True)
class Story:
    model_name: str
    versions: list[Version]  # newest first
    series: dict[str, list[tuple[dt.date, float]]]  # monitoring figure -> (day, value)
    quarantined: list[dict]  # newest first: day, gate, tables, reasons
    reports: dict[str, list[Path]]  # kind -> files, newest first
    error: str = ""  # why a part could not be read (shown, never raised)

    def alias(self, name: str) -> Version | None:
        return next((v for v in self.versions if name in v.aliases), None)


def versions(settings: Settings) -> list[Version]:
    from runway.registry import mlflow_client

    client = mlflow_client(settings.mlflow_uri)
    try:
        aliases = client.get_registered_model(settings.model_name).aliases or {}
    except Exception as err:  # no model registered yet
        if "RESOURCE_DOES_NOT_EXIST" in str(err) or "not found" in str(err).lower():
            return []
        raise
    by_version: dict[int, list[str]] = {}
    for alias, number in aliases.items():
        by_version.setdefault(int(number), []).append(alias)
    found = []
    for mv in client.search_model_versions(f"name='{settings.model_name}'"):
        run = client.get_run(mv.run_id)
        found.append(
            Version(
                version=int(mv.version),
                created=dt.datetime.fromtimestamp(mv.creation_timestamp / 1000, dt.UTC),
                family=run.data.params.get("family") or run.data.tags.get(TAG + "family", "?"),
                aliases=tuple(sorted(by_version.get(int(mv.version), []))),
                tags=dict(mv.tags),
                metrics={k: v for k, v in run.data.metrics.items() if k in METRICS},
                run_id=mv.run_id,
            )
        )
    return sorted(found, key=lambda v: -v.version)


def monitoring_series(settings: Settings) -> dict[str, list[tuple[dt.date, float]]]:
    """The champion's daily monitoring figures (the version that was champion that day)."""
    import sqlalchemy as sa

    from runway import sql

    engine = sql.engine(settings.sql_url)
    sql.ensure_tables(engine)
    table = sql.monitoring_metrics
    query = (
        sa.select(table.c.day, table.c.metric, table.c.value)
        .where(table.c.metric.in_(SERIES), table.c.value.is_not(None))
        .order_by(table.c.day, table.c.model_version)
    )
    series: dict[str, dict[dt.date, float]] = {}
    with engine.connect() as connection:
        for day, metric, value in connection.execute(query):
            series.setdefault(metric, {})[day] = float(value)  # the newest version wins
    return {metric: sorted(values.items()) for metric, values in series.items()}


def quarantined_days(quarantine_dir: Path, limit: int = 20) -> list[dict]:
    """The days a gate rejected, with the reasons it recorded (`_reasons/<gate>-<day>.json`)."""
    days: dict[str, dict] = {}
    for folder in sorted(quarantine_dir.glob("*/date=*")):
        if folder.parent.name.startswith("_"):
            continue
        day = folder.name.removeprefix("date=")
        days.setdefault(day, {"day": day, "gate": "", "tables": [], "reasons": []})
        days[day]["tables"].append(folder.parent.name)
    for path in sorted((quarantine_dir / QUARANTINE_REASONS).glob("*.json")):
        record = json.loads(path.read_text())
        entry = days.setdefault(record["day"], {"day": record["day"], "tables": []})
        entry.update(gate=record["gate"], reasons=record["reasons"])
    return sorted(days.values(), key=lambda d: d["day"], reverse=True)[:limit]


def reports(reports_dir: Path, gx_dir: Path) -> dict[str, list[Path]]:
    def newest(root: Path, pattern: str) -> list[Path]:
        return sorted(root.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)

    return {
        "drift": newest(reports_dir, "monitoring/*.html"),
        "gate": newest(reports_dir, "gate/*.html"),
        "cards": newest(reports_dir, "models/*.html"),
        "experiments": newest(reports_dir, "experiments/*.html"),
        "data_docs": newest(gx_dir, "*/index.html"),
    }


def read_story(settings: Settings) -> Story:
    """Every part that can be read; a part that cannot says why in `error`."""
    errors = []
    found_versions: list[Version] = []
    series: dict = {}
    try:
        found_versions = versions(settings)
    except Exception as err:
        errors.append(f"registry at {settings.mlflow_uri}: {err}")
    try:
        series = monitoring_series(settings)
    except Exception as err:
        errors.append(f"monitoring_metrics: {err}")
    return Story(
        model_name=settings.model_name,
        versions=found_versions,
        series=series,
        quarantined=quarantined_days(settings.quarantine_dir),
        reports=reports(settings.reports_dir, settings.gx_dir),
        error="; ".join(errors),
    )
