# Runway: `make demo` runs the loop through Airflow, `make test` runs the tests.
# Both install what they need first (a virtualenv in .venv, from requirements.txt).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV := source scripts/env.sh &&

.PHONY: install demo test bench lock airflow clean

install: $(VENV)/.installed
	@bash scripts/ensure_system_packages.sh

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: install  ## the main job: bootstrap history and run the pipelines through Airflow
	$(ENV) $(BIN)/python scripts/demo.py $(DEMO_ARGS)

test: install  ## every test layer: DAG integrity, unit, integration, end to end
	$(ENV) $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: install  ## benchmarks beside their baselines -> bench/results/
	$(ENV) $(BIN)/python -m bench $(BENCH_ARGS)

airflow: install  ## the Airflow UI and scheduler on http://127.0.0.1:8080 (Ctrl-C stops)
	$(ENV) $(BIN)/airflow standalone

lock:  ## recompile requirements.txt from requirements.in in a scratch venv
	rm -rf /tmp/runway-lock && $(PYTHON) -m venv /tmp/runway-lock
	/tmp/runway-lock/bin/pip install -q --upgrade pip && /tmp/runway-lock/bin/pip install -q -r requirements.in
	{ head -2 requirements.txt; /tmp/runway-lock/bin/pip freeze | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:  ## forget all local state (Airflow DB, data, MLflow, Feast); keeps the venv
	rm -rf .runway
