#!/bin/sh
# publish_bench.sh - publication to tile stores (tlogd serve --publish);
# figures go to docs/PERFORMANCE.md ("Publication to tile stores").
# Everything runs on this machine, on loopback (the log, its load, the
# store's server share the cores).
#
#   bench/publish_bench.sh BUILD load dir|s3     POST /add at full speed (as frontend_bench.sh
#                                                adds: TL_BENCH_N adds, default 300000, from
#                                                TL_BENCH_CONNS x 100 streams, default 32)
#                                                while publishing: adds/s, the publisher's
#                                                objects/s and MB/s, its lag behind the
#                                                published tree (sampled every 0.2 s) and
#                                                the time to drain after the load
#   bench/publish_bench.sh BUILD catchup dir|s3  a log of TL_BENCH_N entries published to an
#                                                empty store at start: objects/s and MB/s with
#                                                nothing else running
#
# s3 is s3rver (tests/publish/s3rver_install.sh puts it in the test cache),
# which enforces no conditions: each object costs a GET and a PUT.
set -eu
BUILD=$(cd "${1:?usage: publish_bench.sh BUILD load|catchup dir|s3}" && pwd)
what=${2:?}
dest=${3:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_init tl-pubbench
N=${TL_BENCH_N:-300000}

case $dest in
dir)
    URL="file://$T/www"
    EXTRA=""
    ;;
s3)
    S3DIR=${TL_S3RVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tlogd-test/s3rver}
    sh "$HERE/../tests/publish/s3rver_install.sh" "$S3DIR"
    sp=$((30000 + $$ % 20000))
    mkdir -p "$T/s3"
    "$S3DIR/node_modules/.bin/s3rver" -d "$T/s3" -a 127.0.0.1 -p "$sp" \
        --configure-bucket bench --silent >"$T/s3rver.log" 2>&1 &
    SPID=$!
    PIDS="$PIDS $SPID"
    i=0
    until curl -s -o /dev/null "http://127.0.0.1:$sp/"; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "s3rver did not start: $(cat "$T/s3rver.log")" >&2; exit 1; }
        sleep 0.1
    done
    URL="s3://bench/log"
    EXTRA="--s3-endpoint http://127.0.0.1:$sp"
    export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
    ;;
*)
    echo "publish_bench.sh: the store is dir or s3, not $dest" >&2
    exit 2
    ;;
esac

start_tlogd() {
    # shellcheck disable=SC2086
    "$BUILD/tlogd" serve --dir "$T/log" --listen 127.0.0.1:0 "$@" 2>"$T/tlogd.err" &
    TPID=$!
    PIDS="$PIDS $TPID"
    TPORT=$(port_of "$T/tlogd.err")
    wait_dedup_filter "http://127.0.0.1:$TPORT"
}

stop_tlogd() {
    kill -TERM "$TPID"
    wait "$TPID" || true
}

# sample: one line "seconds published queue objects bytes" from /metrics
sample() {
    curl -s --http1.1 "http://127.0.0.1:$TPORT/metrics" | awk -v t="$(date +%s.%N)" '
        /^tlogd_tree_size_published / { p = $2 }
        /^tlogd_publish_queue_entries / { q = $2 }
        /^tlogd_publish_objects_total/ { o += $2 }
        /^tlogd_publish_bytes_total/ { b += $2 }
        END { printf "%.3f %d %d %d %d\n", t, p, q, o, b }'
}

# drain [T0]: waits until the queue is empty; prints the seconds since T0
# (default: now)
drain() {
    t0=${1:-$(date +%s.%N)}
    while :; do
        q=$(sample | awk '{print $3}')
        [ "$q" = 0 ] && break
        sleep 0.1
    done
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}

"$BUILD/tlogd" init --dir "$T/log" --origin "bench.example/publish-$dest" >/dev/null
case $what in
load)
    # shellcheck disable=SC2086
    start_tlogd --publish "$URL" $EXTRA
    : >"$T/samples"
    (while :; do sample >>"$T/samples"; sleep 0.2; done) &
    LPID=$!
    PIDS="$PIDS $LPID"
    echo "POST /add over h2c, distinct 64-byte entries, publishing to $dest"
    # non-200 answers (503 once the queue passes its limit) are counted, not fatal
    "$BUILD/bench_frontend_add" --port "$TPORT" --total "$N" --conns "${TL_BENCH_CONNS:-32}" \
        --streams 100 || true
    kill "$LPID"
    wait "$LPID" 2>/dev/null || true
    d=$(drain)
    s=$(sample)
    awk -v drain="$d" -v last="$s" '
        NR == 1 { t0 = $1; o0 = $4; b0 = $5 }
        { n++; q += $3; if ($3 > qmax) qmax = $3; t1 = $1; o1 = $4; b1 = $5 }
        END {
            split(last, l, " ")
            printf "publisher during the load: %.0f objects/s, %.2f MB/s; lag mean %.0f, max %d entries (%d samples)\n",
                (o1 - o0) / (t1 - t0), (b1 - b0) / (t1 - t0) / 1e6, q / n, qmax, n
            printf "after the load: drained in %s s; %d objects, %.1f MB in all\n", drain, l[4], l[5] / 1e6
        }' "$T/samples"
    stop_tlogd
    ;;
catchup)
    start_tlogd --batch-max 8192
    "$BUILD/bench_frontend_add" --port "$TPORT" --total "$N" --conns 8 --streams 100 >/dev/null
    stop_tlogd
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    start_tlogd --publish "$URL" $EXTRA
    d=$(drain "$t0")
    s=$(sample)
    echo "$s" | awk -v d="$d" -v n="$N" '{
        printf "catch-up of %d entries: %d objects, %.1f MB in %s s (from tlogd start): %.0f objects/s, %.2f MB/s\n",
            n, $4, $5 / 1e6, d, $4 / d, $5 / d / 1e6 }'
    stop_tlogd
    ;;
*)
    echo "publish_bench.sh: unknown benchmark $what" >&2
    exit 2
    ;;
esac
