#!/bin/sh
# frontend_bench.sh - tlogd's HTTP benchmarks; figures go to
# docs/PERFORMANCE.md. Everything runs on this machine (client and server
# share the cores), on loopback.
#
#   bench/frontend_bench.sh BUILD tiles            tile serving: tlogd vs nginx serving the folder
#                                                   tlogd publishes (--publish file://), h2c and TLS
#   bench/frontend_bench.sh BUILD proofs LOGDIR    get-proof-by-hash / get-sth-consistency
#                                                   at 100 streams on an existing log
#                                                   (e.g. one made by bench_log --keep)
#   bench/frontend_bench.sh BUILD adds             POST /add: max rate, and latency at 10k/s
#                                                   (TL_BENCH_N adds, default 300000, from
#                                                   TL_BENCH_CONNS x 100 streams, default 32)
#   bench/frontend_bench.sh BUILD idle             RssAnon with 10,000 idle h2c connections held
#                                                   15 s at the default --max-conns, beside a busy
#                                                   client and fresh connections
#   bench/frontend_bench.sh BUILD trickle          50 connections trickling a HEADERS frame a
#                                                   byte a second: when each is closed
#   bench/frontend_bench.sh BUILD busy             RSS with 10,000 connections x 4 tile
#                                                   requests in flight, 5 runs
set -eu
BUILD=$(cd "${1:?usage: frontend_bench.sh BUILD tiles|proofs LOGDIR|adds|idle|trickle|busy}" && pwd)
what=${2:?}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_init tl-febench

# start_tlogd DIR EXTRA... : starts tlogd on a free port; sets TPID, TPORT.
# Returns once the log's dedup filter is built.
start_tlogd() {
    d=$1
    shift
    case " $* " in *" --tls-cert "*) TSCHEME=https ;; *) TSCHEME=http ;; esac
    "$BUILD/tlogd" serve --dir "$d" --listen 127.0.0.1:0 "$@" 2>"$T/tlogd.err" &
    TPID=$!
    PIDS="$PIDS $TPID"
    TPORT=$(port_of "$T/tlogd.err")
    wait_dedup_filter "$TSCHEME://127.0.0.1:$TPORT"
}

stop_tlogd() {
    kill -TERM "$TPID"
    wait "$TPID" || true
    TPID=""
}

# h2load_summary: the req/s line and the latency line of h2load's output, and
# p50/p99 from its per-request log (microseconds in column 3).
# With a server process named (CPID, else a running tlogd's TPID), also its CPU
# time (user+sys) per request.
h2load_run() {
    label=$1
    shift
    rm -f "$T/h2.log"
    cp=${CPID:-${TPID:-}}
    c0=$(cpu_ticks "${cp:-self}")
    h2load "$@" --log-file="$T/h2.log" >"$T/h2.out" 2>&1 || true
    c1=$(cpu_ticks "${cp:-self}")
    rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$T/h2.out")
    codes=$(sed -n 's/^status codes: //p' "$T/h2.out")
    pct=$(awk '{print $3}' "$T/h2.log" | sort -n | awk '{a[NR]=$1} END {
        if (NR) printf "p50 %.2f ms  p99 %.2f ms  max %.2f ms", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000, a[NR]/1000 }')
    cpu=""
    if [ -n "$cp" ]; then
        cpu=$(awk -v a="$c0" -v b="$c1" -v n="$(wc -l <"$T/h2.log")" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { if (n) printf "  server CPU %.1f us/req", (b - a) * 1e6 / hz / n }')
    fi
    printf '%-34s %10s req/s  %s%s  (%s)\n' "$label" "$rps" "$pct" "$cpu" "$codes"
}

case $what in
tiles)
    # A log with 65,536 entries: 256 full level-0 tiles, 256 full bundles.
    # nginx serves the folder tlogd publishes to (tlogd serve --publish).
    "$BUILD/tlogd" init --dir "$T/log" --origin bench.example/tiles >/dev/null
    start_tlogd "$T/log" --batch-max 8192 --publish "file://$T/www"
    "$BUILD/bench_frontend_add" --port "$TPORT" --total 65536 --conns 4 --streams 100 >/dev/null
    i=0
    until [ "$(sed -n 2p "$T/www/checkpoint" 2>/dev/null)" = 65536 ]; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "the published folder did not reach 65536" >&2; exit 1; }
        sleep 0.1
    done
    : >"$T/urls"
    n=0
    while [ $n -lt 256 ]; do
        printf '/tile/0/%03d\n' $n >>"$T/urls"
        n=$((n + 1))
    done
    stop_tlogd
    nginx_start "$T/www"
    sed "s|^|http://127.0.0.1:$NPORT|" "$T/urls" >"$T/urls.nginx.h2c"
    sed "s|^|https://127.0.0.1:$((NPORT + 1))|" "$T/urls" >"$T/urls.nginx.tls"
    N=${TL_BENCH_N:-200000}
    R=${TL_BENCH_ROUNDS:-3}
    echo "tile serving: $N requests of full 8 KiB level-0 tiles (256 distinct), h2load -c 10 -m 10"
    echo "$R rounds per protocol, nginx and tlogd alternating (the machine's speed drifts)"
    for proto in h2c TLS; do
        if [ $proto = TLS ]; then
            start_tlogd "$T/log" --tls-cert "$T/c.pem" --tls-key "$T/k.pem"
            sed "s|^|https://127.0.0.1:$TPORT|" "$T/urls" >"$T/urls.tlogd"
            ng=urls.nginx.tls
        else
            start_tlogd "$T/log"
            sed "s|^|http://127.0.0.1:$TPORT|" "$T/urls" >"$T/urls.tlogd"
            ng=urls.nginx.h2c
        fi
        r=1
        while [ $r -le "$R" ]; do
            CPID=$NWORKER
            h2load_run "nginx 1.22 (1 worker) $proto" -n "$N" -c 10 -m 10 -i "$T/$ng"
            CPID=""
            h2load_run "tlogd (1 loop thread) $proto" -n "$N" -c 10 -m 10 -i "$T/urls.tlogd"
            r=$((r + 1))
        done
        stop_tlogd
    done
    ;;
proofs)
    LOG=${3:?proofs needs LOGDIR}
    start_tlogd "$LOG"
    size=$(curl -s --http2-prior-knowledge "http://127.0.0.1:$TPORT/checkpoint" | sed -n 2p)
    echo "log size $size"
    # 2,000 distinct random leaves (hashes read from level-0 tiles), and
    # 2,000 random consistency ranges up to the current size.
    python3 - "$TPORT" "$size" "$T" <<'EOF'
import base64, random, subprocess, sys, urllib.parse
port, size, t = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(1)
full = size // 256
def tpath(n):
    s = "%03d" % (n % 1000)
    n //= 1000
    while n:
        s = "x%03d/" % (n % 1000) + s
        n //= 1000
    return s
with open(t + "/urls.proof", "w") as f:
    for _ in range(200):
        n = random.randrange(full)
        b = subprocess.run(["curl", "-s", "--http2-prior-knowledge",
                            "http://127.0.0.1:%d/tile/0/%s" % (port, tpath(n))], capture_output=True).stdout
        assert len(b) == 8192, len(b)
        for _ in range(10):
            i = random.randrange(256)
            h = urllib.parse.quote(base64.b64encode(b[32 * i:32 * i + 32]).decode(), safe="")
            f.write("http://127.0.0.1:%d/ct/v1/get-proof-by-hash?hash=%s&tree_size=%d\n" % (port, h, size))
with open(t + "/urls.cons", "w") as f:
    for _ in range(2000):
        m = random.randrange(1, size)
        f.write("http://127.0.0.1:%d/ct/v1/get-sth-consistency?first=%d&second=%d\n" % (port, m, size))
EOF
    N=${TL_BENCH_N:-100000}
    echo "proofs on a $size-entry log: $N requests, 1 connection x 100 concurrent streams (h2c)"
    h2load_run "get-proof-by-hash (cold cache)" -n 2000 -c 1 -m 100 -i "$T/urls.proof"
    h2load_run "get-proof-by-hash" -n "$N" -c 1 -m 100 -i "$T/urls.proof"
    h2load_run "get-sth-consistency (cold cache)" -n 2000 -c 1 -m 100 -i "$T/urls.cons"
    h2load_run "get-sth-consistency" -n "$N" -c 1 -m 100 -i "$T/urls.cons"
    stop_tlogd
    ;;
adds)
    "$BUILD/tlogd" init --dir "$T/log" --origin bench.example/adds >/dev/null
    start_tlogd "$T/log"
    # Throughput is concurrency / latency (a batch every 25 ms + its commit),
    # so the maximum needs thousands of adds in flight: 32 connections x 100
    # by default (TL_BENCH_CONNS).
    echo "POST /add over h2c, distinct 64-byte entries"
    c0=$(cpu_ticks "$TPID")
    "$BUILD/bench_frontend_add" --port "$TPORT" --total "${TL_BENCH_N:-300000}" \
        --conns "${TL_BENCH_CONNS:-32}" --streams 100
    c1=$(cpu_ticks "$TPID")
    awk -v a="$c0" -v b="$c1" -v n="${TL_BENCH_N:-300000}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "tlogd CPU (all threads) %.1f us/add\n", (b - a) * 1e6 / hz / n }'
    "$BUILD/bench_frontend_add" --port "$TPORT" --total 100000 --conns 8 --streams 100 --rate 10000
    stop_tlogd
    ;;
idle)
    # 10,000 idle h2c connections (preface + SETTINGS, then nothing) held 15 s
    # at the default --max-conns (10,000), beside a client making a request
    # every 5 ms on one connection and a fresh connection making one request
    # every second (bench/frontend_idle.py). Reports tlogd's RssAnon and how
    # many fresh connections were served.
    "$BUILD/tlogd" init --dir "$T/log" --origin bench.example/idle >/dev/null
    start_tlogd "$T/log"
    python3 "$HERE/frontend_idle.py" "$TPID" "$TPORT" "${TL_BENCH_N:-10000}" --hold 15
    echo "tlogd CPU: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f s", ($14 + $15) / hz}' "/proc/$TPID/stat")"
    stop_tlogd
    ;;
trickle)
    # 50 h2c connections trickling a HEADERS frame one byte a second: when
    # does tlogd close each (its --header-timeout, default 10 s)?
    "$BUILD/tlogd" init --dir "$T/log" --origin bench.example/trickle >/dev/null
    start_tlogd "$T/log"
    python3 "$HERE/frontend_idle.py" "$TPID" "$TPORT" --trickle "${TL_BENCH_N:-50}" --hold 40
    stop_tlogd
    ;;
busy)
    # 10,000 connections at once, each with 4 tile requests in flight
    # (h2load -c 10000 -m 4), 5 bursts against one tlogd, 12 s apart: its
    # peak RSS shows the memory busy connections hold, and its RSS 12 s after
    # each burst that the memory goes back (tl_httpd trims after bursts)
    # and repeated bursts level off.
    "$BUILD/tlogd" init --dir "$T/log" --origin bench.example/busy >/dev/null
    start_tlogd "$T/log" --batch-max 8192
    "$BUILD/bench_frontend_add" --port "$TPORT" --total 65536 --conns 4 --streams 100 >/dev/null
    n=0
    : >"$T/urls"
    while [ $n -lt 256 ]; do
        printf 'http://127.0.0.1:%s/tile/0/%03d\n' "$TPORT" $n >>"$T/urls"
        n=$((n + 1))
    done
    C=${TL_BENCH_CONNS:-10000}
    echo "tlogd RSS before: $(awk '/VmRSS/ {print $2 / 1024 " MiB"}' "/proc/$TPID/status")"
    r=1
    while [ $r -le 5 ]; do
        h2load -n 100000 -c "$C" -m 4 -i "$T/urls" >"$T/h2.out" 2>&1 || true
        sleep 12
        printf 'burst %d: %s; %s; tlogd peak %s, 12 s later %s\n' $r \
            "$(sed -n 's/^finished in \([^,]*\), \([0-9.]*\) req\/s.*/\1, \2 req\/s/p' "$T/h2.out")" \
            "$(sed -n 's/^status codes: //p' "$T/h2.out")" \
            "$(awk '/VmHWM/ {printf "%.0f MiB", $2 / 1024}' "/proc/$TPID/status")" \
            "$(awk '/VmRSS/ {printf "%.0f MiB", $2 / 1024}' "/proc/$TPID/status")"
        r=$((r + 1))
    done
    stop_tlogd
    ;;
*)
    echo "frontend_bench.sh: unknown benchmark $what" >&2
    exit 2
    ;;
esac
