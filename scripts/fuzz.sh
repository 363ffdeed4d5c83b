#!/bin/sh
# fuzz.sh - long libFuzzer runs of every target in fuzz/.
# Builds build-fuzz with clang (-DTL_FUZZ=ON), then fuzzes each target for
# SECONDS (default 600) with a persistent corpus in build-fuzz/corpus/<target>
# (seeded from fuzz/corpus/). Crashing inputs land in build-fuzz/artifacts/;
# save each one under fuzz/regressions/<target>/ so the short run replays it.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-600}
[ $# -gt 0 ] && shift
cmake -S . -B build-fuzz -DTL_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j2 --target tl_fuzz_all
targets=${*:-$(cd build-fuzz && ls fuzz_* | sed 's/^fuzz_//')}
mkdir -p build-fuzz/artifacts
status=0
for t in $targets; do
    if ls fuzz/regressions/"$t"/* >/dev/null 2>&1; then
        if ! build-fuzz/fuzz_"$t" -runs=0 fuzz/regressions/"$t"/* >/dev/null 2>&1; then
            echo "== fuzz_$t: a saved regression input (fuzz/regressions/$t/) still fails"
            status=1
        fi
    fi
    mkdir -p "build-fuzz/corpus/$t"
    cp -n fuzz/corpus/"$t"/* "build-fuzz/corpus/$t/" 2>/dev/null || true
    echo "== fuzz_$t for ${secs}s"
    build-fuzz/fuzz_"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
        "build-fuzz/corpus/$t" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Test unit written|DONE' || true
    ls build-fuzz/artifacts/"$t"-* >/dev/null 2>&1 && status=1
done
[ "$status" -eq 0 ] && echo "no crashes" || { echo "crashes in build-fuzz/artifacts/"; ls build-fuzz/artifacts; }
exit "$status"
