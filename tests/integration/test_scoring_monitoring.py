"""Batch scoring and monitoring against a real champion: what a user of the loop would check.

The module builds one small installation from real components (`_model_world`): replayed days
landed, the Beam feature job, Feast, a LightGBM champion trained on a Feast training set and
promoted through the model gate. The tests then score and monitor with the package's own steps
(`scoring.steps.score`, `monitoring.steps.monitor_day` / `monitor` / `decide_retraining`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from runway import contracts, entities, registry, sql
from runway.features import sources
from runway.features import store as feature_store
from runway.io import partition_file
from runway.monitoring import decision
from runway.monitoring import drift as monitoring
from runway.monitoring import steps as monitoring_steps
from runway.scoring import batch as scoring
from runway.scoring.steps import score
from runway.settings import RetrainPolicy
from runway.training.training_set import write_training_set

from . import _model_world as mw

pytestmark = pytest.mark.integration
UTC = dt.UTC
SCORED_DAY = dt.date(2026, 3, 9)  # the day after the training window, its features in Feast
UNLANDED_DAY = dt.date(2026, 3, 16)  # raw landed through 2026-03-15 only: no labels yet
NO_FLIGHTS_DAY = dt.date(2027, 1, 5)  # after the replayed year (2025-12-30..2026-12-29)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings = mw.world_settings(tmp_path_factory.mktemp("scoring-world"))
    with mw.environment(settings):
        built = mw.build_world(settings)
        print(f"\nworld built: {built.timings}; candidate {built.candidate}")
        yield built


def _at(day: dt.date, hour: int = 6) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), UTC)


def _predictions(settings, day: dt.date) -> pd.DataFrame:
    """The predictions rows of one flight day (none when the table or database is absent)."""
    columns = [c.name for c in sql.predictions.columns]
    database = Path(sa.make_url(settings.sql_url).database)
    if not database.exists():
        return pd.DataFrame(columns=columns)
    engine = sql.engine(settings.sql_url)
    if not sa.inspect(engine).has_table(sql.predictions.name):
        return pd.DataFrame(columns=columns)
    query = sa.select(sql.predictions).where(sql.predictions.c.flight_date == day)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).fetchall(), columns=columns)


def _metrics(settings, day: dt.date) -> dict[str, float | None]:
    table = sql.monitoring_metrics
    query = sa.select(table.c.metric, table.c.value).where(table.c.day == day)
    with sql.engine(settings.sql_url).connect() as conn:
        return dict(conn.execute(query).fetchall())


def _scored_file(settings, day: dt.date) -> Path:
    return partition_file(settings.scored_dir, scoring.SCORED_TABLE, day.isoformat())


# ---- scoring -----------------------------------------------------------------------------------
def test_rescoring_a_day_upserts_its_predictions(world):
    settings = world.settings
    champion = world.promotion["champion"]
    expected = scoring.scheduled_flights(world.source, SCORED_DAY)
    assert len(expected) == len(entities.read_flights(settings.raw_dir, [SCORED_DAY])) > 300

    first = score(settings, [SCORED_DAY], run_id="r1", scored_at=_at(SCORED_DAY))
    assert (first["days"], first["flights"]) == (1, len(expected))
    assert first["models"] == {"champion": champion}
    rows = _predictions(settings, SCORED_DAY)
    assert len(rows) == len(expected)
    assert set(rows["flight_id"]) == set(expected["flight_id"])
    assert set(rows["run_id"]) == {"r1"} and set(rows["model_alias"]) == {"champion"}
    assert set(rows["model_version"]) == {champion}
    assert rows["score"].between(0, 1).all() and rows["score"].nunique() > 10

    later = _at(SCORED_DAY, 9)
    second = score(settings, [SCORED_DAY], run_id="r2", scored_at=later)
    assert (second["days"], second["flights"]) == (1, len(expected))
    again = _predictions(settings, SCORED_DAY)
    assert len(again) == len(expected)  # replaced, not appended
    assert set(again["run_id"]) == {"r2"}
    assert set(pd.to_datetime(again["scored_at"])) == {pd.Timestamp(later.replace(tzinfo=None))}
    merged = rows.merge(again, on=["flight_id", "model_version"], suffixes=("_r1", "_r2"))
    assert len(merged) == len(expected)
    np.testing.assert_allclose(merged["score_r1"], merged["score_r2"], rtol=0, atol=1e-12)


def test_a_day_without_flights_scores_nothing_and_does_not_fail(world):
    settings = world.settings
    first, last = sources.source_days(world.source)
    assert not first <= NO_FLIGHTS_DAY <= last
    assert scoring.scheduled_flights(world.source, NO_FLIGHTS_DAY).empty

    summary = score(settings, [NO_FLIGHTS_DAY], run_id="empty", scored_at=_at(NO_FLIGHTS_DAY))
    assert summary["days"] == 1 and summary["flights"] == 0
    assert _predictions(settings, NO_FLIGHTS_DAY).empty
    assert not _scored_file(settings, NO_FLIGHTS_DAY).exists()


def test_no_champion_refuses_and_writes_nothing(world, tmp_path):
    """A fresh MLflow store beside the same data and Feast definitions: no champion alias."""
    fresh = mw.world_settings(tmp_path / "fresh")
    fresh.data_dir.mkdir(parents=True)
    for name in ("source", "raw", "features"):
        (fresh.data_dir / name).symlink_to(world.settings.data_dir / name, target_is_directory=True)
    with mw.environment(fresh):
        feature_store.apply_definitions(feature_store.get_store(fresh))
        with pytest.raises(scoring.ChampionMissing) as refused:
            score(fresh, [SCORED_DAY], run_id="no-champion", scored_at=_at(SCORED_DAY))
    message = str(refused.value)
    assert "champion" in message and "training_pipeline" in message, message
    assert _predictions(fresh, SCORED_DAY).empty
    assert not fresh.scored_dir.exists() or not any(fresh.scored_dir.rglob("*.parquet"))


def _compare(expected: pd.DataFrame, actual: pd.DataFrame, what: str) -> None:
    """Every feature column equal, row by row (NaN equals NaN); all differences in one message."""
    differences = {}
    for feature in contracts.ALL_FEATURES:
        a = expected[feature].to_numpy(dtype="float64")
        b = actual[feature].to_numpy(dtype="float64")
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            differences[feature] = f"{(~same).sum()} rows, e.g. {a[~same][:3]} vs {b[~same][:3]}"
    assert not differences, f"{what}: {json.dumps(differences, indent=1)}"


def test_scoring_sees_the_features_training_and_the_online_store_hold(world, tmp_path):
    settings = world.settings
    score(settings, [SCORED_DAY], run_id="consistency", scored_at=_at(SCORED_DAY))
    scored = scoring.read_scored(settings.scored_dir, [SCORED_DAY]).set_index("flight_id")
    assert scored.index.is_unique and len(scored) > 300
    # the features are not trivially empty: most of them are present for most flights
    assert scored[list(contracts.ALL_FEATURES)].notna().mean().mean() > 0.9

    # the training set of the same day: same flights, same entity timestamp, same features
    out = tmp_path / "training_set.parquet"
    write_training_set(world.store, settings.raw_dir, SCORED_DAY, SCORED_DAY, out)
    trained = pd.read_parquet(out).set_index("flight_id")
    assert set(trained.index) == set(scored.index)
    trained = trained.loc[scored.index]
    stamp = pd.Timestamp(entities.prediction_time(SCORED_DAY))
    assert set(trained[contracts.EVENT_TIMESTAMP]) == {stamp}
    assert set(scored[contracts.EVENT_TIMESTAMP]) == {stamp}
    for key in contracts.ENTITY_COLUMNS:
        assert (trained[key] == scored[key]).all(), key
    _compare(trained, scored, "training set vs scored frame")

    # Feast's online store, materialized through the end of the day before: what serving gets
    assert mw.ONLINE_UNTIL == SCORED_DAY - dt.timedelta(days=1)
    rows = scored[list(contracts.ENTITY_COLUMNS)].to_dict("records")
    online = feature_store.online_features(world.store, rows)
    online.index = scored.index
    _compare(online, scored, "online store vs scored frame")


# ---- monitoring --------------------------------------------------------------------------------
def test_monitoring_a_day_whose_outcomes_have_not_landed(world):
    settings = world.settings
    assert not partition_file(settings.raw_dir, "flights", UNLANDED_DAY.isoformat()).exists()
    summary = score(settings, [UNLANDED_DAY], run_id="unlanded", scored_at=_at(UNLANDED_DAY))
    assert summary["flights"] > 300

    result = monitoring_steps.monitor_day(
        settings, UNLANDED_DAY, "monitor-unlanded", _at(UNLANDED_DAY, 7)
    )
    assert result["status"].startswith("labels not landed yet")
    assert result["model_version"] == world.promotion["champion"]
    assert result["flights_scored"] == summary["flights"]
    assert not [k for k in result if k.startswith("realized_")]
    written = _metrics(settings, UNLANDED_DAY)
    assert written["flights_scored"] == summary["flights"]
    assert not [m for m in written if m.startswith("realized_")]


@pytest.fixture(scope="module")
def monitored_test_window(world):
    """The champion's test window, scored by the champion, monitored with the settings in force."""
    settings = world.settings
    window = mw.days(*mw.TEST_WINDOW)
    assert world.candidate["windows"]["test"] == f"{window[0]}..{window[-1]}"
    score(settings, window, run_id="test-window", scored_at=_at(window[-1]))
    summary = monitoring_steps.monitor(
        settings, window, run_id="monitor-test-window", computed_at=_at(window[-1], 7)
    )
    version = world.promotion["champion"]
    metrics = registry.get_version_metrics(
        version, tracking_uri=settings.mlflow_uri, model_name=settings.model_name
    )
    test_auc = metrics["test_roc_auc"]
    table = sql.monitoring_metrics
    query = sa.select(table.c.day, table.c.metric, table.c.value).where(
        table.c.model_version == version
    )
    with sql.engine(settings.sql_url).connect() as conn:
        history = pd.DataFrame(conn.execute(query).fetchall(), columns=["day", "metric", "value"])
    observed = {
        d["day"]: (d.get("drift_share"), d.get("realized_auc"), round(d["realized_day_auc"], 3))
        for d in summary["days"]
    }
    print(f"\nchampion v{version} test AUC {test_auc:.3f}; (drift_share, realized AUC): {observed}")
    return window, summary, test_auc, history


def _decisions(settings, window, test_auc, history, **overrides) -> dict:
    """retraining_decision for each day of the window, on the monitoring table's history."""
    policy = dataclasses.replace(
        settings.retrain, **{k: overrides.pop(k) for k in list(overrides) if k.endswith("_days")}
    )
    kwargs = (
        dict(
            champion={"roc_auc": test_auc}, last_retrain=None, training_active=False, policy=policy
        )
        | overrides
    )
    return {day: decision.retraining_decision(history, today=day, **kwargs) for day in window}


def test_the_champions_own_test_window_triggers_no_retraining(world, monitored_test_window):
    settings = world.settings
    window, summary, test_auc, history = monitored_test_window
    assert (
        monitoring_steps.decide_retraining(settings, summary, training_active=False, allowed=True)
        is None
    )
    assert [d["status"].split(";")[0] for d in summary["days"]] == ["monitored"] * len(window)
    assert all(d["model_version"] == world.promotion["champion"] for d in summary["days"])
    assert summary["reports"] and all(Path(r).exists() for r in summary["reports"])
    # Only the last day's trailing window is whole: the test week itself, as the reference.
    *partial, last = summary["days"]
    assert all("drift_share" not in d and "realized_auc" not in d for d in partial)
    assert last["window_days"] == settings.monitor_window_days
    assert last["drift_share"] == 0.0
    assert last["realized_auc"] == pytest.approx(test_auc, abs=1e-6)  # same flights, same scores
    assert last["realized_n"] == sum(d["flights_scored"] for d in summary["days"])

    # The window as a whole is the reference's own population: Evidently finds no drift at all.
    scored = scoring.read_scored(settings.scored_dir, window)
    reference = monitoring_steps.reference_frame(settings, world.promotion["champion"])
    whole = monitoring.drift_report(
        reference,
        scored,
        list(contracts.ALL_FEATURES),
        settings.drift_sample_rows,
        settings.drift_seed,
        None,
    )
    assert whole["drift_share"] == 0.0

    # What blocks retraining here is the cooldown: the champion was trained through the
    # window's last day. The decision the pipeline took, day by day, with the settings in force:
    trained_until = dt.datetime.combine(window[-1], dt.time())
    decisions = _decisions(settings, window, test_auc, history, last_retrain=trained_until)
    for day, verdict in decisions.items():
        assert not verdict.retrain, (day, verdict.reason)
        assert verdict.reason in ("no signal", "cooldown")


def test_no_drift_or_decay_signal_on_the_champions_own_test_window(world, monitored_test_window):
    window, _, test_auc, history = monitored_test_window
    decisions = _decisions(world.settings, window, test_auc, history, cooldown_days=0)
    signals = {day.isoformat(): d.fired for day, d in decisions.items() if d.reason != "no signal"}
    assert not signals, signals


# ---- the trigger -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def training_params():
    """training_pipeline's params as the API server holds them (the serialized DAG)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    dags = Path(mw.__file__).resolve().parents[2] / "dags"
    bag = DagBag(dag_folder=str(dags / "training_pipeline.py"))
    assert bag.import_errors == {}
    dag = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags["training_pipeline"]))
    return dag.params


def _drift_conf(day: dt.date) -> dict:
    """The conf a real drift verdict (three drift days) gives the training run."""
    history = pd.DataFrame(
        [(day - dt.timedelta(days=i), decision.DRIFT_SHARE, 0.8) for i in range(3)]
        + [(day, decision.REALIZED_AUC, 0.66)],
        columns=["day", "metric", "value"],
    )
    policy = RetrainPolicy(drift_threshold=0.5, consecutive_days=3, auc_drop=0.05, cooldown_days=14)
    verdict = decision.retraining_decision(
        history, today=day, champion={"roc_auc": 0.68}, last_retrain=None, policy=policy
    )
    assert verdict.retrain and verdict.reason == "drift"
    return monitoring_steps.retraining_conf(
        day, verdict.reason, verdict.evidence, policy.window_days
    )


def test_the_trigger_conf_passes_the_training_dags_params(training_params):
    from airflow.sdk.exceptions import ParamValidationError

    conf = _drift_conf(dt.date(2026, 3, 8))
    assert conf is not None
    assert json.loads(json.dumps(conf)) == conf  # it travels as JSON (XCom, REST)
    resolved = training_params.deep_merge(conf).validate()
    assert resolved["window_start"] == "2026-01-26" and resolved["window_end"] == "2026-03-08"
    assert resolved["promotion"] == "auto" and resolved["reason"].startswith("drift")
    assert resolved["evidence"]["fired"] == ["drift"]

    with pytest.raises(ParamValidationError, match="promotion"):
        training_params.deep_merge({**conf, "promotion": "yolo"}).validate()
    with pytest.raises(ParamValidationError, match="window_end"):
        training_params.deep_merge({**conf, "window_end": 20260308}).validate()


def test_promoting_the_champion_is_a_no_op_and_an_unknown_version_is_refused(world):
    from runway import registry
    from runway.training.steps import promote_version

    settings = world.settings
    where = {"tracking_uri": settings.mlflow_uri, "model_name": settings.model_name}
    champion = world.promotion["champion"]
    moment = dt.datetime.combine(mw.TEST_WINDOW[1] + dt.timedelta(days=2), dt.time(6), UTC)
    before = registry.version_tags(champion, **where)
    same = promote_version(settings, champion, "keep it", "ci", moment, 7, "manual__promote-same")
    assert same["champion"] == champion and same["changed"] is False
    assert registry.version_tags(champion, **where) == before  # not re-gated, nothing recorded
    with pytest.raises(registry.RegistryError, match="has no version 999"):
        promote_version(settings, 999, "typo", "ci", moment, 7, "manual__promote-typo")
    assert registry.champion_version(**where) == champion
