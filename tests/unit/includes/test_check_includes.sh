#!/usr/bin/env bash
# scripts/check-includes passes on this tree and fails, naming the folders, on
# a tree where core/alpha and core/beta include each other through core/gamma,
# and, naming the file and line, where core/leaf includes core/beta's private
# header.
set -euo pipefail
src="${BM_SOURCE_DIR:?run through ctest}"
"$src/scripts/check-includes" "$src"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core/alpha" "$tmp/core/beta" "$tmp/core/gamma" "$tmp/core/leaf"
printf '#include "beta/beta.h"\n#include "leaf/leaf.h"\n' >"$tmp/core/alpha/alpha.h"
printf '#include "gamma/gamma.h"\n' >"$tmp/core/beta/beta.c"
printf '#include <stdio.h>\n  #  include "alpha/alpha.h"\n' >"$tmp/core/gamma/gamma.h"
printf '#include <stdio.h>\n' >"$tmp/core/leaf/leaf.h"
if out=$("$src/scripts/check-includes" "$tmp" 2>&1); then
    echo "check-includes accepted a cycle:"
    echo "$out"
    exit 1
fi
for want in "core/alpha" "core/beta" "core/gamma" "alpha -> beta" "gamma -> alpha"; do
    grep -qF "$want" <<<"$out" || { echo "missing '$want' in: $out"; exit 1; }
done
if grep -qF "core/leaf" <<<"$out"; then
    echo "leaf is on no cycle: $out"
    exit 1
fi
# Without the edge back it passes.
printf '#include <stdio.h>\n' >"$tmp/core/gamma/gamma.h"
"$src/scripts/check-includes" "$tmp"
# A folder that opens another's private header (the structs that folder owns).
printf 'struct beta { int x; };\n' >"$tmp/core/beta/beta_int.h"
printf '#include <stdio.h>\n#include "beta/beta_int.h"\n' >"$tmp/core/leaf/leaf.c"
if out=$("$src/scripts/check-includes" "$tmp" 2>&1); then
    echo "check-includes accepted core/leaf including core/beta's private header:"
    echo "$out"
    exit 1
fi
grep -qF 'core/leaf/leaf.c:2: #include "beta/beta_int.h"' <<<"$out" ||
    { echo "missing the private include in: $out"; exit 1; }
# Its own folder may.
mv "$tmp/core/leaf/leaf.c" "$tmp/core/beta/beta.c"
"$src/scripts/check-includes" "$tmp"
echo "check-includes: ok"
