"""Request validation: each refusal names the field as the client wrote it."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from runway.serving.requests import PredictionRequest, field_name, to_rows
from runway.serving.vocabulary import Vocabulary

VOCABULARY = Vocabulary(
    carriers=frozenset({"UA", "B6"}),
    origins=frozenset({"EWR", "JFK", "LGA"}),
    routes={
        ("EWR", "ORD"): ((dt.date(2026, 1, 1),), (719.0,)),
        ("JFK", "EGE"): ((dt.date(2026, 1, 1), dt.date(2026, 6, 1)), (1747.0, 1746.0)),
    },
)
FLIGHT = {
    "carrier": "UA",
    "flight": 1545,
    "tailnum": "N14228",
    "origin": "EWR",
    "dest": "ORD",
    "scheduled_departure": "2026-03-09T05:15:00",
}


def _rows(*flights, max_flights=100):
    return to_rows(
        PredictionRequest.model_validate({"flights": list(flights)}), VOCABULARY, max_flights
    )


def _fields(err: ValidationError) -> list[str]:
    return [field_name(tuple(e["loc"])) for e in err.errors()]


def test_a_flight_becomes_the_schedule_row_batch_scoring_reads():
    rows, refusals = _rows(FLIGHT)
    assert refusals == []
    (row,) = rows
    assert row.flight_id == "2026-03-09-UA-1545-EWR-0515"  # sources' flight_id form
    assert (row.flight_date, row.hour, row.sched_dep_time, row.distance) == (
        dt.date(2026, 3, 9),
        5,
        515,
        719.0,
    )


def test_an_offset_is_converted_to_new_york_time():
    # 2026-03-09 is a day after the switch to daylight time: New York is UTC-4
    (row,), _ = _rows({**FLIGHT, "scheduled_departure": "2026-03-09T09:15:00+00:00"})
    assert (row.flight_date, row.sched_dep_time) == (dt.date(2026, 3, 9), 515)


def test_a_route_whose_distance_changed_takes_the_one_in_force():
    early = {**FLIGHT, "origin": "JFK", "dest": "EGE", "scheduled_departure": "2026-05-31T08:00"}
    late = {**early, "scheduled_departure": "2026-06-01T08:00"}
    (a, b), _ = _rows(early, late)
    assert (a.distance, b.distance) == (1747.0, 1746.0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"carrier": "U"}, "flights[0].carrier"),
        ({"flight": "UA1545"}, "flights[0].flight"),
        ({"flight": 0}, "flights[0].flight"),
        ({"origin": "ewr1"}, "flights[0].origin"),
        ({"scheduled_departure": "tomorrow"}, "flights[0].scheduled_departure"),
        ({"gate": "B12"}, "flights[0].gate"),
    ],
)
def test_malformed_fields_are_named(change, field):
    with pytest.raises(ValidationError) as err:
        PredictionRequest.model_validate({"flights": [FLIGHT, {**FLIGHT, **change}][1:]})
    assert _fields(err.value) == [field]


def test_a_missing_field_and_an_empty_call_are_named():
    flight = {k: v for k, v in FLIGHT.items() if k != "dest"}
    with pytest.raises(ValidationError) as err:
        PredictionRequest.model_validate({"flights": [FLIGHT, flight]})
    assert _fields(err.value) == ["flights[1].dest"]
    with pytest.raises(ValidationError) as err:
        PredictionRequest.model_validate({"flights": []})
    assert _fields(err.value) == ["flights"]
    with pytest.raises(ValidationError) as err:
        PredictionRequest.model_validate([])
    assert _fields(err.value) == ["body"]


def test_unknown_names_are_refused_by_field_every_one():
    _, refusals = _rows(
        FLIGHT,
        {**FLIGHT, "carrier": "ZZ", "flight": 1},
        {**FLIGHT, "origin": "BOS", "flight": 2},
        {**FLIGHT, "dest": "XYZ", "flight": 3},
    )
    assert [(r.field, r.message.split(" ")[0]) for r in refusals] == [
        ("flights[1].carrier", "unknown"),
        ("flights[2].origin", "unknown"),
        ("flights[3].dest", "unknown"),
    ]
    assert "EWR, JFK, LGA" in refusals[1].message


def test_too_many_flights_and_repeats_are_refused():
    _, refusals = _rows(*[{**FLIGHT, "flight": i} for i in range(1, 4)], max_flights=2)
    assert [r.field for r in refusals] == ["flights"] and "at most 2" in refusals[0].message
    rows, refusals = _rows(FLIGHT, FLIGHT)
    assert rows == [] and [r.field for r in refusals] == ["flights[1]"]


def test_a_null_tail_number_is_accepted():
    (row,), _ = _rows({**FLIGHT, "tailnum": None})
    assert row.tailnum is None
