"""Features for flights from Feast's online store, by the offline join's rules.

The views are read straight from the store's online tables (Feast's own `online_read` of the
configured store, SQLite or Redis, one call per view for the distinct keys of a call), which
skips Feast's per-call response building. The rules are those of the point-in-time join
(`features.store.historical_features`) at the flight's prediction time t
(`days.prediction_time`): a view's row is used when its stamp s has s <= t and s + ttl >= t,
the ttl being the view's own (`feature_ttl_days` for the entity views); an older row is
missing (NaN), as offline. The online store keeps only each key's newest row, so a flight whose
prediction-time features are not the ones it holds cannot be answered exactly:

- the store's features are older than t (day D-1 not materialized yet): "no features yet";
- the store holds rows newer than t (a past flight): refused, batch scoring answers those.

Both are read from `ANCHOR_VIEW`, which has a row stamped at the end of every day the store
holds (the three New York airports fly every day).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from runway import contracts
from runway.days import prediction_time
from runway.serving.requests import FlightRow, Refusal

ANCHOR_VIEW = "origin_stats"
UNKNOWN_TAIL = "UNKNOWN"  # what `entities.entity_rows` puts for a null tail number


@dataclasses.dataclass(frozen=True)
class View:
    name: str
    keys: tuple[str, ...]  # the flight's entity columns that key it
    features: tuple[str, ...]
    ttl: dt.timedelta
    table: object  # the feast FeatureView


@dataclasses.dataclass(frozen=True)
class FlightFeatures:
    values: np.ndarray  # flights x features, float64, NaN where missing
    names: tuple[str, ...]
    stamps: list[dict[str, dt.datetime | None]]  # per flight, per view: the row used
    refusals: list[Refusal]


USE, MISSING, AHEAD = "use", "missing", "ahead"


def row_rule(stamp: dt.datetime | None, at: dt.datetime, ttl: dt.timedelta) -> str:
    """What the point-in-time join does with a key's row stamped `stamp` for an entity at
    `at`: USE it (stamp <= at <= stamp + ttl), MISSING (no row, or older than the TTL), or
    AHEAD (newer than `at`: offline would take an older row, which the online store no
    longer has)."""
    if stamp is None:
        return MISSING
    if stamp > at:
        return AHEAD
    return USE if stamp + ttl >= at else MISSING


def entity_values(row: FlightRow) -> dict[str, object]:
    """The flight's entity keys, as `entities.entity_rows` builds them for batch scoring."""
    return {
        "carrier": row.carrier,
        "origin": row.origin,
        "route": f"{row.origin}-{row.dest}",
        "tailnum": row.tailnum or UNKNOWN_TAIL,
        "hour": int(row.hour),
    }


def _value(proto) -> float:
    kind = proto.WhichOneof("val")
    return float(getattr(proto, kind)) if kind else np.nan


class OnlineFeatures:
    """The feature service's views over the store's online tables."""

    def __init__(self, store, service: str):
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self._entity_key, self._value_proto = EntityKey, Value
        self.config = store.config
        self.online_store = store._get_provider().online_store
        feature_service = store.get_feature_service(service)
        views = []
        for projection in feature_service.feature_view_projections:
            table = store.get_feature_view(projection.name)
            keys = tuple(projection.join_key_map.get(c.name, c.name) for c in table.entity_columns)
            unknown = [k for k in keys if k not in contracts.ENTITY_COLUMNS]
            if unknown:
                raise ValueError(f"view {table.name} is keyed by {unknown}, not a flight's keys")
            features = tuple(f.name for f in projection.features)
            views.append(View(table.name, keys, features, table.ttl, table))
        if ANCHOR_VIEW not in {v.name for v in views}:
            raise ValueError(f"feature service {service} has no {ANCHOR_VIEW} view")
        self.views = tuple(views)
        self.names = tuple(f for v in views for f in v.features)

    def _key(self, view: View, entity: dict):
        values = []
        for key in view.keys:
            value = entity[key]
            if key == "hour":
                values.append(self._value_proto(int64_val=int(value)))
            else:
                values.append(self._value_proto(string_val=str(value)))
        return self._entity_key(join_keys=list(view.keys), entity_values=values)

    def read(self, rows: list[FlightRow]) -> FlightFeatures:
        """Each flight's features at its prediction time, or the refusals naming the flights."""
        entities = [entity_values(r) for r in rows]
        moments = [prediction_time(r.flight_date) for r in rows]
        values = np.full((len(rows), len(self.names)), np.nan)
        stamps: list[dict] = [{} for _ in rows]
        refused: dict[int, Refusal] = {}  # one refusal per flight: the first found
        column = 0
        for view in self.views:
            per_key = {tuple(e[k] for k in view.keys): None for e in entities}
            distinct = list(per_key)
            found = self.online_store.online_read(
                self.config,
                view.table,
                [self._key(view, dict(zip(view.keys, k, strict=True))) for k in distinct],
                list(view.features),
            )
            per_key = dict(zip(distinct, found, strict=True))
            converted: dict[tuple, np.ndarray] = {}  # each distinct key's values, once
            for i, entity in enumerate(entities):
                key = tuple(entity[k] for k in view.keys)
                stamp, features = per_key[key]
                at = moments[i]
                rule = row_rule(stamp if features else None, at, view.ttl)
                if rule == AHEAD:
                    refused.setdefault(i, _too_late(i, rows[i], stamp))
                    continue
                if view.name == ANCHOR_VIEW and (stamp is None or stamp < at):
                    refused.setdefault(i, _not_yet(i, rows[i], stamp))
                    continue
                if rule == MISSING:
                    stamps[i][view.name] = None  # no row, or older than the view's TTL
                    continue
                stamps[i][view.name] = stamp
                if key not in converted:
                    converted[key] = np.array(
                        [_value(features[n]) if n in features else np.nan for n in view.features]
                    )
                values[i, column : column + len(view.features)] = converted[key]
            column += len(view.features)
        refusals = [refused[i] for i in sorted(refused)]
        return FlightFeatures(values, self.names, stamps, refusals)


def _features_day(stamp: dt.datetime) -> dt.date:
    from runway.days import local_day

    return local_day(stamp - dt.timedelta(seconds=1))  # rows are stamped with their day's end


def _not_yet(i: int, row: FlightRow, stamp: dt.datetime | None) -> Refusal:
    needed = row.flight_date - dt.timedelta(days=1)
    held = f"through {_features_day(stamp)}" if stamp else "nothing for this airport"
    return Refusal(
        f"flights[{i}].scheduled_departure",
        f"no features yet for a flight of {row.flight_date}: it needs the features of {needed}, "
        f"the online store holds {held} (materialize {needed} first)",
    )


def _too_late(i: int, row: FlightRow, stamp: dt.datetime) -> Refusal:
    return Refusal(
        f"flights[{i}].scheduled_departure",
        f"a flight of {row.flight_date} is before the online store's features (of "
        f"{_features_day(stamp)}): its prediction-time features are gone from the online "
        "store; batch scoring (batch_scoring DAG) scores past days",
    )
