"""The experiment record in the SQL store (`runway.sql.experiments`): one row per experiment.

Every change is one transaction that reads the row and writes it back (on Postgres under a
row lock), so a task that reruns changes nothing twice: creating the same experiment again
returns it, a decision for a day already decided replaces that day's entry, stopping a stopped
experiment is a no-op. At most one experiment is active (a partial unique index says so too).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from runway import sql

TABLE = sql.experiments
# the fields that make two starts the same experiment (a rerun, not a conflict)
IDENTITY = ("champion_version", "challenger_version", "mode", "salt", "start")
ENDS = {"promote": "promoted", "rollback": "rolled_back"}


class ExperimentError(ValueError):
    """An experiment cannot be created or changed as asked; the message says why."""


def _as_dict(row) -> dict[str, Any]:
    out = dict(row._mapping)
    out["decisions"] = list(out["decisions"] or [])
    return out


def get(bind: sa.Engine, experiment_id: str) -> dict | None:
    with bind.connect() as conn:
        row = conn.execute(sa.select(TABLE).where(TABLE.c.experiment_id == experiment_id)).first()
    return _as_dict(row) if row else None


def active(bind: sa.Engine) -> dict | None:
    """The active experiment, or None."""
    with bind.connect() as conn:
        row = conn.execute(sa.select(TABLE).where(TABLE.c.status == "active")).first()
    return _as_dict(row) if row else None


def latest(bind: sa.Engine) -> dict | None:
    """The experiment created last, or None."""
    with bind.connect() as conn:
        row = conn.execute(sa.select(TABLE).order_by(TABLE.c.created_at.desc()).limit(1)).first()
    return _as_dict(row) if row else None


def create(bind: sa.Engine, record: dict, now: dt.datetime) -> dict:
    """Create an active experiment; the same one again returns it unchanged.

    Refuses (ExperimentError) when another experiment is active, or when the id is taken by
    an experiment with other parameters."""
    if record["mode"] not in sql.EXPERIMENT_MODES:
        raise ExperimentError(f"mode must be one of {sql.EXPERIMENT_MODES}, got {record['mode']!r}")
    if record["champion_version"] == record["challenger_version"]:
        raise ExperimentError("the challenger must be another version than the champion")
    if not 0 < float(record["share"]) <= 1:
        raise ExperimentError(f"share must be in (0, 1], got {record['share']}")
    row = {
        **record,
        "status": "active",
        "decisions": [],
        "share_since": record["start"],
        "created_at": now,
        "updated_at": now,
    }
    with bind.begin() as conn:
        same = conn.execute(
            sa.select(TABLE).where(TABLE.c.experiment_id == record["experiment_id"])
        ).first()
        if same is not None:
            existing = _as_dict(same)
            differ = [k for k in IDENTITY if existing[k] != record[k]]
            if differ:
                raise ExperimentError(
                    f"experiment {record['experiment_id']} exists with other {differ}"
                )
            return existing
        other = conn.execute(sa.select(TABLE.c.experiment_id).where(TABLE.c.status == "active"))
        running = other.scalar()
        if running is not None:
            raise ExperimentError(
                f"experiment {running} is active: stop it (experiment_control, action stop) "
                "before starting another"
            )
        conn.execute(sa.insert(TABLE).values(**row))
    return get(bind, record["experiment_id"])


def _locked(conn, experiment_id: str):
    query = sa.select(TABLE).where(TABLE.c.experiment_id == experiment_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise ExperimentError(f"no experiment {experiment_id!r}")
    return _as_dict(row)


def record_decision(bind: sa.Engine, experiment_id: str, decision: dict, now: dt.datetime) -> dict:
    """Append a look's decision (replacing one for the same day), and apply it: a ramp moves
    the share from the next day, promote and rollback end the experiment."""
    with bind.begin() as conn:
        current = _locked(conn, experiment_id)
        if current["status"] != "active" and not any(
            d["day"] == decision["day"] for d in current["decisions"]
        ):
            raise ExperimentError(f"experiment {experiment_id} is {current['status']}")
        kept = [d for d in current["decisions"] if d["day"] < decision["day"]]
        values: dict[str, Any] = {"decisions": [*kept, decision], "updated_at": now}
        action = decision["action"]
        if action in ENDS:
            values["status"] = ENDS[action]
        elif action == "ramp":
            values["share"] = decision["share"]
            values["share_since"] = dt.date.fromisoformat(decision["day"]) + dt.timedelta(days=1)
        conn.execute(
            sa.update(TABLE).where(TABLE.c.experiment_id == experiment_id).values(**values)
        )
    return get(bind, experiment_id)


def stop(bind: sa.Engine, experiment_id: str, actor: str, reason: str, now: dt.datetime) -> dict:
    """Stop an experiment by hand (all traffic back to the champion); stopping one that has
    ended already changes nothing."""
    with bind.begin() as conn:
        current = _locked(conn, experiment_id)
        if current["status"] != "active":
            return current
        entry = {"day": now.date().isoformat(), "action": "stop", "reason": reason,
                 "actor": actor, "signal": "manual", "share": 0.0}  # fmt: skip
        conn.execute(
            sa.update(TABLE)
            .where(TABLE.c.experiment_id == experiment_id)
            .values(status="stopped", decisions=[*current["decisions"], entry], updated_at=now)
        )
    return get(bind, experiment_id)
