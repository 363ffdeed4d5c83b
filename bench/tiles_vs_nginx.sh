#!/bin/sh
# tiles_vs_nginx.sh - hash tiles and entry bundles from tlogd beside nginx
# serving the same files, both on one CPU.
#
#   bench/tiles_vs_nginx.sh BUILD [BUILD2 ...]
#
# A log of TL_BENCH_ENTRIES (default 200,000) distinct entries of 64-512
# bytes, published with `tlogd serve --publish file://DIR` (DIR is what nginx
# serves). The URIs are every full level-0 and level-1 hash tile and every
# full entry bundle (1,565 at 200,000 entries), shuffled. Each server is
# pinned to CPU 0 with taskset and h2load to CPU 1:
# `h2load -c 16 -m 32 -n TL_BENCH_N -t 1` (default 100,000), over h2c and TLS;
# nginx-light with 1 worker, sendfile, open_file_cache and access_log off.
# For TL_BENCH_ROUNDS rounds (default 3) per protocol, the builds' tlogd and
# nginx take turns; the last build's tlogd and bench_frontend_add fill the log. Prints req/s, latency percentiles and the server's CPU
# time per request for every run.
set -eu
[ $# -ge 1 ] || { echo "usage: tiles_vs_nginx.sh BUILD [BUILD2 ...]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_init tl-tilebench
E=${TL_BENCH_ENTRIES:-200000}
N=${TL_BENCH_N:-100000}
R=${TL_BENCH_ROUNDS:-3}
for last in "$@"; do :; done
B1=$(cd "$last" && pwd) # fills the log with its tlogd and generator

# the log, published to $T/www
"$B1/tlogd" init --dir "$T/log" --origin bench.example/tiles >/dev/null
"$B1/tlogd" serve --dir "$T/log" --listen 127.0.0.1:0 --batch-max 8192 \
    --publish "file://$T/www" 2>"$T/fill.err" &
FPID=$!
PIDS="$PIDS $FPID"
FPORT=$(port_of "$T/fill.err")
wait_dedup_filter "http://127.0.0.1:$FPORT"
"$B1/bench_frontend_add" --port "$FPORT" --total "$E" --conns 4 --streams 100 --size 64 \
    --size-max 512 >/dev/null
i=0
until [ "$(sed -n 2p "$T/www/checkpoint" 2>/dev/null)" = "$E" ]; do
    i=$((i + 1))
    [ $i -lt 1200 ] || { echo "the published folder did not reach $E" >&2; exit 1; }
    sleep 0.1
done
kill -TERM "$FPID"
wait "$FPID" || true
python3 - "$E" "$T/paths" <<'PY'
import random, sys
size, out = int(sys.argv[1]), sys.argv[2]
def tpath(n):
    s = "%03d" % (n % 1000)
    n //= 1000
    while n:
        s = "x%03d/" % (n % 1000) + s
        n //= 1000
    return s
p = ["/tile/0/" + tpath(n) for n in range(size // 256)]
p += ["/tile/1/" + tpath(n) for n in range(size // 65536)]
p += ["/tile/entries/" + tpath(n) for n in range(size // 256)]
random.seed(17)
random.shuffle(p)
open(out, "w").write("".join(x + "\n" for x in p))
PY
for f in $(sed 's|^/||' "$T/paths"); do
    [ -f "$T/www/$f" ] || { echo "not published: $f" >&2; exit 1; }
done
echo "log of $E entries (64-512 bytes); $(wc -l <"$T/paths") URIs: full level-0 and level-1" \
    "tiles and full bundles, shuffled; $(du -sk "$T/www/tile" | cut -f1) KiB published"
echo "h2load -c 16 -m 32 -n $N -t 1 on CPU 1, each server alone on CPU 0 (taskset)"

nginx_start "$T/www" taskset -c 0

# run LABEL SERVER_PID URL_PREFIX
run() {
    sed "s|^|$3|" "$T/paths" >"$T/urls"
    rm -f "$T/h2.log"
    c0=$(cpu_ticks "$2")
    taskset -c 1 h2load -c 16 -m 32 -n "$N" -t 1 -i "$T/urls" --log-file="$T/h2.log" \
        >"$T/h2.out" 2>&1 || true
    c1=$(cpu_ticks "$2")
    rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$T/h2.out")
    codes=$(sed -n 's/^status codes: //p' "$T/h2.out")
    pct=$(awk '{print $3}' "$T/h2.log" | sort -n | awk '{a[NR]=$1} END {
        if (NR) printf "p50 %.2f ms  p99 %.2f ms", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000 }')
    cpu=$(awk -v a="$c0" -v b="$c1" -v n="$(wc -l <"$T/h2.log")" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (n) printf "server CPU %.1f us/req", (b - a) * 1e6 / hz / n }')
    printf '%s %-44s %10s req/s  %s  %s  (%s)\n' "$(date -u +%H:%M:%S)" "$1" "$rps" "$pct" \
        "$cpu" "$codes"
}

for proto in h2c TLS; do
    r=1
    while [ $r -le "$R" ]; do
        for b in "$@"; do
            b=$(cd "$b" && pwd)
            if [ $proto = TLS ]; then
                tls="--tls-cert $T/c.pem --tls-key $T/k.pem"
                scheme=https
            else
                tls=""
                scheme=http
            fi
            # shellcheck disable=SC2086
            taskset -c 0 "$b/tlogd" serve --dir "$T/log" --listen 127.0.0.1:0 $tls \
                2>"$T/tlogd.err" &
            TPID=$!
            PIDS="$PIDS $TPID"
            TPORT=$(port_of "$T/tlogd.err")
            wait_dedup_filter "$scheme://127.0.0.1:$TPORT"
            run "round $r $proto tlogd $b" "$TPID" "$scheme://127.0.0.1:$TPORT"
            kill -TERM "$TPID"
            wait "$TPID" || true
        done
        if [ $proto = TLS ]; then
            run "round $r $proto nginx (1 worker)" "$NWORKER" "https://127.0.0.1:$((NPORT + 1))"
        else
            run "round $r $proto nginx (1 worker)" "$NWORKER" "http://127.0.0.1:$NPORT"
        fi
        r=$((r + 1))
    done
done
