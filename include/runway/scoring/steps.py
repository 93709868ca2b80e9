"""The step of `batch_scoring`: scoring the run's flight days (resolved by the DAG with
`runway.days.flight_days`)."""

from __future__ import annotations

import datetime as dt

from runway.settings import Settings


def score(settings: Settings, days: list[dt.date], *, run_id: str, scored_at: dt.datetime) -> dict:
    """Score each day's scheduled flights with the champion (and the challenger); upsert."""
    from runway.features import sources
    from runway.features import store as feature_store
    from runway.scoring import batch

    source = sources.prepare_source(settings.source_dir, settings.replay_shift, settings.scale)
    return batch.score_days(
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
