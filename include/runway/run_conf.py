"""A trigger's conf, checked against the DAG's params before a run exists.

Airflow 3 validates each declared Param's value but keeps any other conf key without a word (the
typo `n_trial` ran with the default budget), and a window that ends before it starts only fails
later, inside a task. `problems` is the rule, applied at trigger time by the api-server
middleware in `plugins/runway_conf_check.py` (HTTP 400 naming the key): every conf key must be
one of the DAG's params, and each day range the DAG declares must be in order.
"""

from __future__ import annotations

import difflib

from runway.days import RunConfigError, explicit_range

# The params that form a day range (first, last), wherever a DAG declares both.
RANGES = (("start", "end"), ("window_start", "window_end"))


def problems(dag_id: str, conf: object, params: set[str]) -> list[str]:
    """What is wrong with `conf` for a DAG with these `params`; empty when nothing is."""
    if conf is None:
        return []
    if not isinstance(conf, dict):
        return [f"conf of {dag_id} must be an object, got {type(conf).__name__}"]
    found = []
    for key in sorted(set(conf) - params):
        close = difflib.get_close_matches(key, sorted(params), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        found.append(
            f"conf key {key!r} is not a param of {dag_id}{hint}; "
            f"its params: {', '.join(sorted(params)) or 'none'}"
        )
    for first, last in RANGES:
        if {first, last} <= params:
            try:
                explicit_range(conf.get(first), conf.get(last), (first, last))
            except RunConfigError as error:
                found.append(f"{dag_id}: {error}")
    return found
