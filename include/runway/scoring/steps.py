"""The step of `batch_scoring`: which flight days a run scores, and scoring them."""

from __future__ import annotations

import datetime as dt

from runway.feature_pipeline import resolve_days
from runway.settings import Settings


def flight_days(start: str | None, end: str | None, interval_start: dt.datetime | None) -> list[dt.date]:
    """The params' flight days, else the day after the data interval's day (tomorrow's flights)."""
    first, last = resolve_days(start, end, interval_start)
    first_day, last_day = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    if not (start or end):
        first_day = last_day = first_day + dt.timedelta(days=1)
    return [first_day + dt.timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def score(settings: Settings, days: list[dt.date], *, run_id: str, scored_at: dt.datetime) -> dict:
    from runway import feature_store, scoring, sources

    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    return scoring.score_days(
        store=feature_store.get_store(settings),
        source=source,
        days=days,
        tracking_uri=settings.mlflow_uri,
        model_name=settings.model_name,
        sql_url=settings.sql_url,
        scored_dir=settings.scored_dir,
        run_id=run_id,
        scored_at=scored_at,
    )
