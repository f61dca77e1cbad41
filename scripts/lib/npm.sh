#!/usr/bin/env bash
# Installs the pinned npm packages of a folder (package.json + package-lock.json)
# into <folder>/node_modules, with npm's cache under var/npm-cache: nothing
# global, nothing committed, no network but the npm registry.
#
# usage: scripts/lib/npm.sh DIR
# Exit codes: 0 installed (or already up to date), 3 the registry could not be
# reached (callers may skip with that message), 1 any other failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
dir=${1:?usage: scripts/lib/npm.sh DIR}
[[ -f $dir/package-lock.json ]] || { echo "npm.sh: $dir/package-lock.json missing" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm.sh: npm not found (install the Debian package npm)" >&2; exit 1; }
stamp="$dir/node_modules/.bm-lock-stamp"
if [[ -f $stamp ]] && cmp -s "$stamp" "$dir/package-lock.json"; then
    exit 0
fi
mkdir -p var/npm-cache
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! (cd "$dir" && npm ci --no-audit --no-fund --cache "$OLDPWD/var/npm-cache" >"$log" 2>&1); then
    cat "$log" >&2
    if grep -qiE 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH|network' "$log"; then
        echo "npm.sh: the npm registry is unreachable" >&2
        exit 3
    fi
    exit 1
fi
cp "$dir/package-lock.json" "$stamp"
