"""The online TTL rule is the offline join's (tests/unit/features/test_store.py's reference;
that module also pins each view's TTL, which the service reads from the registry)."""

from __future__ import annotations

import datetime as dt

from runway import contracts
from runway.days import prediction_time
from runway.serving.online import AHEAD, MISSING, USE, entity_values, row_rule
from runway.serving.requests import FlightRow

AT = prediction_time(dt.date(2026, 3, 9))
TTL = dt.timedelta(days=35)
TICK = dt.timedelta(microseconds=1)


def _offline(stamp, at, ttl) -> bool:
    """The reference point-in-time rule: the row is used iff stamp <= at <= stamp + ttl."""
    return stamp is not None and stamp <= at and stamp + ttl >= at


def test_the_rule_matches_the_offline_join_at_every_boundary():
    for stamp in (AT, AT - TTL, AT - TTL - TICK, AT - dt.timedelta(days=1), AT + TICK, None):
        rule = row_rule(stamp, AT, TTL)
        assert (rule == USE) == _offline(stamp, AT, TTL), stamp
    assert row_rule(AT + TICK, AT, TTL) == AHEAD
    assert row_rule(AT - TTL - TICK, AT, TTL) == MISSING
    assert row_rule(None, AT, TTL) == MISSING


def test_entity_values_are_batch_scorings():
    row = FlightRow("id", dt.date(2026, 3, 9), "UA", 1, None, "EWR", "ORD", 515, 5, 719.0)
    assert entity_values(row) == {
        "carrier": "UA",
        "origin": "EWR",
        "route": "EWR-ORD",
        "tailnum": "UNKNOWN",  # entities.entity_rows' fill for a null tail
        "hour": 5,
    }
    assert set(entity_values(row)) == set(contracts.ENTITY_COLUMNS)
