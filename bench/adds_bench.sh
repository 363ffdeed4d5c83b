#!/bin/sh
# adds_bench.sh - POST /add at ordinary concurrency, one or more builds
# alternating (the machine's speed drifts, so compare builds in one run).
#
#   bench/adds_bench.sh BUILD [BUILD2 ...]
#
# For each round (TL_BENCH_ROUNDS, default 2) and each build in turn: a fresh
# log, then
#   1. max rate: 8 h2c connections x 100 concurrent streams, each stream
#      posting distinct 256-byte entries back to back with
#      `Accept: application/json`, for TL_BENCH_SECS (default 20) seconds;
#   2. right after, on the same log: 10,000 adds/s (open loop) for the same
#      time.
# The load generator is the first build's bench_frontend_add for every build.
# Prints adds/s, latency percentiles, tlogd's CPU and (open loop) the time of
# the last commit sampled every 0.1 s, for every run.
set -eu
[ $# -ge 1 ] || { echo "usage: adds_bench.sh BUILD [BUILD2 ...]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_init tl-addsbench
SECS=${TL_BENCH_SECS:-20}
R=${TL_BENCH_ROUNDS:-2}
GEN=$(cd "$1" && pwd)/bench_frontend_add
# one_run BUILD LABEL
one_run() {
    B=$1
    rm -rf "$T/log"
    "$B/tlogd" init --dir "$T/log" --origin bench.example/adds >/dev/null
    "$B/tlogd" serve --dir "$T/log" --listen 127.0.0.1:0 2>"$T/tlogd.err" &
    TPID=$!
    PIDS="$PIDS $TPID"
    TPORT=$(port_of "$T/tlogd.err")
    wait_dedup_filter "http://127.0.0.1:$TPORT"
    echo "== $2 ($B) $(date -u +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
    c0=$(cpu_ticks "$TPID")
    "$GEN" --port "$TPORT" --conns 8 --streams 100 --size 256 --json \
        --duration "$SECS" --total 10000000 --prefix "max-$$" | sed 's/^/  max: /'
    c1=$(cpu_ticks "$TPID")
    echo "  max: tlogd CPU $(awk -v a="$c0" -v b="$c1" -v hz="$(getconf CLK_TCK)" -v s="$SECS" \
        'BEGIN { printf "%.2f cores", (b - a) / hz / s }')"
    # the commit path's time (the synced LevelDB write of each batch),
    # sampled every 0.1 s: a write stall or a slow fsync shows here
    (while kill -0 "$TPID" 2>/dev/null; do
        curl -s --http1.1 "http://127.0.0.1:$TPORT/metrics" 2>/dev/null |
            sed -n 's/^tlogd_commit_seconds_last //p'
        sleep 0.1
    done) >"$T/commits" &
    SPID=$!
    "$GEN" --port "$TPORT" --conns 8 --streams 100 --size 256 --json \
        --duration "$SECS" --rate 10000 --total $((10000 * SECS)) --prefix "open-$$" |
        sed 's/^/  10k\/s: /'
    kill "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    sort -g "$T/commits" | awk '{a[NR]=$1} END { if (NR) printf "  10k/s: last commit time, %d samples: p50 %.1f ms  max %.1f ms\n", NR, a[int(NR/2)+1]*1000, a[NR]*1000 }'
    kill -TERM "$TPID"
    wait "$TPID" || true
}
r=1
while [ $r -le "$R" ]; do
    for b in "$@"; do
        one_run "$(cd "$b" && pwd)" "round $r"
    done
    r=$((r + 1))
done
