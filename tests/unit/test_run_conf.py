"""A trigger's conf against the DAG's params: unknown keys and reversed windows named."""

from __future__ import annotations

from runway.run_conf import problems

TRAINING = {"window_start", "window_end", "n_trials", "families", "promotion", "reason"}
FEATURES = {"start", "end"}


def test_a_typo_is_named_with_the_param_it_resembles():
    found = problems("training_pipeline", {"n_trial": 3}, TRAINING)
    assert len(found) == 1
    assert "conf key 'n_trial' is not a param of training_pipeline" in found[0]
    assert "did you mean 'n_trials'?" in found[0]


def test_every_unknown_key_is_named():
    found = problems(
        "feature_pipeline", {"start": "2026-06-01", "end": "2026-06-02", "x": 1, "y": 2}, FEATURES
    )
    assert [f.split(" is not")[0] for f in found] == ["conf key 'x'", "conf key 'y'"]


def test_a_reversed_window_is_named():
    conf = {"window_start": "2026-06-11", "window_end": "2026-05-01"}
    assert problems("training_pipeline", conf, TRAINING) == [
        "training_pipeline: param 'window_end' (2026-05-01) is before 'window_start' (2026-06-11)"
    ]
    assert (
        "param 'end'"
        in problems("feature_pipeline", {"start": "2026-06-02", "end": "2026-06-01"}, FEATURES)[0]
    )


def test_half_a_range_and_a_bad_date_are_named():
    assert "go together" in problems("feature_pipeline", {"start": "2026-06-02"}, FEATURES)[0]
    assert (
        "'end' must be a YYYY-MM-DD date"
        in problems("feature_pipeline", {"start": "2026-06-02", "end": "June 3"}, FEATURES)[0]
    )


def test_a_good_conf_and_no_conf_pass():
    good = {"window_start": "2026-05-01", "window_end": "2026-06-11", "n_trials": 20}
    assert problems("training_pipeline", good, TRAINING) == []
    assert problems("training_pipeline", {}, TRAINING) == []
    assert problems("training_pipeline", None, TRAINING) == []


def test_a_conf_that_is_not_an_object_is_refused():
    assert problems("training_pipeline", [1, 2], TRAINING) == [
        "conf of training_pipeline must be an object, got list"
    ]
