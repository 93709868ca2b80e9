"""Sticky assignment: which arm answers a flight, the same on every worker and after a restart.

The arm is a pure function of the experiment's salt and the flight key: the first 8 bytes of
BLAKE2b(salt, key) read as a number in [0, 1) (`position`); the challenger answers when it is
below the challenger's share. No process state, no seed: two workers, or one worker before and
after a restart, agree. A canary that ramps its share up keeps every flight the challenger
already answered (a position below 5% is below 25% too).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

import numpy as np

CHAMPION = "champion"
CHALLENGER = "challenger"
ARMS = (CHAMPION, CHALLENGER)
_SCALE = float(2**64)


def position(salt: str, flight_key: str) -> float:
    """The flight's place in [0, 1) under this salt."""
    if not salt:
        raise ValueError("an experiment's salt must not be empty")
    digest = hashlib.blake2b(f"{salt}\x1f{flight_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def arm(salt: str, flight_key: str, share: float) -> str:
    """The arm that answers `flight_key` when the challenger takes `share` of the traffic."""
    if not 0 <= share <= 1:
        raise ValueError(f"a traffic share must be in [0, 1], got {share}")
    return CHALLENGER if position(salt, flight_key) < share else CHAMPION


def arms(salt: str, flight_keys: Iterable[str], share: float) -> np.ndarray:
    """`arm` for many flights at once: an array of arm names."""
    if not 0 <= share <= 1:
        raise ValueError(f"a traffic share must be in [0, 1], got {share}")
    places = np.fromiter((position(salt, str(k)) for k in flight_keys), dtype="float64")
    return np.where(places < share, CHALLENGER, CHAMPION)


@dataclasses.dataclass(frozen=True)
class Route:
    """Who answers one flight under an experiment record (None: no experiment applies).

    `arm` and `version` answer; `shadow_version`, in shadow mode, scores beside it unseen."""

    arm: str | None
    version: int
    experiment_id: str | None = None
    shadow_version: int | None = None


def route(experiment: dict | None, champion: int, flight_key: str, flight_date) -> Route:
    """The route of `flight_key` (a flight of `flight_date`) under the `experiment` record
    (`runway.experiments.record.active`): the champion outside an active experiment and
    before its start; in shadow the champion answers and the challenger scores; in ab and
    canary the sticky arm answers. The serving wing calls this once per flight."""
    if not experiment or experiment["status"] != "active" or flight_date < experiment["start"]:
        return Route(None, champion)
    eid = experiment["experiment_id"]
    challenger = int(experiment["challenger_version"])
    if experiment["mode"] == "shadow":
        return Route(CHAMPION, champion, eid, shadow_version=challenger)
    chosen = arm(experiment["salt"], flight_key, float(experiment["share"]))
    return Route(chosen, challenger if chosen == CHALLENGER else champion, eid)
