"""Runway's benchmark harness: `make bench` (or `python -m bench --help`).

Each figure of issue 6 is measured beside its baseline in the same run, repeated, and written
to `bench/results/latest.json` and `bench/results/report.md` with plots.
"""
