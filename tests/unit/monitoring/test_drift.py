"""Monitoring's measurements: drift on real flights, prediction drift, realized performance."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runway.features import sources
from runway.monitoring import drift as monitoring
from runway.settings import Settings

DELAY_COLUMNS = ["dep_delay", "arr_delay"]
NUMERIC_COLUMNS = [*DELAY_COLUMNS, "distance", "hour", "air_time"]


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
    header = "Runway drift report: July against January\nA drift day: at least 15% of columns"
    season = monitoring.drift_report(
        january, july, html_path=season_html, header=header, drift_share=0.15, **args
    )
    season_text = season_html.read_text(encoding="utf-8")  # what it covers, at the top
    assert "<title>Runway drift report: July against January</title>" in season_text
    assert season_text.index("A drift day: at least 15%") < season_text.index("drawDashboard")
    assert "threshold is 0.15" in season_text  # the dataset line uses Runway's share, not 0.5

    assert same["columns"] == season["columns"] == len(NUMERIC_COLUMNS)
    assert same["drift_share"] < settings.retrain.drift_threshold
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


# ---- calibrated drift over entity-days: the controls -------------------------------------------
def _featured_flights(settings: Settings, ranges: list[tuple[dt.date, dt.date]]) -> pd.DataFrame:
    """Real flights of the ranges with the features of the day before (the DuckDB reference)."""
    from runway import contracts
    from runway.days import day_range
    from runway.features import reference

    source = sources.prepare_source(settings.source_dir, settings.replay_shift, 1)
    parts = []
    for first, last in ranges:
        for day in day_range(first - dt.timedelta(days=contracts.MAX_WINDOW_DAYS), last):
            if not (settings.raw_dir / "flights" / f"date={day}").exists():
                sources.land_day(day, source, settings.raw_dir)
        parts.append(reference.featured_flights(settings.raw_dir, source, first, last))
    return pd.concat(parts, ignore_index=True)


JANUARY = (dt.date(2026, 1, 5), dt.date(2026, 2, 15))  # a six-week training window
NEXT_WEEK = (dt.date(2026, 2, 16), dt.date(2026, 2, 22))
JUNE = (dt.date(2026, 6, 9), dt.date(2026, 6, 21))  # three trailing weeks, ending 6-19..6-21


@pytest.fixture(scope="module")
def entity_days(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("drift"), replay_year=2026)
    frame = _featured_flights(settings, [(JANUARY[0], NEXT_WEEK[1]), JUNE])
    return monitoring.entity_days(frame)


def _between(days: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    return days[(days["flight_date"] >= first) & (days["flight_date"] <= last)]


def _drift_days(reference, calibration, current, last_days) -> pd.DataFrame:
    """The monitor's figure on each of `last_days`: its trailing week against the reference,
    as `monitoring_metrics` rows the decision reads."""
    from runway import contracts
    from runway.days import trailing

    rows = []
    for day in last_days:
        week = trailing(day, 7)
        found = monitoring.drift_report(
            reference, _between(current, week[0], week[-1]), list(contracts.ALL_FEATURES), None, 0,
            None, thresholds=calibration["thresholds"],
        )  # fmt: skip
        rows.append((day, "drift_share", found["drift_share"]))
    return pd.DataFrame(rows, columns=["day", "metric", "value"])


def _decide(history, today):
    from runway.monitoring.decision import retraining_decision
    from runway.settings import RetrainPolicy

    return retraining_decision(
        history, today, {"roc_auc": None}, None, RetrainPolicy(cooldown_days=0)
    )


def test_calibrated_drift_is_quiet_on_normal_weeks_and_loud_across_seasons(entity_days):
    from runway import contracts

    columns = list(contracts.ALL_FEATURES)
    reference = _between(entity_days, *JANUARY)
    calibration = monitoring.calibrate(reference, columns)
    assert len(calibration["weeks"]) == 6 and set(calibration["thresholds"]) == set(columns)
    assert all(t >= monitoring.CALIBRATION_FLOOR for t in calibration["thresholds"].values())

    # the week after the window, judged on each of its last three days: quiet
    last = [NEXT_WEEK[1] - dt.timedelta(days=i) for i in (2, 1, 0)]
    history = _drift_days(reference, calibration, entity_days, last)
    assert history["value"].max() < 0.15, history
    assert _decide(history, last[-1]).reason == "no signal"

    # a random half of each entity-day set against the other half's last week: quiet
    half = reference.sample(frac=0.5, random_state=1)
    other = reference.drop(half.index)
    split = _drift_days(half, monitoring.calibrate(half, columns), other, [JANUARY[1]])
    assert split["value"].max() < 0.15, split

    # January's window against June: loud on three days in a row, so the decision retrains
    last = [JUNE[1] - dt.timedelta(days=i) for i in (2, 1, 0)]
    history = _drift_days(reference, calibration, entity_days, last)
    assert history["value"].min() >= 0.15, history
    decision = _decide(history, last[-1])
    assert decision.retrain and decision.reason == "drift", decision.evidence


def test_uncalibrated_entity_drift_would_fire_on_the_next_week(entity_days):
    """The old rule (Evidently's fixed 0.1 per column) on the same entity-days: a timer."""
    from runway import contracts

    reference = _between(entity_days, *JANUARY)
    fixed = {c: 0.1 for c in contracts.ALL_FEATURES}
    found = monitoring.drift_report(
        reference, _between(entity_days, *NEXT_WEEK), list(contracts.ALL_FEATURES), None, 0, None,
        thresholds=fixed,
    )  # fmt: skip
    assert found["drift_share"] > 0.5


def test_entity_days_keep_one_row_per_entity_and_day():
    from runway import contracts

    base = {f: 0.1 for f in contracts.ALL_FEATURES}
    day = {"flight_date": dt.date(2026, 3, 1), "carrier": "UA", "origin": "EWR", **base}
    flights = pd.DataFrame(
        [
            {**day, "route": "EWR-ORD", "tailnum": "N1", "hour": 7},
            {**day, "route": "EWR-SFO", "tailnum": "N2", "hour": 9},
        ]
    )
    days = monitoring.entity_days(flights)
    counts = days.groupby(monitoring.TABLE).size().to_dict()
    assert counts == {"carrier_stats": 1, "origin_stats": 1, "route_stats": 2, "plane_stats": 2,
                      "origin_hour_weather": 2}  # fmt: skip
    carrier = days[days[monitoring.TABLE] == "carrier_stats"]
    assert carrier["plane_year"].isna().all() and carrier["carrier_delay_rate_7d"].notna().all()
    with pytest.raises(KeyError, match="lacks the columns"):
        monitoring.entity_days(flights.drop(columns=["route"]))


def test_a_short_reference_is_calibrated_on_three_blocks(entity_days):
    from runway import contracts

    short = _between(entity_days, JANUARY[1] - dt.timedelta(days=13), JANUARY[1])  # two weeks
    calibration = monitoring.calibrate(short, list(contracts.ALL_FEATURES))
    spans = [dt.date.fromisoformat(b) - dt.date.fromisoformat(a) for a, b in calibration["weeks"]]
    assert spans == [dt.timedelta(days=3)] * 3
    with pytest.raises(ValueError, match="at least 3 days"):
        monitoring.calibrate(
            _between(entity_days, JANUARY[1], JANUARY[1]), list(contracts.ALL_FEATURES)
        )
