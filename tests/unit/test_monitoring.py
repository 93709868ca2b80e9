"""Monitoring: the SQL tables (SQLite and Postgres), drift on real flights, the retraining rule."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from runway import monitoring, sources, sql
from runway.settings import Settings, SettingsError, settings_from_env

POSTGRES_URL = os.environ.get(
    "RUNWAY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
UTC = dt.timezone.utc
DELAY_COLUMNS = ["dep_delay", "arr_delay"]
NUMERIC_COLUMNS = [*DELAY_COLUMNS, "distance", "hour", "air_time"]


# ---- settings ------------------------------------------------------------------------------------
def test_monitoring_settings_parse_from_the_environment():
    settings = settings_from_env({"RUNWAY_DRIFT_THRESHOLD": "0.3", "RUNWAY_AUC_DROP": "0.02"})
    assert settings.drift_threshold == 0.3 and isinstance(settings.drift_threshold, float)
    assert settings.auc_drop == 0.02
    assert settings_from_env({"RUNWAY_RETRAIN_COOLDOWN_DAYS": "7"}).retrain_cooldown_days == 7
    for bad in ("lots", "1.5", "nan"):
        with pytest.raises(SettingsError, match="RUNWAY_DRIFT_THRESHOLD"):
            settings_from_env({"RUNWAY_DRIFT_THRESHOLD": bad})
    with pytest.raises(SettingsError, match="RUNWAY_DRIFT_CONSECUTIVE_DAYS"):
        settings_from_env({"RUNWAY_DRIFT_CONSECUTIVE_DAYS": "0"})


# ---- SQL tables on both dialects -----------------------------------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def bind(request, tmp_path):
    """A fresh database with the tables: a SQLite file, or a schema of its own in Postgres."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'nested' / 'runway.db'}"
        schema = None
    else:
        schema = f"runway_test_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(sa.schema.CreateSchema(schema))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    engine = sql.engine(url)
    sql.ensure_tables(engine)
    sql.ensure_tables(engine)  # twice: creating what exists is a no-op
    yield engine
    engine.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def _prediction(flight_id: str, score: float, version: int = 3) -> dict:
    return {
        "flight_id": flight_id,
        "model_version": version,
        "flight_date": dt.date(2026, 7, 6),
        "model_alias": "champion",
        "score": score,
        "scored_at": dt.datetime(2026, 7, 6, 4, 0, tzinfo=UTC),
        "run_id": "scheduled__2026-07-05",
    }


def _rows(bind, table) -> list[dict]:
    with bind.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]


def test_engine_is_cached_per_url_and_creates_the_tables(bind, tmp_path):
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert sql.engine(url) is sql.engine(url) is not sql.engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert {"predictions", "monitoring_metrics"} <= set(sa.inspect(bind).get_table_names())


def test_upsert_is_idempotent_and_updates_by_primary_key(bind):
    rows = [_prediction(f"2026-07-06-UA-{i}-EWR-0600", 0.1 * i) for i in range(1, 4)]
    shadow = _prediction("2026-07-06-UA-1-EWR-0600", 0.9, version=4)
    rows.append({**shadow, "model_alias": "challenger"})
    assert sql.upsert(bind, sql.predictions, rows) == 4
    assert sql.upsert(bind, sql.predictions, rows) == 4
    stored = _rows(bind, sql.predictions)
    assert len(stored) == 4

    rescored = [{**rows[0], "score": 0.75, "run_id": "manual__rescore"}]
    sql.upsert(bind, sql.predictions, rescored)
    stored = {(r["flight_id"], r["model_version"]): r for r in _rows(bind, sql.predictions)}
    assert len(stored) == 4
    first = stored[(rows[0]["flight_id"], 3)]
    assert first["score"] == pytest.approx(0.75) and first["run_id"] == "manual__rescore"
    assert stored[(rows[0]["flight_id"], 4)]["score"] == pytest.approx(0.9)  # other version kept
    assert first["flight_date"] == dt.date(2026, 7, 6)


def test_upsert_is_one_transaction(bind):
    good = _prediction("2026-07-06-B6-1-JFK-0700", 0.2)
    sql.upsert(bind, sql.predictions, [good])
    bogus = {**_prediction("2026-07-06-B6-2-JFK-0800", 0.3), "model_alias": "bogus"}
    batch = [{**good, "score": 0.99}, bogus]
    with pytest.raises(sa.exc.IntegrityError):  # the alias check fails on the second row
        sql.upsert(bind, sql.predictions, batch)
    (stored,) = _rows(bind, sql.predictions)
    assert stored["score"] == pytest.approx(0.2)  # the first row's update was rolled back


def test_upsert_refuses_malformed_rows(bind):
    row = _prediction("2026-07-06-AA-1-LGA-0900", 0.5)
    with pytest.raises(ValueError, match="repeat a primary key"):
        sql.upsert(bind, sql.predictions, [row, {**row, "score": 0.6}])
    with pytest.raises(ValueError, match="no columns"):
        sql.upsert(bind, sql.predictions, [{**row, "colour": "red"}])
    with pytest.raises(ValueError, match="primary-key"):
        sql.upsert(bind, sql.predictions, [{k: v for k, v in row.items() if k != "model_version"}])
    assert sql.upsert(bind, sql.predictions, []) == 0
    assert _rows(bind, sql.predictions) == []


def test_metric_rows_round_trip_into_the_retraining_decision(bind):
    computed = dt.datetime(2026, 7, 9, 5, 0, tzinfo=UTC)
    today = dt.date(2026, 7, 8)
    for offset, share in ((2, 0.6), (1, 0.7), (0, 0.8)):
        day = today - dt.timedelta(days=offset)
        metrics = {
            "drift_share": share,
            "per_column": {"dep_delay": np.float64(0.3)},
            "html": "/reports/drift.html",  # not a metric: left out
            "realized_auc": None,  # no labels yet: stored as NULL
            "n": np.int64(0),
        }
        rows = monitoring.metric_rows(day, 7, metrics, f"scheduled__{day}", computed)
        names = sorted(r["metric"] for r in rows)
        assert names == ["drift_share", "n", "per_column.dep_delay", "realized_auc"]
        sql.upsert(bind, sql.monitoring_metrics, rows)
        sql.upsert(bind, sql.monitoring_metrics, rows)  # a rerun of the day
    stored = pd.DataFrame(_rows(bind, sql.monitoring_metrics))
    assert len(stored) == 12 and stored.loc[stored.metric == "realized_auc", "value"].isna().all()

    decision = monitoring.retraining_decision(
        stored[["day", "metric", "value"]], today, 0.7, None, False, 0.5, 3, 0.05, 14
    )
    assert decision.retrain and decision.reason == "drift"
    assert decision.evidence["realized_auc"] is None


# ---- drift on the real flights -------------------------------------------------------------------
@pytest.fixture(scope="module")
def flights(tmp_path_factory) -> pd.DataFrame:
    settings = Settings(home=tmp_path_factory.mktemp("runway"), replay_year=2026)
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, 1)
    frame = pd.read_parquet(source / "flights.parquet", columns=["flight_date", *NUMERIC_COLUMNS])
    frame["month"] = pd.to_datetime(frame["flight_date"]).dt.month
    return frame


def test_drift_report_tells_same_weeks_from_another_season(flights, tmp_path):
    settings = Settings()
    january = flights[flights["month"] == 1]
    july = flights[flights["month"] == 7]
    shuffled = january.sample(frac=1.0, random_state=0)
    half_a, half_b = shuffled.iloc[: len(shuffled) // 2], shuffled.iloc[len(shuffled) // 2 :]

    args = dict(
        columns=NUMERIC_COLUMNS, sample=settings.drift_sample_rows, seed=settings.drift_seed
    )
    same = monitoring.drift_report(half_a, half_b, html_path=tmp_path / "same.html", **args)
    season_html = tmp_path / "reports" / "season.html"  # its folder is created
    season = monitoring.drift_report(january, july, html_path=season_html, **args)

    assert same["columns"] == season["columns"] == len(NUMERIC_COLUMNS)
    assert same["drift_share"] < settings.drift_threshold
    assert same["drifted_columns"] == 0
    # air_time sits at Evidently's column threshold (0.101 vs 0.1): assert on the delays only
    assert season["drifted_columns"] >= len(DELAY_COLUMNS)
    assert season["drift_share"] == pytest.approx(season["drifted_columns"] / len(NUMERIC_COLUMNS))
    for col in DELAY_COLUMNS:  # summer thunderstorms: delays move, well beyond sampling noise
        assert season["methods"][col] == "Wasserstein distance (normed)"
        assert season["per_column"][col] > 0.1 > same["per_column"][col]
        assert season["per_column"][col] > 5 * same["per_column"][col]
    json.dumps(season)  # the result travels through XCom

    for result in (same, season):
        html = Path(result["html"])
        assert html.is_file() and html.stat().st_size > 10_000
        text = html.read_text(encoding="utf-8")
        # Evidently's dashboard renderer, fed with the drift metrics of our columns
        assert "window.drawDashboard" in text and "Share of Drifted Columns" in text
        assert "dep_delay" in text
        assert [p.name for p in html.parent.iterdir() if p.name.endswith(".tmp")] == []

    again = monitoring.drift_report(half_a, half_b, html_path=tmp_path / "same.html", **args)
    assert again["per_column"] == same["per_column"]  # same seed, same sample, same report

    # The daily figure without the HTML report: the same tests, the same verdict.
    fast = monitoring.drift_report(january, july, html_path=None, **args)
    assert fast["html"] is None
    assert fast["drift_share"] == season["drift_share"]
    assert fast["drifted_columns"] == season["drifted_columns"]


def test_drift_report_counts_a_column_that_stopped_arriving(flights, tmp_path):
    january = flights[flights["month"] == 1]
    shuffled = january.sample(n=4000, random_state=1)
    reference, current = shuffled.iloc[:2000], shuffled.iloc[2000:].assign(air_time=np.nan)
    result = monitoring.drift_report(
        reference, current, NUMERIC_COLUMNS, 2000, 13, tmp_path / "empty.html"
    )
    assert result["empty_columns"] == ["air_time"] and result["per_column"]["air_time"] is None
    assert result["drifted_columns"] >= 1
    assert result["drift_share"] == pytest.approx(result["drifted_columns"] / len(NUMERIC_COLUMNS))
    with pytest.raises(KeyError, match="wx_temp"):
        monitoring.drift_report(reference, current, ["wx_temp"], 100, 13, tmp_path / "x.html")


# ---- prediction drift and realized performance ---------------------------------------------------
def test_prediction_drift_sees_a_shift_in_scores():
    rng = np.random.default_rng(0)
    reference = rng.beta(2, 8, 5000)
    same = monitoring.prediction_drift(reference, rng.beta(2, 8, 1000))
    shifted = monitoring.prediction_drift(reference, rng.beta(4, 6, 1000))
    assert same["score_ks_pvalue"] > 0.01 and same["score_wasserstein"] < 0.1
    assert shifted["score_ks_pvalue"] < 1e-6 and shifted["score_wasserstein"] > 1.0
    assert shifted["score_mean_shift"] == pytest.approx(0.4 - 0.2, abs=0.02)
    assert shifted["score_rows"] == 1000
    empty = monitoring.prediction_drift(reference, [])
    assert empty["score_rows"] == 0 and empty["score_ks_pvalue"] is None
    assert monitoring.prediction_drift(np.full(10, 0.3), [0.3, 0.4])["score_wasserstein"] is None


def test_realized_performance_with_one_class_or_no_rows():
    both = monitoring.realized_performance([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    assert both["auc"] == pytest.approx(1.0) and both["n"] == 4 and both["positive_rate"] == 0.5
    one = monitoring.realized_performance([0, 0, 0], [0.1, 0.5, 0.2])
    assert one["auc"] is None and one["n"] == 3 and one["positive_rate"] == 0.0
    assert one["brier"] == pytest.approx((0.01 + 0.25 + 0.04) / 3)
    none = monitoring.realized_performance([], [])
    assert none == {"auc": None, "brier": None, "ece": None, "n": 0, "positive_rate": None}
    json.dumps([both, one, none])


# ---- the retraining decision ---------------------------------------------------------------------
TODAY = dt.date(2026, 7, 20)
RULE = dict(drift_threshold=0.5, consecutive_days=3, auc_drop=0.05, cooldown_days=14)


def _history(drift: dict[int, float], auc: dict[int, float]) -> pd.DataFrame:
    """monitoring_metrics rows; keys are days before TODAY (negative: after it)."""
    rows = [(TODAY - dt.timedelta(days=k), monitoring.DRIFT_SHARE, v) for k, v in drift.items()]
    rows += [(TODAY - dt.timedelta(days=k), monitoring.REALIZED_AUC, v) for k, v in auc.items()]
    rows.append((TODAY, "brier", 0.2))  # other metrics are ignored
    return pd.DataFrame(rows, columns=["day", "metric", "value"])


DRIFT_3_DAYS = {0: 0.8, 1: 0.6, 2: 0.55}
RETRAINED_5_DAYS_AGO = dt.datetime(2026, 7, 15, 12, 0, tzinfo=UTC)  # 08:00 in New York
AFTER_TODAY = dt.datetime(2026, 7, 25)
COOLDOWN_OVER = dt.datetime(2026, 7, 6, 12, 0)  # 14 days before TODAY: the cooldown has ended


# (case, drift shares and AUCs by days before TODAY, last retrain, training active, outcome);
# an outcome of "drift" or "decay" is a retraining, anything else the reason there is none.
@pytest.mark.parametrize(
    "case, drift, auc, last_retrain, active, outcome",
    [
        ("drift k days", DRIFT_3_DAYS, {}, None, False, "drift"),
        ("drift k-1 days", {0: 0.8, 1: 0.6, 2: 0.3}, {}, None, False, "no signal"),
        ("drift at threshold", {0: 0.8, 1: 0.6, 2: 0.5}, {}, None, False, "no signal"),
        ("a gap day breaks the streak", {0: 0.8, 1: 0.6, 3: 0.9}, {}, None, False, "no signal"),
        ("rows after today ignored", {-1: 0.9, 0: 0.8, 1: 0.6}, {}, None, False, "no signal"),
        ("decay", {}, {0: 0.62, 1: 0.63}, None, False, "decay"),
        ("one bad day in the mean", {}, {0: 0.60, 1: 0.72, 2: 0.72}, None, False, "no signal"),
        ("cooldown blocks", DRIFT_3_DAYS, {}, RETRAINED_5_DAYS_AGO, False, "cooldown"),
        ("cooldown over", DRIFT_3_DAYS, {}, COOLDOWN_OVER, False, "drift"),
        ("retrained after today", DRIFT_3_DAYS, {}, AFTER_TODAY, False, "cooldown"),
        ("training active blocks", DRIFT_3_DAYS, {}, None, True, "training active"),
        ("decay while training", {}, {0: 0.5}, None, True, "training active"),
        ("no history", {}, {}, None, False, "no signal"),
    ],
)
def test_retraining_decision(case, drift, auc, last_retrain, active, outcome):
    history = _history(drift, auc)
    decision = monitoring.retraining_decision(history, TODAY, 0.70, last_retrain, active, **RULE)
    assert (decision.retrain, decision.reason) == (outcome in ("drift", "decay"), outcome), case
    json.dumps(decision.evidence)  # it becomes the training run's conf


def test_retraining_evidence_names_values_thresholds_and_days():
    history = _history(DRIFT_3_DAYS, {0: 0.60, 2: 0.62})
    rule = {**RULE, "cooldown_days": 3}
    decision = monitoring.retraining_decision(
        history, TODAY, 0.70, RETRAINED_5_DAYS_AGO, False, **rule
    )
    assert decision.retrain and decision.reason == "drift"
    evidence = decision.evidence
    assert evidence["signals"] == ["drift", "decay"]
    assert evidence["window"] == ["2026-07-18", "2026-07-19", "2026-07-20"]
    by_day = {"2026-07-18": 0.55, "2026-07-19": 0.6, "2026-07-20": 0.8}
    assert evidence["drift_share_by_day"] == by_day
    assert evidence["realized_auc_by_day"]["2026-07-19"] is None
    assert evidence["realized_auc"] == pytest.approx(0.61)
    assert evidence["auc_floor"] == pytest.approx(0.65)
    assert evidence["days_since_retrain"] == 5 and evidence["cooldown_days"] == 3
    assert evidence["drift_threshold"] == 0.5 and evidence["consecutive_days"] == 3
