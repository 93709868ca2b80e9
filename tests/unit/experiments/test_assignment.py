"""Sticky assignment: the same arm in every process, the configured share, a ramp that keeps."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from runway.experiments import assignment

KEYS = [f"2026-03-{d:02d}:UA:{n}" for d in range(1, 29) for n in range(1, 200)]


def test_the_arm_is_the_same_in_a_fresh_process():
    code = (
        "import json, sys; from runway.experiments.assignment import arms; "
        "keys = json.load(sys.stdin); print(json.dumps(arms('salt-7', keys, 0.3).tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(KEYS[:500]), capture_output=True,
        text=True, check=True, env={"PYTHONHASHSEED": "123", **_path()},
    )  # fmt: skip
    assert json.loads(out.stdout) == assignment.arms("salt-7", KEYS[:500], 0.3).tolist()


def _path() -> dict:
    import os

    return {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}


@pytest.mark.parametrize("share", [0.05, 0.25, 0.5])
def test_the_observed_share_is_within_binomial_bounds(share):
    arms = assignment.arms("salt-1", KEYS, share)
    hits = int((arms == assignment.CHALLENGER).sum())
    assert stats.binomtest(hits, len(KEYS), share).pvalue > 0.001


def test_a_ramp_keeps_every_challenger_flight_and_a_new_salt_reshuffles():
    small = assignment.arms("s", KEYS, 0.05) == assignment.CHALLENGER
    large = assignment.arms("s", KEYS, 0.25) == assignment.CHALLENGER
    assert (large[small]).all() and large.sum() > small.sum()
    other = assignment.arms("t", KEYS, 0.25) == assignment.CHALLENGER
    assert 0 < np.mean(other == large) < 0.9
    assert assignment.arm("s", KEYS[0], 0.0) == assignment.CHAMPION
    assert assignment.arm("s", KEYS[0], 1.0) == assignment.CHALLENGER


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="salt"):
        assignment.arm("", "k", 0.5)
    with pytest.raises(ValueError, match="share"):
        assignment.arms("s", ["k"], 1.5)


def test_route_follows_the_record():
    import datetime as dt

    record = {"experiment_id": "e1", "status": "active", "start": dt.date(2026, 3, 2),
              "mode": "ab", "share": 0.5, "salt": "s", "challenger_version": 7}  # fmt: skip
    day = dt.date(2026, 3, 3)
    routes = [assignment.route(record, 6, key, day) for key in KEYS[:400]]
    assert {(r.arm, r.version) for r in routes} == {("champion", 6), ("challenger", 7)}
    assert all(r.experiment_id == "e1" and r.shadow_version is None for r in routes)
    assert [r.arm for r in routes] == assignment.arms("s", KEYS[:400], 0.5).tolist()
    before = assignment.route(record, 6, KEYS[0], dt.date(2026, 3, 1))
    assert before == assignment.Route(None, 6)  # flights before the start: no experiment
    assert assignment.route({**record, "status": "promoted"}, 7, KEYS[0], day).arm is None
    assert assignment.route(None, 6, KEYS[0], day) == assignment.Route(None, 6)
    shadow = assignment.route({**record, "mode": "shadow"}, 6, KEYS[0], day)
    assert (shadow.arm, shadow.version, shadow.shadow_version) == ("champion", 6, 7)
