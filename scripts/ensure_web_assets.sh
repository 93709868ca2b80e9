#!/usr/bin/env bash
# Puts the browser assets that Great Expectations' Data Docs load from CDNs (its templates,
# great_expectations/render/view/templates/page.j2 and js_script_imports.j2) into
# .venv/share/runway-web/<package>/<path>, so the docs render offline
# (runway.features.data_docs copies them beside each site and rewrites the pages' links).
# Fetched with `npm pack` from the npm registry, only when the pins below changed;
# idempotent and quiet, it prints one line saying what it did.
#   scripts/ensure_web_assets.sh [FOLDER]   FOLDER: elsewhere than the venv (the Dockerfile's
#   node stage); Python finds the folder at <sys.prefix>/share/runway-web.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:-$repo/.venv/share/runway-web}"

# package            exact version  files and folders taken from its tarball (under package/)
# The templates ask for vega@5, vega-lite@5 and vega-embed@6 (floating): the newest of each
# major when pinned (2026-12-02). The filter-control CSS they load from bootstrap-table 1.19.0
# is taken from 1.19.1, the version of the table script itself (same package).
PINS="\
vega                          5.33.1  build/vega.min.js
vega-lite                     5.23.0  build/vega-lite.min.js
vega-embed                    6.29.0  build/vega-embed.min.js
@fortawesome/fontawesome-free 6.6.0   css/all.min.css webfonts
jquery                        3.7.1   dist/jquery.min.js
popper.js                     1.12.9  dist/umd/popper.min.js
bootstrap                     4.3.1   dist/css/bootstrap.min.css dist/js/bootstrap.min.js
bootstrap-table               1.19.1  dist/bootstrap-table.min.css dist/bootstrap-table.min.js dist/extensions/filter-control
bootstrap-datepicker          1.9.0   dist/css/bootstrap-datepicker.min.css dist/js/bootstrap-datepicker.min.js
@forevolve/bootstrap-dark     1.1.0   dist/css/bootstrap-prefers-dark.css
"

if [ -f "$target/PINS" ] && printf '%s' "$PINS" | cmp -s - "$target/PINS"; then
    echo "ensure_web_assets: Data Docs assets already in ${target#"$repo"/}, nothing to do"
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "ensure_web_assets: npm is missing: install it (Debian: apt-get install npm) and rerun" >&2
    exit 1
fi
if [ $# -eq 0 ] && [ ! -d "$repo/.venv" ]; then
    echo "ensure_web_assets: no virtualenv at $repo/.venv: run make install first" >&2
    exit 1
fi

mkdir -p "$(dirname "$target")"
work="$(mktemp -d "$(dirname "$target")/.runway-web.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/packs" "$work/site"
log="$work/npm.log"
count=0
while read -r name version paths; do
    [ -n "$name" ] || continue
    if ! tarball="$(cd "$work/packs" && npm pack --silent "$name@$version" 2>"$log")"; then
        cat "$log" >&2
        echo "ensure_web_assets: npm pack $name@$version failed (output above)" >&2
        exit 1
    fi
    mkdir -p "$work/site/$name"
    members=()
    for path in $paths; do
        members+=("package/$path")
    done
    if ! tar -xzf "$work/packs/$tarball" -C "$work/site/$name" --strip-components=1 \
            "${members[@]}" 2>"$log"; then
        cat "$log" >&2
        echo "ensure_web_assets: $name@$version lacks one of: $paths" >&2
        exit 1
    fi
    count=$((count + 1))
done <<<"$PINS"
printf '%s' "$PINS" >"$work/site/PINS"

# swap the whole folder in: readers see the old set or the new one, never half of it
if [ -e "$target" ]; then
    mv "$target" "$work/old"
fi
mv "$work/site" "$target"
echo "ensure_web_assets: fetched $count packages with npm pack into ${target#"$repo"/} ($(du -sh "$target" | cut -f1))"
