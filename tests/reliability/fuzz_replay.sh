#!/bin/sh
# fuzz_replay.sh - replays fuzz/corpus/<t>/ and fuzz/regressions/<t>/ through
# every replay_<t> program (the fuzz targets built with fuzz_replay.c's main).
# Usage: fuzz_replay.sh BUILD_DIR FUZZ_SRC_DIR
set -u
build=${1:?build dir}
src=${2:?fuzz dir}
fail=0
n=0
for bin in "$build"/replay_*; do
    [ -x "$bin" ] || continue
    t=${bin##*/replay_}
    files=$(ls "$src/corpus/$t"/* "$src/regressions/$t"/* 2>/dev/null)
    [ -n "$files" ] || continue
    n=$((n + 1))
    # shellcheck disable=SC2086
    if out=$("$bin" $files 2>&1); then
        echo "ok   $t: $(echo "$out" | tail -n 1)"
    else
        echo "FAIL $t:"
        echo "$out" | tail -n 25
        fail=1
    fi
done
[ "$n" -gt 0 ] || { echo "no replay_* programs in $build"; exit 1; }
exit "$fail"
