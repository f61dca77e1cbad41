#!/bin/sh
# Out-of-tree module build: install BrightMatter into a temp prefix, build
# sdk/module-template against it with pkg-config only, check the result with
# the installed bmctl, then prove three deliberately broken builds are refused
# naming the field. Needs BM_BUILD_DIR and BM_SOURCE_DIR (set by CTest).
set -eu

build=${BM_BUILD_DIR:?BM_BUILD_DIR not set}
src=${BM_SOURCE_DIR:?BM_SOURCE_DIR not set}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bm-template.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Runs a command quietly, showing its output only when it fails.
quiet() {
    log="$tmp/last.log"
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "command failed: $*"
    fi
}

prefix="$tmp/prefix"
quiet cmake --install "$build" --prefix "$prefix"

pc=$(find "$prefix" -name brightmatter-module.pc | head -n 1)
[ -n "$pc" ] || fail "brightmatter-module.pc not installed under $prefix"
[ -f "$prefix/include/brightmatter/module.h" ] || fail "module.h not installed"
bmctl="$prefix/bin/bmctl"
[ -x "$bmctl" ] || fail "bmctl not installed"

# Only the installed SDK: no include path into the source tree. The .pc file
# names the configured prefix, so let pkg-config derive it from its location.
export PKG_CONFIG_PATH="$(dirname "$pc")"
configure() { # build-dir [extra cmake args]
    dir=$1
    shift
    quiet cmake -S "$src/sdk/module-template" -B "$dir" "$@"
    quiet cmake --build "$dir"
    [ -f "$dir/example.so" ] || fail "$dir/example.so not built"
}

# 1. The template as shipped passes the loader's checks.
configure "$tmp/good"
if ! "$bmctl" module check "$tmp/good/example.so" >"$tmp/out" 2>"$tmp/err"; then
    cat "$tmp/out" "$tmp/err" >&2
    fail "bmctl module check refused the template"
fi
grep -q '^name: example$' "$tmp/out" || fail "check output lacks the name: $(cat "$tmp/out")"
grep -q '^kind: campaign$' "$tmp/out" || fail "check output lacks the kind: $(cat "$tmp/out")"
grep -q '^abi_version: ' "$tmp/out" || fail "check output lacks the ABI version"

# Only the entry point is exported.
if command -v nm >/dev/null 2>&1; then
    exported=$(nm -D --defined-only "$tmp/good/example.so" | awk '$2 == "T" { print $3 }')
    [ "$exported" = "bm_module_entry" ] || fail "exported symbols: $exported"
fi

# 2. It installs into the SDK's module directory.
quiet cmake --install "$tmp/good"
moddir=$(pkg-config --variable=moduledir brightmatter-module)
[ -f "$moddir/example.so" ] || fail "example.so not installed into $moddir"

# 3. Each broken build is refused, naming the field.
for case in magic:magic abi:abi_version size:struct_size; do
    brk=${case%%:*}
    field=${case#*:}
    configure "$tmp/break-$brk" -DTEMPLATE_BREAK="$brk"
    so="$tmp/break-$brk/example.so"
    set +e
    "$bmctl" module check "$so" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    [ "$rc" -eq 1 ] || fail "TEMPLATE_BREAK=$brk: exit $rc, want 1"
    grep -q "^refused $so: $field: " "$tmp/err" ||
        fail "TEMPLATE_BREAK=$brk: stderr does not name $field: $(cat "$tmp/err")"
    echo "refused as expected: $(cat "$tmp/err")"
done
echo "template test passed"
