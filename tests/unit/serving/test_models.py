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
