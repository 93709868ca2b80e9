"""The data contracts' invariants: one definition each, and the pieces agree with each other."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from runway import contracts


def test_feature_names_are_unique_and_each_table_owns_its_own():
    assert len(set(contracts.ALL_FEATURES)) == len(contracts.ALL_FEATURES)
    owned = [f for table in contracts.FEATURE_TABLES for f in contracts.TABLE_FEATURES[table]]
    assert sorted(owned) == sorted(contracts.ALL_FEATURES)
    for spec in contracts.ENTITY_TABLES:
        assert all(name.startswith(f"{spec.prefix}_") for name in spec.features)
        assert all(stat in contracts.STATS for stat, _ in spec.stats)
        assert all(days in (1, 7, 28) for _, days in spec.stats)
    assert contracts.MAX_WINDOW_DAYS == 28


def test_feature_schemas_hold_keys_features_and_a_utc_microsecond_timestamp():
    for table in contracts.FEATURE_TABLES:
        schema = contracts.feature_schema(table)
        assert schema.names == [
            *contracts.TABLE_KEYS[table],
            *contracts.TABLE_FEATURES[table],
            contracts.EVENT_TIMESTAMP,
        ]
        assert schema.field(contracts.EVENT_TIMESTAMP).type == pa.timestamp("us", tz="UTC")


def test_every_entity_key_is_a_flight_entity_column():
    keys = {key for table in contracts.FEATURE_TABLES for key in contracts.TABLE_KEYS[table]}
    assert keys == set(contracts.ENTITY_COLUMNS)


def test_the_model_reads_schedule_columns_and_every_feature():
    assert set(contracts.ALL_FEATURES) <= set(contracts.RAW_INPUTS)
    schedule = [c for c in contracts.RAW_INPUTS if c not in contracts.ALL_FEATURES]
    assert set(schedule) <= set(contracts.RAW_FLIGHTS_SCHEMA.names)
    assert not {"arr_delay", "dep_delay", "dep_time", "arr_time", "air_time"} & set(
        schedule
    )  # outcomes


def test_the_label_in_sql_matches_its_definition():
    cases = [(None, 1), (14.9, 0), (15.0, 1), (120.0, 1), (-5.0, 0)]
    con = duckdb.connect()
    for delay, expected in cases:
        query = (
            f"SELECT CAST({contracts.label_expression('d')} AS INTEGER) "
            "FROM (SELECT ?::DOUBLE AS d)"
        )
        (value,) = con.execute(query, [delay]).fetchall()[0]
        assert value == expected, delay
    assert f"{contracts.LABEL_DELAY_MINUTES:g}+ minutes late" in contracts.LABEL_DEFINITION


def test_raw_tables_are_named_once():
    assert contracts.RAW_TABLES == {
        "flights": contracts.RAW_FLIGHTS_SCHEMA,
        "weather": contracts.RAW_WEATHER_SCHEMA,
    }
    assert contracts.NYC_ORIGINS == ("EWR", "JFK", "LGA")
