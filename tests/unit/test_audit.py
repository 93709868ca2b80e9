"""The actor a decision records: the authenticated user, never a name typed into the conf."""

from __future__ import annotations

from types import SimpleNamespace

from runway.audit import actor


def test_the_authenticated_user_is_the_actor_whatever_the_conf_says():
    run = SimpleNamespace(triggering_user_name="admin", conf={"actor": "someone else"})
    assert actor({"dag_run": run, "run_id": "manual__1"}) == "admin"


def test_a_run_nobody_triggered_by_hand_is_named_by_its_run_id():
    run = SimpleNamespace(triggering_user_name=None, conf={})
    assert actor({"dag_run": run, "run_id": "scheduled__2026-03-01"}) == (
        "airflow:scheduled__2026-03-01"
    )
