"""Runway: Airflow-native MLOps on the real NYC flights of 2013.

The ground floor, shared by every wing:

- `settings`   the one settings object (profiles, paths, URIs, gate thresholds, retrain policy)
- `contracts`  the data contracts: raw schemas, the label, the feature tables, the model inputs
- `days`       the local clock: day bounds, prediction time, the days a run covers
- `entities`   flights as Feast entity rows (training and scoring share the definition)
- `io`         atomic, idempotent partition and file writes
- `sql`        the `predictions` and `monitoring_metrics` tables, upserts
- `metrics`    how good a probability is: AUC, log loss, ECE, slices, plots
- `registry`   the MLflow session, aliases, promotion and rollback, the drift reference
- `local_airflow`  a real local Airflow and its REST client (demo and tests)

One wing per stage, each entered by its `steps.py` (what its DAG's tasks call): `features`,
`training`, `scoring`, `monitoring`. A wing may use another wing's modules, never its steps.
"""
