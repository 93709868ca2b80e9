#!/usr/bin/env bash
# Installs the system (Debian) packages that Runway's tests and bench need, only when they are
# missing; idempotent and quiet, it prints one line saying what it did.
#   docker-compose: Debian's Python docker-compose 1.29, which renders `docker-compose config`
#   without a Docker engine (tests/integration/test_compose.py validates docker-compose.yaml).
#   chromium: the browser the UI test drives through Playwright (no browser download).
#   --no-install-recommends keeps the Docker engine (docker.io, a recommend) off the machine.
#   wrk: the HTTP load generator of the bench's serving figure.
set -euo pipefail

missing=()
for package in docker-compose wrk; do
    command -v "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -eq 0 ]; then
    echo "ensure_system_packages: docker-compose, wrk and chromium already installed, nothing to do"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_system_packages: ${missing[*]} missing and there is no apt-get here: install them by hand" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq \
        && "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure_system_packages: installing ${missing[*]} with apt-get failed (output above)" >&2
    exit 1
fi
echo "ensure_system_packages: installed ${missing[*]} with apt-get"
