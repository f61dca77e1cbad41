#!/usr/bin/env bash
# A running engine hot-reloads its modules while events stream in:
#  - a changed leaderboard.so is swapped in (SIGHUP and `bmctl reload`);
#  - a broken one (bad magic) is refused with the field named, and the old
#    generation keeps serving;
#  - across all of it, the board equals an independent count of the stream
#    (nothing lost, nothing counted twice), and SIGTERM stops the engine cleanly.
set -euo pipefail
: "${BM_BUILD_DIR:?}" "${BM_POSTGRES_DSN:?BM_POSTGRES_DSN not set: run through scripts/test}"
B=$BM_BUILD_DIR
tmp=$(mktemp -d /tmp/bm-reload.XXXXXX)
db="bmt_engine_reload_$$"
engine=0
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/engine.log" ] && tail -20 "$tmp/engine.log" >&2; exit 1; }
cleanup() {
    [ "$engine" -gt 0 ] && kill -9 "$engine" 2>/dev/null || true
    psql "$BM_POSTGRES_DSN" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

psql "$BM_POSTGRES_DSN" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
export BM_POSTGRES_DSN="$BM_POSTGRES_DSN dbname=$db"
export BM_ENGINE_MODULES_DIR=$tmp/modules BM_ENGINE_RUN_DIR=$tmp/run BM_KAFKA_BROKERS=embedded
export BM_PIPELINE_BATCH_MAX_EVENTS=500 BM_SQL_DIR=$BM_SOURCE_DIR/sql
mkdir -p "$tmp/modules"
cp "$B/modules/leaderboard.so" "$tmp/modules/leaderboard.so"
"$B/bmctl" migrate >/dev/null

# Swaps a file in the way a deploy does: a new inode under the same name.
install_so() { cp "$1" "$tmp/modules/.new.so" && mv "$tmp/modules/.new.so" "$tmp/modules/leaderboard.so"; }
wait_for() { # wait_for SECONDS CMD...
    local t=$(($1 * 10)); shift
    while ! "$@" >/dev/null 2>&1; do t=$((t - 1)); [ $t -gt 0 ] || return 1; sleep 0.1; done
}
generation() { "$B/bmctl" modules --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([m["generation"] for m in d["modules"] if m["name"]=="leaderboard"][0])'; }
applied() { psql "$BM_POSTGRES_DSN" -tAc "SELECT COALESCE(sum(events_applied),0) FROM consumer_offsets"; }
produce() { # produce SEED EVENTS
    "$B/bm-loadgen" --bootstrap-file "$tmp/run/bootstrap" --events "$2" --users 300 --seed "$1" \
        --expect "$tmp/expect.$1" --quiet >/dev/null
}
score_sum() { cat "$tmp"/expect.* | awk -F'\t' '$3=="MATCH_END"{for(i=5;i<=NF;i++) if ($i ~ /^score=/){split(substr($i,7),v,","); s+=v[1]}} END{printf "%d", s}'; }
gen_is() { [ "$(generation)" = "$1" ]; }
applied_ge() { [ "$(applied)" -ge "$1" ]; }
board_sum() { psql "$BM_POSTGRES_DSN" -tAc "SELECT COALESCE(sum(current_value),0)::bigint FROM user_progress"; }

"$B/brightmatter" >"$tmp/engine.log" 2>&1 &
engine=$!
wait_for 20 test -S "$tmp/run/admin.sock" || fail "engine did not start"
cat >"$tmp/board.json" <<'JSON'
{"type":"leaderboard","name":"Score","gameId":"demo-game",
 "scoringMetadata":{"eventType":"MATCH_END","dataField":"score","aggregation":"sum"}}
JSON
"$B/bmctl" campaign create "$tmp/board.json" >/dev/null
wait_for 40 grep -q "served by module=leaderboard" "$tmp/engine.log" || fail "campaign not picked up"
[ "$(generation)" = 1 ] || fail "expected generation 1"

produce 1 4000
# 1. A changed module through SIGHUP while the stream is being consumed.
cp "$B/modules/leaderboard.so" "$tmp/lb-v2.so" && touch -d '2 minutes ago' "$tmp/lb-v2.so"
install_so "$tmp/lb-v2.so"
kill -HUP "$engine"
wait_for 20 gen_is 2 || fail "SIGHUP did not load generation 2"

# 2. A broken module: refused with the field named, generation 2 keeps serving.
produce 2 4000
install_so "$B/tests/fixtures/fx_bad_magic.so"
if "$B/bmctl" reload >"$tmp/reload.out" 2>&1; then fail "bmctl reload accepted a bad module"; fi
grep -q "refused leaderboard.so: magic" "$tmp/reload.out" || { cat "$tmp/reload.out"; fail "refusal does not name magic"; }
grep -q 'level=error module=loader msg="refused file=.*leaderboard.so field=magic' "$tmp/engine.log" ||
    fail "no refusal log line naming the field"
[ "$(generation)" = 2 ] || fail "old generation not serving after a refused reload"

# 3. A good module again through bmctl reload.
produce 3 4000
install_so "$B/modules/leaderboard.so"
"$B/bmctl" reload >"$tmp/reload2.out" || { cat "$tmp/reload2.out"; fail "good reload refused"; }
[ "$(generation)" = 3 ] || fail "expected generation 3"
produce 4 4000

wait_for 60 applied_ge 16000 || fail "not all events applied: $(applied)"
sleep 0.5
[ "$(applied)" = 16000 ] || fail "applied $(applied), expected 16000"
want=$(score_sum)
got=$(board_sum)
[ "$got" = "$want" ] || fail "board sum $got, independent count $want"
copies=$(ls "$tmp/run/modules")
[ "$copies" = "leaderboard.g3.so" ] || fail "retired generations left behind: $copies"

kill -TERM "$engine"
for _ in $(seq 100); do kill -0 "$engine" 2>/dev/null || break; sleep 0.1; done
kill -0 "$engine" 2>/dev/null && fail "engine still running 10 s after SIGTERM"
rc=0
wait "$engine" || rc=$?
engine=0
[ "$rc" = 0 ] || fail "engine exited $rc after SIGTERM"
echo "engine reload: 4 rounds, 16000 events, generations 1..3, bad magic refused, board exact ($got)"
