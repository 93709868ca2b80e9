"""The settings object: environment overrides, groups, and refusals that name the variable."""

from __future__ import annotations

import pytest

from runway.settings import (
    GateThresholds,
    RetrainPolicy,
    Settings,
    SettingsError,
    settings_from_env,
)


def test_monitoring_settings_parse_from_the_environment():
    settings = settings_from_env(
        {"RUNWAY_RETRAIN_DRIFT_THRESHOLD": "0.3", "RUNWAY_RETRAIN_AUC_DROP": "0.02"}
    )
    assert settings.retrain.drift_threshold == 0.3 and isinstance(
        settings.retrain.drift_threshold, float
    )
    assert settings.retrain.auc_drop == 0.02
    assert settings_from_env({"RUNWAY_RETRAIN_COOLDOWN_DAYS": "7"}).retrain.cooldown_days == 7
    for bad in ("lots", "1.5", "nan"):
        with pytest.raises(SettingsError, match="RUNWAY_RETRAIN_DRIFT_THRESHOLD"):
            settings_from_env({"RUNWAY_RETRAIN_DRIFT_THRESHOLD": bad})
    with pytest.raises(SettingsError, match="RUNWAY_RETRAIN_CONSECUTIVE_DAYS"):
        settings_from_env({"RUNWAY_RETRAIN_CONSECUTIVE_DAYS": "0"})


def test_groups_take_their_fields_from_prefixed_variables():
    settings = settings_from_env(
        {
            "RUNWAY_GATE_MAX_ECE": "0.08",
            "RUNWAY_GATE_SLICE_COLUMNS": "carrier",
            "RUNWAY_RETRAIN_WINDOW_DAYS": "56",
        }
    )
    assert settings.gate == GateThresholds(max_ece=0.08, slice_columns=("carrier",))
    assert settings.retrain == RetrainPolicy(window_days=56)
    assert settings_from_env({}) == Settings()
    with pytest.raises(SettingsError, match="RUNWAY_GATE_MAX_ECE"):
        settings_from_env({"RUNWAY_GATE_MAX_ECE": "1.5"})
    with pytest.raises(SettingsError, match="RUNWAY_RETRAIN_WINDOW_DAYS"):
        settings_from_env({"RUNWAY_RETRAIN_WINDOW_DAYS": "7"})


def test_cluster_profile_names_what_it_lacks():
    with pytest.raises(
        SettingsError, match="RUNWAY_POSTGRES_URL, RUNWAY_REDIS_URL, RUNWAY_MLFLOW_TRACKING_URI"
    ):
        settings_from_env({"RUNWAY_PROFILE": "cluster"})
    with pytest.raises(SettingsError, match="RUNWAY_PROFILE"):
        settings_from_env({"RUNWAY_PROFILE": "cloud"})


def test_renamed_variables_are_refused_with_their_new_names():
    with pytest.raises(
        SettingsError, match=r"RUNWAY_DRIFT_THRESHOLD \(now RUNWAY_RETRAIN_DRIFT_THRESHOLD\)"
    ):
        settings_from_env({"RUNWAY_DRIFT_THRESHOLD": "0.3"})


def test_window_gap_policy_is_mark_or_hold():
    assert Settings().window_gap_policy == "mark"
    assert settings_from_env({"RUNWAY_WINDOW_GAP_POLICY": "hold"}).window_gap_policy == "hold"
    with pytest.raises(SettingsError, match="RUNWAY_WINDOW_GAP_POLICY must be 'mark' or 'hold'"):
        settings_from_env({"RUNWAY_WINDOW_GAP_POLICY": "skip"})


def test_the_dask_runner_is_a_short_name_with_a_scheduler():
    settings = settings_from_env(
        {"RUNWAY_BEAM_RUNNER": "dask", "RUNWAY_DASK_SCHEDULER": "tcp://dask-scheduler:8786"}
    )
    assert settings.beam_runner == "apache_beam.runners.dask.dask_runner.DaskRunner"
    assert settings.dask_scheduler == "tcp://dask-scheduler:8786"
    assert Settings().beam_runner == "FnApiRunner"  # the local default is untouched
    with pytest.raises(SettingsError, match="RUNWAY_BEAM_RUNNER=dask needs RUNWAY_DASK_SCHEDULER"):
        settings_from_env({"RUNWAY_BEAM_RUNNER": "dask"})
    with pytest.raises(
        SettingsError, match="Beam refuses that short name; use RUNWAY_BEAM_RUNNER=dask"
    ):
        settings_from_env({"RUNWAY_BEAM_RUNNER": "DaskRunner"})


@pytest.mark.parametrize(
    "address", ["dask-scheduler:8786", "tcp://dask-scheduler", "http://host:8786", "tcp://h:99999"]
)
def test_a_malformed_dask_scheduler_is_refused(address):
    with pytest.raises(SettingsError, match="RUNWAY_DASK_SCHEDULER must be tcp://host:port"):
        settings_from_env({"RUNWAY_BEAM_RUNNER": "dask", "RUNWAY_DASK_SCHEDULER": address})


def test_extra_options_may_not_override_what_has_a_setting():
    with pytest.raises(SettingsError, match="sets --runner: set RUNWAY_BEAM_RUNNER instead"):
        settings_from_env({"RUNWAY_BEAM_EXTRA_OPTIONS": "--runner=FlinkRunner"})
    with pytest.raises(SettingsError, match="set RUNWAY_DASK_SCHEDULER instead"):
        settings_from_env({"RUNWAY_BEAM_EXTRA_OPTIONS": "--dask_client_address tcp://h:1"})
    with pytest.raises(SettingsError, match="RUNWAY_BEAM_EXTRA_OPTIONS does not parse"):
        settings_from_env({"RUNWAY_BEAM_EXTRA_OPTIONS": "--label='unclosed"})
    with pytest.raises(SettingsError, match="RUNWAY_DASK_CONNECT_TIMEOUT_S must be >= 1"):
        settings_from_env({"RUNWAY_DASK_CONNECT_TIMEOUT_S": "0"})


def test_experiment_policy_from_env_and_its_bounds():
    settings = settings_from_env(
        {"RUNWAY_EXPERIMENTS_RAMP": "0.1,0.3", "RUNWAY_EXPERIMENTS_ALPHA": "0.025"}
    )
    assert settings.experiments.ramp == (0.1, 0.3) and settings.experiments.alpha == 0.025
    for name, value in (
        ("RAMP", "0.5,0.2"),
        ("RAMP", "0.2,1.0"),
        ("ALPHA", "0.7"),
        ("MIN_DAYS", "1"),
    ):
        with pytest.raises(SettingsError, match=f"RUNWAY_EXPERIMENTS_{name}"):
            settings_from_env({f"RUNWAY_EXPERIMENTS_{name}": value})
