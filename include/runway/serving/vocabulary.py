"""What the schedule knows: carriers, departure airports, and each route's distance.

Read once from the replayed source's flights (the schedule batch scoring reads), so that a
request naming an airline or an airport the schedule never had is refused by name, and the
route's distance (a model input) is the schedule's own. A route whose distance changed during
the year (EWR-EGE, JFK-EGE) takes the distance in force on the flight's date.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from pathlib import Path

import pyarrow.dataset as ds


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    carriers: frozenset[str]
    origins: frozenset[str]
    # (origin, dest) -> (first dates, distances): the distance from each date on
    routes: dict[tuple[str, str], tuple[tuple[dt.date, ...], tuple[float, ...]]]

    def distance(self, origin: str, dest: str, day: dt.date) -> float | None:
        """The route's distance on `day` (the earliest known before it began); None: no route."""
        found = self.routes.get((origin, dest))
        if found is None:
            return None
        starts, distances = found
        return distances[max(bisect.bisect_right(starts, day) - 1, 0)]


def from_schedule(source: Path) -> Vocabulary:
    """The vocabulary of the replayed schedule under `source` (its flights.parquet)."""
    columns = ["carrier", "origin", "dest", "distance", "flight_date"]
    frame = ds.dataset(Path(source) / "flights.parquet").to_table(columns=columns).to_pandas()
    changes = (
        frame.sort_values("flight_date")
        .drop_duplicates(["origin", "dest", "distance"])  # the first day of each distance
        .groupby(["origin", "dest"], sort=False)
    )
    routes = {
        (origin, dest): (tuple(group["flight_date"]), tuple(group["distance"].astype(float)))
        for (origin, dest), group in changes
    }
    return Vocabulary(
        carriers=frozenset(frame["carrier"].unique()),
        origins=frozenset(frame["origin"].unique()),
        routes=routes,
    )
