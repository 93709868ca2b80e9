"""What the `experiment_control` and `online_experiment` DAGs' tasks call.

`start_experiment` plans an experiment from the champion's baseline (its test AUC, and its
test window's delayed rate and flights per day) and creates the record; `stop_experiment` ends
one by hand. `evaluate` is the daily look: the experiment's served answers joined with the
outcomes landed since (the raw flights' labels, as monitoring reads them), `decision.decide`,
the decision recorded on the experiment and as tags on the challenger version, the HTML
report written. A promotion goes through `model_promotion` (the gate re-run, audited): the
task returns its conf; a rollback needs no alias move (the champion never left), the service
sends every flight to the champion once the record is no longer active.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from runway import contracts, sql
from runway.experiments import design, record
from runway.experiments.assignment import CHALLENGER, CHAMPION
from runway.settings import ExperimentPolicy, Settings

log = logging.getLogger(__name__)
SERVED = "served_predictions"  # the serving wing's log of every answer


def plan(policy: ExperimentPolicy, mode: str, share: float, baseline: dict) -> dict:
    """The experiment's planned length from the baseline (`auc`, `rate`, `flights_per_day`).

    A canary is planned at its last step's share, plus the days its earlier steps hold; a
    plan longer than `max_days` is refused, naming what would shorten it."""
    final_share = {"shadow": 1.0, "ab": share, "canary": policy.ramp[-1]}[mode]
    out = design.planned_days(
        auc=baseline["auc"], rate=baseline["rate"], flights_per_day=baseline["flights_per_day"],
        share=final_share, margin=policy.auc_margin, alpha=policy.alpha, power=policy.power,
    )  # fmt: skip
    if mode == "canary":
        out["ramp_days"] = policy.ramp_days * (len(policy.ramp) - 1)
        out["days"] += out["ramp_days"]
    out["sequential"] = "Lan-DeMets O'Brien-Fleming spending, daily looks"
    if out["days"] > policy.max_days:
        raise record.ExperimentError(
            f"the plan needs {out['days']} days (> RUNWAY_EXPERIMENTS_MAX_DAYS "
            f"{policy.max_days}) to detect an AUC gain of {policy.auc_margin} at share "
            f"{final_share}: raise the share or the margin"
        )
    return out


def baseline(settings: Settings, champion: int) -> dict:
    """The champion's baseline: its test AUC; its test window's delayed rate, flights a day."""
    from runway import registry

    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    auc = registry.get_version_metrics(champion, **where).get("test_roc_auc")
    reference = pd.read_parquet(
        registry.reference_file(
            champion, registry.REFERENCE_SCORES, settings.references_dir, **where
        )
    )
    if auc is None or not math.isfinite(auc):
        raise record.ExperimentError(f"version {champion} records no test_roc_auc to plan from")
    per_day = reference.groupby("flight_date").size()
    return {
        "auc": float(auc),
        "rate": float(reference[contracts.LABEL].mean()),
        "flights_per_day": float(per_day.mean()),
    }


def start_experiment(
    settings: Settings, *, mode: str, challenger: int | None, share: float | None,
    start: dt.date, reason: str, actor: str, now: dt.datetime, salt: str | None = None,
    flights_per_day: float | None = None,
) -> dict:  # fmt: skip
    """Plan and create the experiment of `challenger` (default: the `challenger` alias)
    against the champion, from `start` on; the same start again returns the same record."""
    from runway import registry

    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    champion = registry.champion_version(**where)
    if champion is None:
        raise record.ExperimentError("no champion yet: run training_pipeline first")
    challenger = challenger or registry.challenger_version(**where)
    if challenger is None:
        raise record.ExperimentError("no challenger given and no `challenger` alias set")
    registry.version_tags(challenger, **where)  # refuses an unknown version, naming it
    if int(challenger) == champion:
        raise record.ExperimentError(f"version {challenger} is the champion: name another")
    policy = settings.experiments
    share = {"shadow": 1.0, "canary": policy.ramp[0]}.get(mode, share or policy.ab_share)
    facts = baseline(settings, champion)
    if flights_per_day:
        facts["flights_per_day"] = float(flights_per_day)
    planned = plan(policy, mode, share, facts)
    experiment_id = f"exp-v{champion}-v{int(challenger)}-{start.isoformat()}"
    created = create(
        settings, experiment_id=experiment_id, champion=champion, challenger=int(challenger),
        mode=mode, share=share, start=start, planned=planned, salt=salt or experiment_id,
        actor=actor, reason=reason, now=now,
    )  # fmt: skip
    if created["status"] == "active" and registry.challenger_version(**where) != int(challenger):
        # the service's arm loads the version behind the `challenger` alias: the experiment's
        registry.set_challenger(int(challenger), **where)
    registry.tag_version(
        int(challenger), {"experiment_id": experiment_id,
                          "experiment_status": created["status"], "experiment_mode": mode},
        **where,
    )  # fmt: skip
    return _summary(created)


def create(
    settings: Settings, *, experiment_id: str, champion: int, challenger: int, mode: str,
    share: float, start: dt.date, planned: dict, salt: str, actor: str, reason: str,
    now: dt.datetime,
) -> dict:  # fmt: skip
    """The record's row, written (idempotent: `record.create`)."""
    bind = sql.engine(settings.sql_url)
    sql.ensure_tables(bind)
    return record.create(
        bind,
        {
            "experiment_id": experiment_id, "champion_version": int(champion),
            "challenger_version": int(challenger), "mode": mode, "share": float(share),
            "ramp": list(settings.experiments.ramp) if mode == "canary" else [],
            "salt": salt, "start": start, "planned_days": int(planned["days"]), "plan": planned,
            "created_by": actor, "reason": reason,
        },
        now,
    )  # fmt: skip


def stop_experiment(
    settings: Settings, experiment_id: str | None, actor: str, reason: str, now: dt.datetime
) -> dict:
    """Stop `experiment_id` (default: the active one) by hand."""
    bind = sql.engine(settings.sql_url)
    sql.ensure_tables(bind)
    current = record.get(bind, experiment_id) if experiment_id else record.active(bind)
    if current is None:
        raise record.ExperimentError(
            f"no experiment {experiment_id!r}" if experiment_id else "no active experiment to stop"
        )
    return _summary(record.stop(bind, current["experiment_id"], actor, reason, now))


def _summary(experiment: dict) -> dict:
    keys = ("experiment_id", "champion_version", "challenger_version", "mode", "share",
            "status", "planned_days", "salt")  # fmt: skip
    out = {k: experiment[k] for k in keys}
    out["start"] = experiment["start"].isoformat()
    out["decisions"] = len(experiment["decisions"])
    return out


def outcomes(raw_dir: Path, days: list[dt.date]) -> pd.DataFrame:
    """flight_id, label of the days' flights that have landed (days not landed are left out)."""
    from runway import entities

    frames = []
    for day in days:
        try:
            flights = entities.read_flights(raw_dir, [day])
        except FileNotFoundError:
            continue
        frames.append(
            entities.entity_rows(flights, with_label=True)[["flight_id", contracts.LABEL]]
        )
    if not frames:
        return pd.DataFrame({"flight_id": pd.Series(dtype=str), contracts.LABEL: []})
    return pd.concat(frames, ignore_index=True)


def served(bind: sa.Engine, experiment_id: str, last: dt.date) -> pd.DataFrame:
    """The experiment's answers (and, in shadow, the challenger's unseen scores) of flight days
    up to `last`, failed ones included: the latest per flight and arm (a flight asked about
    twice counts once, as last answered)."""
    if not sa.inspect(bind).has_table(SERVED):
        raise RuntimeError(
            f"experiment {experiment_id} is active but {bind.url.database} has no {SERVED} "
            "table: start the serving service (make serve) so that it logs its answers"
        )
    table = sql.served_predictions
    columns = ["flight_id", "flight_date", "arm", "model_version", "score", "latency_ms",
               "served_at", "status", "answered"]  # fmt: skip
    query = sa.select(*(table.c[c] for c in columns)).where(
        table.c.experiment_id == experiment_id, table.c.flight_date <= last
    )
    with bind.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).fetchall(), columns=columns)
    frame = frame.sort_values("served_at").drop_duplicates(["flight_id", "arm"], keep="last")
    return frame.reset_index(drop=True)


def experiment_frame(served_rows: pd.DataFrame, landed: pd.DataFrame) -> pd.DataFrame:
    """The frame `decision.decide` reads: answers with their outcome (NaN until landed)."""
    frame = served_rows.merge(landed, on="flight_id", how="left")
    unknown = sorted(set(frame["arm"].dropna()) - {CHAMPION, CHALLENGER})
    if unknown or frame["arm"].isna().any():
        raise ValueError(f"served rows of an experiment carry arms {unknown or ['NULL']}")
    return pd.DataFrame(
        {
            "flight_key": frame["flight_id"].astype(str),
            "day": pd.to_datetime(frame["flight_date"]),
            "arm": frame["arm"].astype(str),
            "score": frame["score"].astype("float64"),
            "label": frame[contracts.LABEL].astype("float64"),
            "latency_ms": frame["latency_ms"].astype("float64"),
            # a failed answer (5xx) is logged with its arm, its status and no score
            "error": (frame["status"].astype("int64") >= 500).to_numpy()
            | frame["score"].isna().to_numpy(),
        }
    )


def evaluate(settings: Settings, day: dt.date, run_id: str, now: dt.datetime) -> dict:
    """The daily look at the active experiment for flight day `day`: decide, record, tag,
    report. Returns the decision's summary, with `promotion` (the conf of the
    `model_promotion` run to trigger) when it promotes."""
    from runway import registry
    from runway.experiments import decision as decisions
    from runway.experiments import report

    bind = sql.engine(settings.sql_url)
    sql.ensure_tables(bind)
    experiment = record.active(bind)
    if experiment is None:
        return {"status": "no active experiment", "day": day.isoformat()}
    if day < experiment["start"]:
        return {"status": f"experiment starts {experiment['start']}", "day": day.isoformat()}
    rows = served(bind, experiment["experiment_id"], day)
    days = sorted({d for d in pd.to_datetime(rows["flight_date"]).dt.date})
    frame = experiment_frame(rows, outcomes(settings.raw_dir, days))
    verdict = decisions.decide(frame, experiment, settings.experiments, day).to_dict()
    verdict["run_id"] = run_id
    updated = record.record_decision(bind, experiment["experiment_id"], verdict, now)
    html = report.write(updated, frame, settings.reports_dir / "experiments", settings.experiments)
    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    registry.tag_version(
        experiment["challenger_version"],
        {
            "experiment_id": experiment["experiment_id"],
            "experiment_status": updated["status"],
            "experiment_decision": verdict["action"],
            "experiment_evidence": _evidence(verdict)[:4000],
        },
        **where,
    )
    log.info("experiment %s on %s: %s", experiment["experiment_id"], day, _evidence(verdict))
    out = {"status": updated["status"], "report": str(html), **_summary(updated), **verdict}
    out.pop("guardrails", None)
    if verdict["action"] == "promote":
        out["promotion"] = promotion_conf(experiment, verdict)
    return out


def looks(settings: Settings, experiment_id: str | None = None) -> tuple[dict, pd.DataFrame]:
    """The experiment (default: the active one, else the latest created) and its looks, one
    row a day (`report.looks_table`): what `make demo` prints, from the record and the
    served answers joined with the landed outcomes."""
    from runway.experiments import report

    bind = sql.engine(settings.sql_url)
    sql.ensure_tables(bind)
    experiment = record.get(bind, experiment_id) if experiment_id else record.active(bind)
    if experiment is None and not experiment_id:
        experiment = record.latest(bind)
    if experiment is None:
        raise record.ExperimentError(
            f"no experiment {experiment_id!r}" if experiment_id else "no experiment yet"
        )
    decisions = experiment["decisions"]
    last = max((dt.date.fromisoformat(d["day"]) for d in decisions), default=experiment["start"])
    rows = served(bind, experiment["experiment_id"], last)
    days = sorted({d for d in pd.to_datetime(rows["flight_date"]).dt.date})
    frame = experiment_frame(rows, outcomes(settings.raw_dir, days))
    return experiment, report.looks_table(experiment, frame)


def promotion_conf(experiment: dict, verdict: dict) -> dict:
    """The `model_promotion` run's conf: the challenger, the evidence as its reason."""
    reason = f"online experiment {experiment['experiment_id']}: {_evidence(verdict)}"
    return {
        "version": int(experiment["challenger_version"]),
        "reason": reason[:2000],  # the param's maxLength
        "actor": f"experiment:{experiment['experiment_id']}",
    }


def _evidence(verdict: dict) -> str:
    def num(value):
        return "n/a" if value is None else f"{value:.4g}"

    low, high = verdict.get("interval") or (None, None)
    return (
        f"{verdict['action']} on {verdict['day']}: {verdict['reason']}; signal "
        f"{verdict['signal']} = {num(verdict['value'])} (threshold {num(verdict['threshold'])}, "
        f"interval [{num(low)}, {num(high)}]), test {verdict['test']}, p = "
        f"{num(verdict['p_value'])}, n = {verdict['n']}, days = {verdict['days']}"
    )
