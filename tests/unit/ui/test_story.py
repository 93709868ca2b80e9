"""The Runway view's story: what each version went through, the quarantine's reasons, the
time axis; read from small stored records, rendered as a person reads them."""

from __future__ import annotations

import datetime as dt
import json

from runway.io import QUARANTINE_REASONS
from runway.ui import pages, plots, story


def _version(number: int, **tags) -> story.Version:
    return story.Version(
        version=number,
        created=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        family="lightgbm",
        aliases=("champion",) if tags.pop("champion", False) else (),
        tags={f"runway.{k}": str(v) for k, v in tags.items()},
        metrics={"test_roc_auc": 0.71},
        run_id=f"run{number}",
    )


def test_events_name_what_happened_who_decided_and_why():
    v = _version(
        3,
        trigger="drift",
        trigger_signals="drift_share=0.31>=0.15",
        gate_passed="true",
        gate_summary="PASSED 15/15 checks",
        promoted_by="airflow:manual__1",
        promotion_reason="passed the model gate",
        previous_champion=2,
        rolled_back_to=2,
        rolled_back_reason="realized AUC fell",
        rolled_back_by="admin",
    )
    events = {e["what"]: e for e in v.events}
    assert events["registered"]["why"] == "trigger: drift (drift_share=0.31>=0.15)"
    assert events["gate passed"]["why"] == "PASSED 15/15 checks"
    assert events["promoted to champion (was 2)"]["who"] == "airflow:manual__1"
    assert events["rolled back to version 2"] == {
        "what": "rolled back to version 2",
        "why": "realized AUC fell",
        "who": "admin",
    }
    rejected = _version(4, gate_passed="false", gate_summary="FAILED; failed: beats_baseline")
    assert [e["what"] for e in rejected.events] == ["registered", "gate rejected"]


def test_quarantined_days_carry_the_gates_reasons(tmp_path):
    for table in ("flights", "weather"):
        (tmp_path / table / "date=2026-03-05").mkdir(parents=True)
    (tmp_path / "flights" / "date=2026-03-09").mkdir(parents=True)
    reasons = tmp_path / QUARANTINE_REASONS
    reasons.mkdir()
    record = {"day": "2026-03-05", "gate": "raw", "reasons": ["flights: arr_delay all null"]}
    (reasons / "raw-2026-03-05.json").write_text(json.dumps(record))
    found = story.quarantined_days(tmp_path)
    assert [d["day"] for d in found] == ["2026-03-09", "2026-03-05"]  # newest first
    assert found[1]["tables"] == ["flights", "weather"]
    assert found[1]["reasons"] == ["flights: arr_delay all null"] and found[1]["gate"] == "raw"
    assert found[0]["reasons"] == []  # quarantined before reasons were kept: shown, unexplained


def _story(series) -> story.Story:
    versions = [
        _version(2, champion=True, training_window="2026-01-10..2026-02-20", promoted_by="x"),
        _version(1, training_window="2025-12-01..2026-01-11"),
    ]
    empty = {k: [] for k in ("drift", "gate", "cards", "experiments", "data_docs")}
    return story.Story("flight_delay", versions, series, [], empty)


def test_the_timeline_draws_each_figure_its_interval_and_each_retraining():
    days = [dt.date(2026, 2, 21) + dt.timedelta(days=i) for i in range(10)]
    series = {
        "drift_share": [(d, 0.05 * i) for i, d in enumerate(days)],
        "realized_auc": [(d, 0.7) for d in days],
        "realized_auc_low": [(d, 0.66) for d in days],
        "realized_auc_high": [(d, 0.74) for d in days],
        "realized_ece": [(d, 0.03) for d in days],
    }
    svg = plots.timeline_svg(_story(series), drift_threshold=0.15, max_ece=0.05)
    assert svg.startswith("<svg") and "v2 schedule" in svg and "v1 schedule" in svg
    assert plots.timeline_svg(_story({}), 0.15, 0.05) == ""  # nothing monitored: no empty axes


def test_the_view_escapes_what_it_shows_and_names_the_champion():
    told = _story({})
    told.versions[0].tags["runway.gate_summary"] = "<script>alert(1)</script>"
    page = pages.render(
        pages.VIEW, story=told, user="viewer", message="", timeline="", mlflow="http://m",
        experiments={}, gate_reports={2: "flight_delay-v2.html"}, cards={}, relative=str,
        experiment=None, service=None,
    )  # fmt: skip
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'id="champion"' in page and "version 2" in page
    assert 'href="reports/gate/flight_delay-v2.html"' in page
    assert "http://m/#/experiments/0/runs/run2" in page
