#!/usr/bin/env bash
# bmctl migrate end to end against a fresh database: first run applies every
# file, second applies none, a broken file exits 1 naming the file.
set -euo pipefail

bmctl="${BM_BUILD_DIR:?}/bmctl"
if [[ ! -x "$bmctl" ]]; then
    echo "bmctl not built at $bmctl" >&2
    exit 77
fi
: "${BM_POSTGRES_DSN:?BM_POSTGRES_DSN not set: run through scripts/test}"
psql="${BM_PG_BINDIR:-}/psql"
[[ -x "$psql" ]] || psql="$(command -v psql || echo "$(pg_config --bindir)/psql")"

db=bmt_bmctl_migrate
admin_dsn="$BM_POSTGRES_DSN"
export PGOPTIONS="-c client_min_messages=warning"
"$psql" "$admin_dsn" -qAt -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
# libpq takes the last value of a repeated keyword, so this points at the new database.
export BM_POSTGRES_DSN="$admin_dsn dbname=$db"
tmp="$(mktemp -d "${BM_BUILD_DIR}/bmctl-migrate.XXXXXX")"
trap 'rm -rf "$tmp"; "$psql" "$admin_dsn" -qAt -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

nfiles=0
max=0
for f in "$BM_SOURCE_DIR"/sql/[0-9]*_*.sql; do
    v=${f##*/}
    v=$((10#${v%%_*}))
    nfiles=$((nfiles + 1))
    if ((v > max)); then max=$v; fi
done
want_version=$(printf '%03d' "$max")

out=$("$bmctl" migrate --sql-dir "$BM_SOURCE_DIR/sql") || fail "first run exited $?"
[[ "$out" == "applied $nfiles migration(s); schema at $want_version" ]] || fail "first run: '$out'"

# No --sql-dir: ./sql of the working directory is used.
out=$(cd "$BM_SOURCE_DIR" && "$bmctl" migrate) || fail "second run exited $?"
[[ "$out" == "applied 0 migration(s); schema at $want_version" ]] || fail "second run: '$out'"

# BM_SQL_DIR wins over ./sql: a new file there is applied.
cp "$BM_SOURCE_DIR"/sql/*.sql "$tmp/"
printf 'CREATE TABLE bmctl_extra (a int);\n' >"$tmp/900_extra.sql"
out=$(cd "$BM_SOURCE_DIR" && BM_SQL_DIR="$tmp" "$bmctl" migrate) || fail "env run exited $?"
[[ "$out" == "applied 1 migration(s); schema at 900" ]] || fail "env run: '$out'"

# A broken file: exit 1, the file named on stderr, nothing recorded.
printf 'CREATE TABLE bmctl_partial (a int);\nSELEC 1;\n' >"$tmp/901_broken.sql"
set +e
err=$("$bmctl" migrate --sql-dir "$tmp" 2>&1 >/dev/null)
rc=$?
set -e
[[ $rc -eq 1 ]] || fail "broken run exited $rc, want 1"
[[ "$err" == *"migrate: 901_broken.sql: line 2: "*"SELEC"* ]] || fail "broken run stderr: '$err'"
n=$("$psql" "$BM_POSTGRES_DSN" -qAt -c "SELECT count(*) FROM pg_tables WHERE tablename = 'bmctl_partial'")
[[ "$n" == 0 ]] || fail "partial table left behind"
n=$("$psql" "$BM_POSTGRES_DSN" -qAt -c "SELECT max(version) FROM schema_migrations")
[[ "$n" == 900 ]] || fail "schema at $n after broken run, want 900"

# Unreachable database: exit 1 with the reason.
set +e
err=$(BM_POSTGRES_DSN="host=/nonexistent-bm-dir dbname=x" "$bmctl" migrate 2>&1 >/dev/null)
rc=$?
set -e
[[ $rc -eq 1 && "$err" == "migrate: "*"nonexistent-bm-dir"* ]] || fail "bad dsn: rc=$rc '$err'"

echo "bmctl migrate: ok"
