"""The registered model's life, and the MLflow session every wing shares.

- the session: `tracking` (MLflow pointed at one store for a block), `mlflow_client`,
  `ensure_experiment`;
- aliases: challenger, gate verdicts, promotion, rollback, champion lookups. Only registry
  ALIASES move (`champion`, `challenger`); stages are deprecated in MLflow and never used.
  Who moved an alias, and why, is recorded as tags on the model versions;
- the references each version carries (`REFERENCE_*`), written by training and
  read by monitoring.

Every function takes the tracking URI (tracking and registry are the same store) and the
registered model's name explicitly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from runway.settings import Settings

MODEL_NAME = Settings.model_name
CHAMPION = "champion"
CHALLENGER = "challenger"
TAG_PREFIX = "runway."
GATE_PASSED_TAG = f"{TAG_PREFIX}gate_passed"  # "true" / "false": set by `record_gate`


class RegistryError(ValueError):
    """A registry flow was refused: unknown version, gate not passed, wrong direction."""


@dataclasses.dataclass(frozen=True)
class AliasChange:
    alias: str
    previous: int | None  # the version the alias pointed to before (None: unset)
    current: int

    @property
    def changed(self) -> bool:
        return self.previous != self.current


# What monitoring compares a version with, kept in the run that produced it (`reference/`):
REFERENCE_DIR = "reference"
REFERENCE_SCORES = "reference.parquet"  # its test-window flights with its scores
REFERENCE_ENTITY_DAYS = "entity_days.parquet"  # its training window's entity-days
REFERENCE_CALIBRATION = "drift_calibration.json"  # each column's drift alarm


# ---- the MLflow session -------------------------------------------------------------------------
def mlflow_client(tracking_uri: str):
    """An MlflowClient on one store: tracking and registry are the same URI."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@contextlib.contextmanager
def tracking(tracking_uri: str) -> Iterator:
    """MLflow pointed at `tracking_uri` (tracking and registry) for the block; an
    `MlflowClient` on it is yielded. The process-wide state is restored exactly as found
    (MLflow keeps it in module globals and mirrors it into environment variables; restoring
    through `get_*_uri` would pin the resolved default and create ./mlflow.db)."""
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_state
    from mlflow.tracking._tracking_service import utils as tracking_state

    env_keys = (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR",
    )
    saved_env = {key: os.environ.get(key) for key in env_keys}
    saved = tracking_state._tracking_uri, registry_state._registry_uri
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # no bars in a task log
    try:
        # MLflow prints its notices ("Registered model ... already exists") to stderr, which a
        # task log shows as errors: they go to the log at INFO instead
        with contextlib.redirect_stderr(_LoggedLines(logging.getLogger("runway.mlflow"))):
            yield mlflow_client(tracking_uri)
    finally:
        mlflow.set_tracking_uri(saved[0])
        registry_state._registry_uri = saved[1]
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _LoggedLines(io.TextIOBase):
    """A text stream whose every line becomes an INFO record of `logger`."""

    def __init__(self, logger: logging.Logger):
        self.logger, self.pending, self.busy = logger, "", False

    def write(self, text: str) -> int:
        if self.busy:  # a handler of the logger writes to stderr itself: let it through
            return sys.__stderr__.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        self.busy = True
        try:
            for line in lines:
                if line.strip():
                    self.logger.info(line.rstrip())
        finally:
            self.busy = False
        return len(text)

    def flush(self) -> None:
        if self.pending.strip():
            self.logger.info(self.pending.rstrip())
        self.pending = ""


def ensure_experiment(client, name: str, artifact_location: str | Path | None = None) -> str:
    """The experiment's id, creating it (with its artifact location) on first use."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if artifact_location is not None:
        location = str(artifact_location)
        if "://" not in location:
            path = Path(location).expanduser().resolve()
            path.mkdir(parents=True, exist_ok=True)
            location = path.as_uri()
    try:
        return client.create_experiment(name, artifact_location=location)
    except MlflowException:  # created meanwhile by a concurrent task
        return client.get_experiment_by_name(name).experiment_id


def load_model(uri: str, *, tracking_uri: str):
    """`mlflow.pyfunc.load_model(uri)` against `tracking_uri`, process state restored."""
    import mlflow

    with tracking(tracking_uri):
        return mlflow.pyfunc.load_model(uri)


def load_scoring_model(uri: str, *, tracking_uri: str):
    """The registered model at `uri` as batch scoring calls it: `signature.ScoringModel`, the
    same artifact `load_model` reads, its signature checked by Runway rather than by MLflow's
    per-call enforcement (`ScoringModel.pyfunc` is the pyfunc model itself)."""
    from runway.signature import ScoringModel

    return ScoringModel(load_model(uri, tracking_uri=tracking_uri))


def version_uri(version: int, model_name: str = MODEL_NAME) -> str:
    return f"models:/{model_name}/{int(version)}"


# ---- the drift reference ------------------------------------------------------------------------
def log_reference(run_id: str, files: dict[str, object], *, tracking_uri: str) -> None:
    """Keep a version's references in its run under `reference/`: frames as parquet, dicts as
    JSON (names as `REFERENCE_*`)."""
    import json
    import tempfile

    client = mlflow_client(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp) / name
            if isinstance(content, dict):
                path.write_text(json.dumps(content, indent=1))
            else:
                content.to_parquet(path, index=False)
        client.log_artifacts(run_id, tmp, REFERENCE_DIR)


def reference_file(
    version: int, name: str, cache_dir: Path, *, tracking_uri: str, model_name: str = MODEL_NAME
) -> Path:
    """The local copy of one of a version's references, downloaded once into `cache_dir`."""
    cache = Path(cache_dir) / f"{model_name}-v{int(version)}" / name
    if not cache.exists():
        import tempfile

        from mlflow.exceptions import MlflowException

        client = mlflow_client(tracking_uri)
        run_id = _version(client, model_name, version).run_id
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache.parent) as tmp:  # concurrent tasks: no clash
            try:
                downloaded = client.download_artifacts(run_id, f"{REFERENCE_DIR}/{name}", tmp)
            except (MlflowException, OSError) as err:
                raise RegistryError(
                    f"{model_name} version {version} has no {REFERENCE_DIR}/{name} in run "
                    f"{run_id}: "
                    "it was not trained by this release's training_pipeline (retrain it)"
                ) from err
            Path(downloaded).replace(cache)
    return cache


# ---- aliases and tags ---------------------------------------------------------------------------


def _version(client, model_name: str, version: int | str):
    from mlflow.exceptions import MlflowException

    try:
        number = int(version)
    except (TypeError, ValueError):
        raise RegistryError(f"{model_name} has no version {version!r}") from None
    try:
        return client.get_model_version(model_name, str(number))
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise  # the store itself failed: not a user error
        raise RegistryError(f"{model_name} has no version {number}") from None


def _alias_version(client, model_name: str, alias: str) -> int | None:
    from mlflow.exceptions import MlflowException

    try:
        return int(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as err:
        # MLflow 3.17 answers an unset alias with INVALID_PARAMETER_VALUE, a missing model
        # with RESOURCE_DOES_NOT_EXIST: both mean "no such alias yet"
        if err.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        return None


def _require_gate_passed(mv, model_name: str) -> None:
    verdict = mv.tags.get(GATE_PASSED_TAG)
    if verdict != "true":
        state = "was rejected by" if verdict == "false" else "has never been through"
        raise RegistryError(
            f"{model_name} version {mv.version} {state} the model gate: only versions that "
            "passed it can be champion"
        )


def _set_tags(client, model_name: str, version: int, tags: dict[str, object]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), f"{TAG_PREFIX}{key}", str(value))


def champion_version(*, tracking_uri: str, model_name: str = MODEL_NAME) -> int | None:
    """The version the `champion` alias points to, or None before the first promotion."""
    return _alias_version(mlflow_client(tracking_uri), model_name, CHAMPION)


def alias_version(alias: str, *, tracking_uri: str, model_name: str = MODEL_NAME) -> int | None:
    """The version `alias` points to, or None while it is unset."""
    return _alias_version(mlflow_client(tracking_uri), model_name, alias)


def challenger_version(*, tracking_uri: str, model_name: str = MODEL_NAME) -> int | None:
    return _alias_version(mlflow_client(tracking_uri), model_name, CHALLENGER)


def alias_uri(alias: str = CHAMPION, model_name: str = MODEL_NAME) -> str:
    """`models:/flight_delay@champion`: what batch scoring loads with mlflow.pyfunc."""
    return f"models:/{model_name}@{alias}"


def version_tags(
    version: int, *, tracking_uri: str, model_name: str = MODEL_NAME
) -> dict[str, str]:
    return dict(_version(mlflow_client(tracking_uri), model_name, version).tags)


def versions_by_training_end(
    *, tracking_uri: str, model_name: str = MODEL_NAME
) -> list[tuple[dt.date, int, dict[str, str]]]:
    """(last day of its training window, version, tags) of every version that records its
    window, oldest window first."""
    found = []
    for mv in mlflow_client(tracking_uri).search_model_versions(f"name='{model_name}'"):
        window = mv.tags.get(f"{TAG_PREFIX}training_window", "")
        if ".." in window:
            found.append(
                (dt.date.fromisoformat(window.split("..")[-1]), int(mv.version), dict(mv.tags))
            )
    return sorted(found, key=lambda item: item[:2])  # (day, version): unique


def get_version_metrics(
    version: int, *, tracking_uri: str, model_name: str = MODEL_NAME
) -> dict[str, float]:
    """The metrics of the run that produced `version` (`valid_*`, `test_*`)."""
    client = mlflow_client(tracking_uri)
    mv = _version(client, model_name, version)
    return dict(client.get_run(mv.run_id).data.metrics)


def set_challenger(version: int, *, tracking_uri: str, model_name: str = MODEL_NAME) -> AliasChange:
    """Point `challenger` at `version` (scored in shadow beside the champion)."""
    client = mlflow_client(tracking_uri)
    _version(client, model_name, version)
    previous = _alias_version(client, model_name, CHALLENGER)
    client.set_registered_model_alias(model_name, CHALLENGER, str(int(version)))
    return AliasChange(CHALLENGER, previous, int(version))


def record_gate(version: int, verdict, *, tracking_uri: str, model_name: str = MODEL_NAME) -> None:
    """Write a `GateVerdict` onto the version (tags) and its run (verdict.json / .md).
    Re-gating the same version overwrites both."""
    client = mlflow_client(tracking_uri)
    mv = _version(client, model_name, version)
    failed = [c.name for c in verdict.checks if not c.passed]
    passed = len(verdict.checks) - len(failed)
    summary = f"{'PASSED' if verdict.passed else 'FAILED'} {passed}/{len(verdict.checks)} checks"
    if failed:
        summary += f"; failed: {', '.join(failed)}"
    _set_tags(
        client,
        model_name,
        int(version),
        {
            "gate_passed": "true" if verdict.passed else "false",
            "gate_summary": summary[:4000],
            "gate_policy": verdict.policy,
            "gate_champion_version": verdict.champion_version or "none",
        },
    )
    client.log_text(mv.run_id, verdict.to_json(), "gate/verdict.json")
    client.log_text(mv.run_id, verdict.to_markdown(), "gate/verdict.md")


def promote(
    version: int,
    *,
    tracking_uri: str,
    model_name: str = MODEL_NAME,
    actor: str = "runway",
    reason: str = "passed the model gate",
) -> AliasChange:
    """Point `champion` at `version`, which must have passed the gate. Clears `challenger`
    when it pointed at the promoted version. Promoting the champion again changes nothing."""
    client = mlflow_client(tracking_uri)
    mv = _version(client, model_name, version)
    _require_gate_passed(mv, model_name)
    previous = _alias_version(client, model_name, CHAMPION)
    change = AliasChange(CHAMPION, previous, int(version))
    if not change.changed:
        return change
    client.set_registered_model_alias(model_name, CHAMPION, str(int(version)))
    _set_tags(
        client,
        model_name,
        int(version),
        {"promoted_by": actor, "promotion_reason": reason, "previous_champion": previous or "none"},
    )
    if _alias_version(client, model_name, CHALLENGER) == int(version):
        client.delete_registered_model_alias(model_name, CHALLENGER)
    return change


def rollback(
    to_version: int,
    reason: str,
    actor: str,
    *,
    tracking_uri: str,
    model_name: str = MODEL_NAME,
) -> AliasChange:
    """Move `champion` back to an earlier version that passed the gate, recording who and
    why on both versions. Rolling back to the current champion changes nothing (a rerun)."""
    if not reason.strip() or not actor.strip():
        raise RegistryError("a rollback needs a reason and an actor")
    client = mlflow_client(tracking_uri)
    mv = _version(client, model_name, to_version)
    _require_gate_passed(mv, model_name)
    current = _alias_version(client, model_name, CHAMPION)
    target = int(to_version)
    if current is None:
        raise RegistryError(f"{model_name} has no champion to roll back from: use promote")
    if target == current:
        return AliasChange(CHAMPION, current, target)
    if target > current:
        raise RegistryError(
            f"rollback moves champion to an EARLIER version: {target} is newer than the "
            f"champion {current} (use promote)"
        )
    client.set_registered_model_alias(model_name, CHAMPION, str(target))
    _set_tags(
        client,
        model_name,
        target,
        {"rollback_from": current, "rollback_reason": reason, "rollback_actor": actor},
    )
    _set_tags(
        client,
        model_name,
        current,
        {"rolled_back_to": target, "rolled_back_reason": reason, "rolled_back_by": actor},
    )
    return AliasChange(CHAMPION, current, target)


def tag_version(
    version: int, tags: dict[str, object], *, tracking_uri: str, model_name: str = MODEL_NAME
) -> None:
    """Set `runway.<key>` tags on a version (an experiment's decision, say); refuses an
    unknown version, naming it."""
    client = mlflow_client(tracking_uri)
    _version(client, model_name, version)
    _set_tags(client, model_name, int(version), tags)
