"""What `POST /v1/predictions` accepts, and the refusals that name the field.

A call carries `{"flights": [...]}`, each flight as the operations app knows it from the
schedule: carrier, flight number, tail number (may be null: not yet assigned), origin,
destination and the scheduled departure in New York local time. The schedule's fields the
model needs are derived here exactly as the raw flight rows hold them (`hour`,
`sched_dep_time`, `flight_date`, `flight_id`). Every refusal is a `Refusal(field, message)`,
with the field spelled as the client wrote it: `flights[3].origin`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from runway.days import LOCAL_TZ
from runway.serving.vocabulary import Vocabulary

CODE = r"^[A-Z0-9]{2}$"
AIRPORT = r"^[A-Z]{3}$"
TAIL = r"^[A-Z0-9]{1,10}$"


class Flight(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    carrier: str = Field(pattern=CODE, description="airline code, e.g. UA")
    flight: int = Field(ge=1, le=9999, description="flight number")
    tailnum: str | None = Field(pattern=TAIL, description="tail number; null if not assigned")
    origin: str = Field(pattern=AIRPORT, description="New York departure airport")
    dest: str = Field(pattern=AIRPORT, description="destination airport")
    scheduled_departure: dt.datetime = Field(
        description="scheduled departure, New York local time (an offset is converted)"
    )


class PredictionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flights: list[Flight] = Field(min_length=1)


@dataclasses.dataclass(frozen=True)
class Refusal:
    field: str
    message: str


@dataclasses.dataclass(frozen=True)
class FlightRow:
    """One flight as the raw schedule holds it (`contracts.RAW_FLIGHTS_SCHEMA`'s names)."""

    flight_id: str
    flight_date: dt.date
    carrier: str
    flight: int
    tailnum: str | None
    origin: str
    dest: str
    sched_dep_time: int  # local hhmm
    hour: int
    distance: float


def field_name(loc: tuple) -> str:
    """pydantic's error location as the client's path: ('body', 'flights', 0, 'x') ->
    'flights[0].x'; the body itself -> 'body'."""
    parts = [p for p in loc if p != "body"]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def local_departure(moment: dt.datetime) -> dt.datetime:
    """The departure as naive New York wall-clock time."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(LOCAL_TZ)).replace(tzinfo=None)
    return moment


def to_rows(
    request: PredictionRequest, vocabulary: Vocabulary, max_flights: int
) -> tuple[list[FlightRow], list[Refusal]]:
    """The request's flights as schedule rows, or the refusals (every one, by field)."""
    if len(request.flights) > max_flights:
        return [], [
            Refusal(
                "flights",
                f"{len(request.flights)} flights in one call: at most {max_flights}",
            )
        ]
    rows, refusals, seen = [], [], {}
    for i, flight in enumerate(request.flights):
        where = f"flights[{i}]"
        if flight.carrier not in vocabulary.carriers:
            known = ", ".join(sorted(vocabulary.carriers))
            refusals.append(
                Refusal(f"{where}.carrier", f"unknown carrier {flight.carrier!r} (known: {known})")
            )
        if flight.origin not in vocabulary.origins:
            known = ", ".join(sorted(vocabulary.origins))
            refusals.append(
                Refusal(
                    f"{where}.origin",
                    f"unknown departure airport {flight.origin!r}: one of {known}",
                )
            )
        departure = local_departure(flight.scheduled_departure)
        day = departure.date()
        distance = vocabulary.distance(flight.origin, flight.dest, day)
        if distance is None and flight.origin in vocabulary.origins:
            refusals.append(
                Refusal(
                    f"{where}.dest",
                    f"unknown destination {flight.dest!r}: the schedule has no route "
                    f"{flight.origin}-{flight.dest}",
                )
            )
        hhmm = departure.hour * 100 + departure.minute
        flight_id = f"{day.isoformat()}-{flight.carrier}-{flight.flight}-{flight.origin}-{hhmm:04d}"
        if flight_id in seen:
            refusals.append(Refusal(where, f"the same flight as flights[{seen[flight_id]}]"))
        seen.setdefault(flight_id, i)
        if distance is not None:
            rows.append(
                FlightRow(
                    flight_id=flight_id,
                    flight_date=day,
                    carrier=flight.carrier,
                    flight=flight.flight,
                    tailnum=flight.tailnum,
                    origin=flight.origin,
                    dest=flight.dest,
                    sched_dep_time=hhmm,
                    hour=departure.hour,
                    distance=distance,
                )
            )
    return (rows if not refusals else []), refusals
