# Source me: the environment Runway's Airflow runs in (the Makefile sets the same).
RUNWAY_REPO="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export RUNWAY_REPO
export AIRFLOW_HOME="${AIRFLOW_HOME:-$RUNWAY_REPO/.runway/airflow}"
export AIRFLOW_CONFIG="$RUNWAY_REPO/airflow.cfg"
export PATH="$RUNWAY_REPO/.venv/bin:$PATH"
# This checkout's package first, whatever the virtualenv's editable install points at
# (a second worktree can share one .venv).
export PYTHONPATH="$RUNWAY_REPO/include${PYTHONPATH:+:$PYTHONPATH}"
