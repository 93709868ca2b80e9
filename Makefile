# Runway: `make demo` runs the loop through Airflow, `make test` runs the tests.
# Both install what they need first (a virtualenv in .venv, from requirements.txt).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ENV := source scripts/env.sh &&
TEST_WORKERS ?= 2  # pytest-xdist processes; a test file stays in one (its fixtures are shared)

.PHONY: install demo replay test lint bench lock airflow stop credentials mlflow serve clean

install: $(VENV)/.installed
	@bash scripts/ensure_system_packages.sh
	@bash scripts/ensure_web_assets.sh

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

demo: install  ## the main job: bootstrap history and run the pipelines through Airflow
	$(ENV) $(BIN)/python scripts/demo.py $(DEMO_ARGS)

replay: install  ## the loop over a longer range: make replay START=2026-01-01 END=2026-07-31
	$(ENV) $(BIN)/python scripts/demo.py --start $(or $(START),2026-01-01) --end $(or $(END),2026-07-31) --chunk-days $(or $(CHUNK),14) --port $(or $(DEMO_PORT),8080)

test: install lint  ## lint, then every test layer: DAG integrity, unit, integration, end to end
	$(ENV) $(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: install  ## ruff check (with Airflow's AIR rules) and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install  ## benchmarks beside their baselines -> bench/results/
	$(ENV) $(BIN)/python -m bench $(BENCH_ARGS)

airflow: install  ## Airflow with its schedules on, in the background: http://127.0.0.1:8080 (make stop)
	$(ENV) $(BIN)/python -c "from runway.local_airflow import LocalAirflow; from runway.settings import load_settings; a = LocalAirflow(load_settings().home / 'airflow').start(); print('Airflow at', a.url, '- log', a.log)"

stop:  ## stop the Airflow and the MLflow UI that `make demo` left running
	$(ENV) $(BIN)/python -c "from runway.local_airflow import LocalAirflow; from runway.settings import load_settings; LocalAirflow(load_settings().home / 'airflow').stop()"
	$(ENV) $(BIN)/python -c "from runway.local_mlflow import local_mlflow; from runway.settings import load_settings; local_mlflow(load_settings()).stop()"

credentials:  ## show this installation's generated Airflow passwords
	@cat .runway/airflow/passwords.json 2>/dev/null && echo || echo "no credentials yet: run make demo (or make airflow) first"

mlflow: install  ## the MLflow UI (RUNWAY_MLFLOW_UI_URL, default http://127.0.0.1:5000), in the background
	$(ENV) $(BIN)/python -c "from runway.local_mlflow import local_mlflow; from runway.settings import load_settings; print('MLflow UI at', local_mlflow(load_settings()).start().url)"

serve: install  ## the online endpoint on http://127.0.0.1:8090 (bearer key in .runway/serving/api_key)
	$(ENV) $(BIN)/python -m runway.serving

lock:  ## recompile requirements.txt from requirements.in in a scratch venv
	rm -rf /tmp/runway-lock && $(PYTHON) -m venv /tmp/runway-lock
	/tmp/runway-lock/bin/pip install -q --upgrade pip && /tmp/runway-lock/bin/pip install -q -r requirements.in
	{ head -2 requirements.txt; /tmp/runway-lock/bin/pip freeze | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:  ## forget all local state (Airflow DB, data, MLflow, Feast); keeps the venv
	rm -rf .runway
