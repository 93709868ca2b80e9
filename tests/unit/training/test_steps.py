"""Which candidate goes to the gate: decided on validation figures only."""

import pytest

from runway.training.steps import BASELINE, choose_candidate


def _c(family, log_loss, ece, test_auc=0.9):
    return {"family": family, "valid_log_loss": log_loss, "valid_ece": ece, "test_auc": test_auc}


def test_lowest_validation_log_loss_among_calibrated_candidates():
    candidates = [
        _c("xgboost", 0.516, 0.056),
        _c("lightgbm", 0.531, 0.044),
        _c("torch", 0.527, 0.053),
    ]
    assert choose_candidate(candidates, max_ece=0.05)["family"] == "lightgbm"
    assert choose_candidate(candidates, max_ece=0.06)["family"] == "xgboost"


def test_all_miscalibrated_falls_back_to_lowest_log_loss_and_the_gate_decides():
    candidates = [_c("xgboost", 0.52, 0.09), _c("torch", 0.51, 0.08)]
    assert choose_candidate(candidates, max_ece=0.05)["family"] == "torch"


def test_baseline_and_skipped_families_never_compete():
    candidates = [None, _c(BASELINE, 0.40, 0.01), _c("lightgbm", 0.55, 0.03)]
    assert choose_candidate(candidates, max_ece=0.05)["family"] == "lightgbm"
    with pytest.raises(ValueError, match="no candidate"):
        choose_candidate([None, _c(BASELINE, 0.4, 0.01)], max_ece=0.05)


def _landed(settings, first, last):
    import datetime as dt

    day = first
    while day <= last:
        part = settings.raw_dir / "flights" / f"date={day.isoformat()}" / "part-0.parquet"
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(b"")
        day += dt.timedelta(days=1)


def test_training_window_defaults_to_the_policy_days_before_the_run(tmp_path):
    import datetime as dt

    from runway.settings import RetrainPolicy, Settings
    from runway.training.steps import training_window

    settings = Settings(home=tmp_path, retrain=RetrainPolicy(window_days=28))
    _landed(settings, dt.date(2026, 5, 1), dt.date(2026, 7, 3))  # landed past the run too
    run = dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)  # 03:00 in New York, July 1st
    assert training_window(settings, None, None, None, run) == (
        dt.date(2026, 6, 3),
        dt.date(2026, 6, 30),
    )
    assert training_window(settings, None, None, 14, run) == (
        dt.date(2026, 6, 17),
        dt.date(2026, 6, 30),
    )
    assert training_window(settings, "2026-05-01", "2026-05-31", None, run) == (
        dt.date(2026, 5, 1),
        dt.date(2026, 5, 31),
    )


def test_training_window_defaults_to_the_days_that_landed(tmp_path):
    """The demo lands days only up to its last replayed day: a run today, with no window,
    trains on the days that exist (it failed on 'raw flights not landed' before)."""
    import datetime as dt

    from runway.settings import RetrainPolicy, Settings
    from runway.training.steps import training_window

    settings = Settings(home=tmp_path, retrain=RetrainPolicy(window_days=42))
    _landed(settings, dt.date(2026, 1, 10), dt.date(2026, 2, 28))
    today = dt.datetime(2026, 12, 2, 1, 0, tzinfo=dt.UTC)
    assert training_window(settings, None, None, None, today) == (
        dt.date(2026, 1, 18),
        dt.date(2026, 2, 28),
    )
    # fewer landed days than the window: it starts at the first of them
    assert training_window(settings, None, None, 90, today) == (
        dt.date(2026, 1, 10),
        dt.date(2026, 2, 28),
    )


def test_training_window_with_nothing_landed_says_what_to_give(tmp_path):
    import datetime as dt

    from runway.days import RunConfigError
    from runway.settings import Settings
    from runway.training.steps import training_window

    settings = Settings(home=tmp_path)
    run = dt.datetime(2026, 7, 1, 7, 0, tzinfo=dt.UTC)
    with pytest.raises(RunConfigError, match="give window_start and window_end"):
        training_window(settings, None, None, None, run)


def test_the_backtest_says_why_when_the_history_holds_no_fold(tmp_path):
    """Too little landed history (or no backtested family): no evidence, and the reason named;
    the gate then judges beats_baseline on the test days and says so."""
    from runway.settings import Settings
    from runway.training.steps import backtest_recipe

    settings = Settings(home=tmp_path)
    for day in ("2026-03-01", "2026-03-02"):
        path = settings.raw_dir / "flights" / f"date={day}" / "part-0.parquet"
        path.parent.mkdir(parents=True)
        path.touch()
    data = {"window": "2026-01-20..2026-03-02"}
    kw = {"valid_days": 7, "test_days": 7, "run_id": "manual__x"}
    out = backtest_recipe(settings, data, ["lightgbm", "torch"], **kw)
    assert out["evidence"] == {} and out["windows"] == 0
    assert "lightgbm_35d" in out["note"] and "2026-03-01" in out["note"]
    assert "RUNWAY_BACKTEST_WINDOWS=2" in out["note"]
    out = backtest_recipe(settings, data, ["torch"], **kw)  # torch is not backtested by default
    assert out["evidence"] == {} and "[]" in out["note"]
