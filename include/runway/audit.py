"""Who asked for a run: the actor that promotion, rollback and experiment decisions record."""

from __future__ import annotations


def actor(context) -> str:
    """The user Airflow authenticated for the trigger (the Runway view's actions trigger as
    the signed-in user), never a name the caller typed into the conf; a run nobody triggered
    by hand (a schedule, another DAG) is named by its run id."""
    user = getattr(context["dag_run"], "triggering_user_name", None)
    return user or f"airflow:{context['run_id']}"
