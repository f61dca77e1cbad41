#!/bin/sh
# bmctl module check --smoke on modules built from the template, each broken in
# one callback, and the duplicate-name refusal of the plain check. Needs
# BM_BUILD_DIR (set by CTest); no database or broker.
set -eu
build=${BM_BUILD_DIR:?BM_BUILD_DIR not set}
mods=$build/tests/containment
bmctl=$build/bmctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bm-smoke-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
export BM_ENGINE_MODULES_DIR="$tmp/modules"
export BM_WATCHDOG_EVENT_MS=300
mkdir -p "$BM_ENGINE_MODULES_DIR"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect CODE NEEDLE ARGS...: runs bmctl, checks the exit code and the output.
expect() {
    code=$1
    needle=$2
    shift 2
    set +e
    "$bmctl" "$@" >"$tmp/out" 2>&1
    got=$?
    set -e
    cat "$tmp/out"
    [ "$got" = "$code" ] || fail "bmctl $*: exit $got, want $code"
    grep -qF -- "$needle" "$tmp/out" || fail "bmctl $*: output lacks '$needle'"
}

expect 0 "smoke ok" module check --smoke "$mods/tpl_good.so"
grep -qF "on_event ok: 3 events (3 ok, 0 skipped, 0 errors)" "$tmp/out" || fail "good: 3 events"
grep -qF "destroy ok" "$tmp/out" || fail "good: destroy"

expect 1 "crashed with signal 11 (SIGSEGV) in init" module check --smoke "$mods/tpl_init_segv.so"
expect 1 "crashed with signal 6 (SIGABRT) in on_event of the sample campaign" \
    module check --smoke "$mods/tpl_event_abort.so"
expect 1 "hang: on_event (watchdog: on_event ran past its deadline of 300 ms)" \
    module check --smoke "$mods/tpl_event_loop.so"

# A campaign and events of one's own: a line the decoder refuses fails the run.
printf '{"type":"tournament","name":"mine","gameId":"g1"}\n' >"$tmp/camp.json"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
{
    printf '{"gameId":"g1","userId":"a","eventType":"match_end","data":{"points":2},"timestamp":"%s"}\n' "$now"
    printf '{"gameId":"g1","userId":"b","eventType":"other","data":{},"timestamp":"%s"}\n' "$now"
    printf '{"gameId":"g2","userId":"c","eventType":"match_end","data":{},"timestamp":"%s"}\n' "$now"
} >"$tmp/events.jsonl"
expect 0 "on_event ok: 1 events (1 ok, 0 skipped, 0 errors), 2 not routed" \
    module check --smoke "$mods/tpl_good.so" "$tmp/camp.json" "$tmp/events.jsonl"
printf 'not json\n' >>"$tmp/events.jsonl"
expect 1 "refused by the decoder" \
    module check --smoke "$mods/tpl_good.so" "$tmp/camp.json" "$tmp/events.jsonl"

# The plain check refuses a name another file of modules_dir already has ...
cp "$mods/tpl_good.so" "$BM_ENGINE_MODULES_DIR/other.so"
expect 1 "name: 'example' already present in $BM_ENGINE_MODULES_DIR/other.so" \
    module check "$mods/tpl_good.so"
# ... but not the file itself, nor a replacement of it under the same name.
expect 0 "name: example" module check "$BM_ENGINE_MODULES_DIR/other.so"
cp "$mods/tpl_event_abort.so" "$tmp/other.so"
expect 0 "name: example" module check "$tmp/other.so"
echo "ok"
