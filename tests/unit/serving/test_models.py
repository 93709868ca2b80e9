"""The model choice: the champion answers; before one exists, the refusal says what to run."""

from __future__ import annotations

import pytest

from runway.serving.models import Choice, Loaded, Models, NoChampion, Watcher


def _models() -> Models:
    watcher = Watcher(
        "champion", tracking_uri="sqlite:///unused.db", model_name="m", poll_seconds=2
    )
    return Models({"champion": watcher})


def test_no_champion_names_what_to_run():
    with pytest.raises(NoChampion, match="training_pipeline"):
        _models().choose("2026-03-09-UA-1545-EWR-0515")


def test_the_champion_answers_every_flight_and_a_swap_is_seen_by_the_next_choice():
    models = _models()
    first, second = object(), object()
    models.watchers["champion"].current = Loaded("champion", 3, first, 0.1)
    assert models.choose("a") == Choice(3, first, None, None)
    models.watchers["champion"].current = Loaded("champion", 4, second, 0.1)
    assert models.choose("a") == Choice(4, second) and models.choose("b").version == 4


def test_the_champion_must_be_watched():
    with pytest.raises(ValueError, match="champion"):
        Models({})


def _experiment_world(champion, experiment_id: str, mode: str, share: float):
    """Models watching champion (version 3, loaded) and challenger (version 4, not yet), with
    an active experiment of `mode` from 2026-03-09."""
    import datetime as dt

    from runway.serving.models import ExperimentWatcher

    experiment = ExperimentWatcher("sqlite:///unused.db", poll_seconds=2)
    watchers = {
        alias: Watcher(alias, tracking_uri="sqlite:///unused.db", model_name="m", poll_seconds=2)
        for alias in ("champion", "challenger")
    }
    watchers["champion"].current = Loaded("champion", 3, champion, 0.1)
    experiment.current = {"experiment_id": experiment_id, "status": "active", "mode": mode,
                          "share": share, "salt": "s", "start": dt.date(2026, 3, 9),
                          "challenger_version": 4}  # fmt: skip
    return Models(watchers, experiment), watchers, experiment


def test_an_active_experiment_routes_by_its_sticky_arm_and_its_end_routes_back():
    from runway.experiments.assignment import arm

    champion, challenger = object(), object()
    models, watchers, experiment = _experiment_world(champion, "e1", "ab", 0.5)
    keys = [f"2026-03-09-UA-{n}-EWR-0515" for n in range(200)]
    # the challenger not loaded yet: its flights stay out of the experiment (arm None)
    assert {models.choose(k).arm for k in keys} == {"champion", None}
    watchers["challenger"].current = Loaded("challenger", 4, challenger, 0.1)
    choices = [models.choose(k) for k in keys]
    assert [c.arm for c in choices] == [arm("s", k, 0.5) for k in keys]  # sticky, by the hash
    assert all(
        (c.version, c.model) == ((4, challenger) if c.arm == "challenger" else (3, champion))
        and c.experiment_id == "e1"
        for c in choices
    )
    assert models.choose("2026-03-08-UA-1-EWR-0515") == Choice(3, champion)  # before its start
    experiment.current = None  # ended: every flight back to the champion
    assert {models.choose(k) for k in keys} == {Choice(3, champion)}


def test_in_shadow_the_champion_answers_and_the_challenger_shadows_once_loaded():
    champion, challenger = object(), object()
    models, watchers, _ = _experiment_world(champion, "e2", "shadow", 1.0)
    keys = [f"2026-03-09-UA-{n}-EWR-0515" for n in range(50)]
    # the challenger not loaded yet: out of the experiment, nothing shadows
    assert {models.choose(k) for k in keys} == {Choice(3, champion)}
    held = Loaded("challenger", 4, challenger, 0.1)
    watchers["challenger"].current = held
    assert {models.choose(k) for k in keys} == {Choice(3, champion, "champion", "e2", held)}
    watchers["challenger"].current = Loaded("challenger", 5, challenger, 0.1)  # another version
    assert {models.choose(k) for k in keys} == {Choice(3, champion)}
