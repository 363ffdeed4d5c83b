#!/bin/sh
# Checks the conventions (scripts/check-style.sh), compiles a release build
# with Debian's hardening flags, builds tlogd twice (normal, and
# AddressSanitizer + UndefinedBehaviorSanitizer) and runs every test in both,
# then runs every libFuzzer target briefly. Warnings are errors (TL_STRICT).
# Exits non-zero if anything fails.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc 2>/dev/null || echo 2)

echo "== style (docs/CONVENTIONS.md) =="
scripts/check-style.sh

echo "== release build with Debian's hardening flags (warnings are errors) =="
# What a packager builds: -O3 -DNDEBUG plus dpkg-buildflags' flags.
(
    eval "$(dpkg-buildflags --export=sh)"
    CFLAGS="$CPPFLAGS $CFLAGS" cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release \
        -DTL_STRICT=ON >/dev/null
    cmake --build build-release -j "$jobs" --target tlogd tlog tlog-witness
)

echo "== normal build =="
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTL_STRICT=ON >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 600)

echo "== ASan + UBSan build =="
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTL_SANITIZE=ON -DTL_STRICT=ON >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    TL_SANITIZED=1 ctest --output-on-failure -j "$jobs" --timeout 900)
echo "== fuzz targets, short run (libFuzzer + ASan/UBSan, clang) =="
cmake -S . -B build-fuzz -DTL_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTL_STRICT=ON >/dev/null
cmake --build build-fuzz -j "$jobs" --target tl_fuzz_all
(cd build-fuzz && ctest -R reliability_fuzz_short --output-on-failure --timeout 300)
echo "all tests passed (normal, sanitizer and fuzz builds)"
