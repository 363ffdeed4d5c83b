#!/bin/sh
# fuzz_short.sh - the short fuzz run, for ctest in the TL_FUZZ
# build: replays every saved regression input (fuzz/regressions/<target>/),
# then fuzzes each target for FUZZ_SECONDS (default 9) from its seed corpus
# (fuzz/corpus/<target>/, copied to a temp dir: the repo is never written).
# Exit non-zero on any crash, leak, timeout or failed check; the failing
# input is kept in $TMPDIR and its path printed.
# Usage: fuzz_short.sh BUILD_DIR FUZZ_SRC_DIR [SECONDS]
set -u
build=${1:?build dir}
src=${2:?fuzz source dir}
secs=${3:-${FUZZ_SECONDS:-9}}
work=$(mktemp -d "${TMPDIR:-/tmp}/tl-fuzz.XXXXXX")
fail=0
ran=0
for bin in "$build"/fuzz_*; do
    [ -x "$bin" ] || continue
    name=${bin##*/fuzz_}
    ran=$((ran + 1))
    if [ -d "$src/regressions/$name" ] && [ -n "$(ls "$src/regressions/$name")" ]; then
        if ! "$bin" -runs=0 "$src"/regressions/"$name"/* >"$work/$name.regress.log" 2>&1; then
            echo "FAIL $name: a saved regression input fails again:"
            tail -n 30 "$work/$name.regress.log"
            fail=1
            continue
        fi
    fi
    mkdir -p "$work/corpus-$name" "$work/art-$name"
    [ -d "$src/corpus/$name" ] && cp "$src/corpus/$name"/* "$work/corpus-$name/" 2>/dev/null
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1536 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$work/art-$name/" \
        "$work/corpus-$name" >"$work/$name.log" 2>&1; then
        execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" |
            grep -o '[0-9]*$')
        echo "ok   $name: ${execs:-?} runs in ${secs}s"
    else
        echo "FAIL $name: see $work/$name.log; input(s):"
        ls "$work/art-$name"/*
        grep -m1 -A 25 -E 'ERROR|fuzz_|runtime error' "$work/$name.log"
        fail=1
    fi
done
if [ "$ran" -eq 0 ]; then
    echo "no fuzz_* binaries in $build"
    exit 1
fi
[ "$fail" -eq 0 ] && rm -rf "$work"
exit "$fail"
