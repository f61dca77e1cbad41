#!/bin/sh
# The module template's README, "Try it", step by step: the template built
# against an installed SDK, the installed engine and bmctl on a fresh
# database, a campaign of the template's own type, three events, and the
# scores they make. Needs BM_BUILD_DIR, BM_SOURCE_DIR and BM_POSTGRES_DSN
# (scripts/test sets them).
set -eu

build=${BM_BUILD_DIR:?BM_BUILD_DIR not set}
src=${BM_SOURCE_DIR:?BM_SOURCE_DIR not set}
admin=${BM_POSTGRES_DSN:?BM_POSTGRES_DSN not set: run through scripts/test}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bm-walk.XXXXXX")
db="bmt_walk_$$"
engine=""
cleanup() {
    [ -n "$engine" ] && kill -9 "$engine" 2>/dev/null
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    [ -f "$tmp/engine.log" ] && tail -n 30 "$tmp/engine.log" >&2
    exit 1
}

quiet() {
    if ! "$@" >"$tmp/last.log" 2>&1; then
        cat "$tmp/last.log" >&2
        fail "command failed: $*"
    fi
}

prefix="$tmp/prefix"
quiet cmake --install "$build" --prefix "$prefix"
PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name brightmatter-module.pc | head -n 1)")
export PKG_CONFIG_PATH
PATH="$prefix/bin:$PATH"
quiet cmake -S "$src/sdk/module-template" -B "$tmp/build"
quiet cmake --build "$tmp/build"

# A database of its own, on the test cluster.
psql "$admin" -qc "CREATE DATABASE $db" >/dev/null || fail "cannot create database $db"
dsn=$(printf '%s' "$admin" | sed -E "s/dbname=[^ ]+/dbname=$db/")
# BM_POSTGRES_DSN would override the file's postgres.dsn (BM_<SECTION>_<KEY>).
unset BM_POSTGRES_DSN

cd "$tmp"
mkdir -p try/modules && cp build/example.so try/modules/
cat >try/try.conf <<CONF
[engine]
modules_dir = try/modules
run_dir = try/run
[postgres]
dsn = $dsn
CONF
BM_CONFIG=try/try.conf
export BM_CONFIG

# Installed into a temporary prefix, not the configured one: say where the SQL is.
BM_SQL_DIR="$prefix/share/brightmatter/sql" quiet bmctl migrate
brightmatter >"$tmp/engine.log" 2>&1 &
engine=$!
i=0
until bmctl modules >"$tmp/modules.txt" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "the engine did not answer bmctl modules"
    kill -0 "$engine" 2>/dev/null || fail "the engine exited"
    sleep 0.1
done
grep -q "example" "$tmp/modules.txt" || fail "bmctl modules lacks example: $(cat "$tmp/modules.txt")"

cat >try/points.json <<'JSON'
{"type": "example", "name": "points", "gameId": "my-game"}
JSON
bmctl campaign create try/points.json >"$tmp/create.txt" 2>&1 ||
    fail "campaign create: $(cat "$tmp/create.txt")"
id=$(sed -n 's/^created campaign \([0-9a-f-]*\) .*/\1/p' "$tmp/create.txt")
cat "$tmp/create.txt"
[ -n "$id" ] || fail "no campaign id in: $(cat "$tmp/create.txt")"

quiet bmctl event send \
    '{"gameId":"my-game","userId":"ada","eventType":"match_end","data":{"points":5}}' \
    '{"gameId":"my-game","userId":"ada","eventType":"match_end"}' \
    '{"gameId":"my-game","userId":"bob","eventType":"match_end","data":{"points":3}}'
# An event the engine would reject is refused before it is sent.
if bmctl event send '{"gameId":"my-game","eventType":"match_end"}' >/dev/null 2>&1; then
    fail "bmctl event send accepted an event without userId"
fi

i=0
while :; do
    bmctl leaderboard "$id" >"$tmp/board.txt" 2>&1 || true
    if grep -Eq '^ +1 +ada +6$' "$tmp/board.txt" && grep -Eq '^ +2 +bob +3$' "$tmp/board.txt"; then
        break
    fi
    i=$((i + 1))
    [ $i -lt 300 ] || fail "board never showed ada 6, bob 3: $(cat "$tmp/board.txt")"
    sleep 0.1
done
kill "$engine"
wait "$engine" || fail "the engine did not stop cleanly"
engine=""
echo "template walk-through passed: $(tr '\n' ' ' <"$tmp/board.txt")"
