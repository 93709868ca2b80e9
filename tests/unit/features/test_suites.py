"""The gates' bounds are data derived from the real year: recompute them from the replayed 2013
and hold them equal to what `suites` keeps, so a bound never drifts from its stated origin."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from runway import contracts
from runway.features import sources, suites
from runway.settings import Settings


def derived_bound(worst: float) -> float | None:
    """2013's worst day, plus half of what it left to 1, rounded up to 5 points; none if the
    worst day was wholly null."""
    if worst >= 1.0:
        return None
    return math.ceil(round((worst + (1.0 - worst) / 2) * 20, 9)) / 20


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("suites"), replay_year=2026)
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, 1)
    return {
        "flights": pd.read_parquet(source / "flights.parquet"),
        "weather": pd.read_parquet(source / "weather.parquet"),
        "planes": pd.read_parquet(source / "planes.parquet"),
    }


def worst_null_shares(frame: pd.DataFrame, day: str, columns) -> dict[str, float]:
    return frame[list(columns)].isna().groupby(frame[day]).mean().max().to_dict()


def test_null_share_bounds_follow_the_year(year):
    nullable = [
        f.name
        for f in contracts.RAW_FLIGHTS_SCHEMA
        if f.name not in suites.FLIGHT_REQUIRED and f.name != "flight_id"
    ]
    flights = worst_null_shares(year["flights"], "flight_date", nullable)
    assert {c: derived_bound(w) for c, w in flights.items()} == suites.FLIGHT_NULL_SHARE_MAX
    columns = [c for c in contracts.RAW_WEATHER_SCHEMA.names if c not in suites.WEATHER_REQUIRED]
    weather = worst_null_shares(year["weather"], "obs_date", columns)
    bounds = {c: derived_bound(w) for c, w in weather.items()}
    assert bounds.pop("wind_gust") is None  # wholly null on some real days: no bound
    assert bounds == suites.WEATHER_NULL_SHARE_MAX
    # the cancelled share is dep_time's null share: the blizzard day is the worst, under 60%
    assert 0.5 < flights["dep_time"] < suites.FLIGHT_NULL_SHARE_MAX["dep_time"] < 1


def test_unknown_tail_number_bound_follows_the_year(year):
    flights, planes = year["flights"], year["planes"]
    present = flights["tailnum"].notna()
    unknown = present & ~flights["tailnum"].isin(planes["tailnum"])
    by_day = (
        unknown.groupby(flights["flight_date"]).sum()
        / present.groupby(flights["flight_date"]).sum()
    )
    assert derived_bound(by_day.max()) == suites.UNKNOWN_TAILNUM_SHARE_MAX
    assert 0.1 < by_day.min() <= by_day.max() < 0.2


def test_every_real_tail_number_matches_the_pattern_and_broken_ones_do_not(year):
    pattern = re.compile(suites.TAILNUM_PATTERN)
    real = year["flights"]["tailnum"].dropna().unique()
    assert len(real) > 4000 and all(pattern.match(t) for t in real)
    assert all(pattern.match(f"{t}_{copy}") for t in real[:50] for copy in (1, 2, 29))  # scaled
    for broken in ("\x01\x07\x1b", "n14228", "N14228 ", "", "N1", "N14228_0", "N14228\n"):
        assert not pattern.match(broken), repr(broken)
