#!/bin/sh
# client_audit.sh - the audit rate of `tlog audit` (entries verified per
# second) against tlogd on loopback.
#
#   bench/client_audit.sh BUILD_DIR [ENTRIES] [RUNS]
#
# Makes a tlogd log of ENTRIES (default 10^7) entries of 256 bytes with
# bench_client_fill, serves it with `tlogd serve` over TLS (HTTP/2 via ALPN,
# a throw-away self-signed certificate) and over cleartext HTTP/1.1, and runs
# a full `tlog audit --json` RUNS times (default 3) on each; prints one line
# per run. Also times a resumed audit (state saved at ENTRIES - 100000).
# Needs ~600 bytes of disk per entry under ${TMPDIR:-/tmp}.
set -eu
B=$(cd "$1" && pwd)
N=${2:-10000000}
RUNS=${3:-3}
. "$(dirname "$0")/lib.sh"
bench_init tlog-bench
W=$T

echo "== fill: $N entries of 256 bytes"
"$B/bench_client_fill" "$W/log" "$N"
du -sh "$W/log" | sed 's/^/log size: /'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null

run() { # label url extra-args...
    label=$1; url=$2; shift 2
    i=1
    while [ $i -le "$RUNS" ]; do
        /usr/bin/time -f "%U %S %M" -o "$W/time" "$B/tlog" audit "$url" --key "$W/log/log.vkey" \
            --quiet --json "$@" > "$W/out"
        python3 - "$label" "$W/out" "$W/time" <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))
u, s, m = open(sys.argv[3]).read().split()
print("%-22s entries %d  %.2f s  %.0f entries/s  %.0f MB/s  client CPU %.2f s user + %.2f s sys  RSS %.0f MiB"
      % (sys.argv[1], j["entries_verified"], j["seconds"], j["entries_per_second"],
         j["bytes"] / j["seconds"] / 1e6, float(u), float(s), int(m) / 1024))
EOF
        i=$((i + 1))
    done
}

"$B/tlogd" serve --dir "$W/log" --listen 127.0.0.1:0 --tls-cert "$W/cert.pem" \
    --tls-key "$W/key.pem" 2>"$W/tlogd.log" &
PID=$!
PIDS=$PID
P=$(port_of "$W/tlogd.log")
wait_dedup_filter "https://127.0.0.1:$P"
echo "== tlog audit over HTTPS (HTTP/2, one multiplexed connection per 100 streams)"
run "https h2" "https://127.0.0.1:$P" --ca "$W/cert.pem"
echo "== resumed audit (state at size $N, nothing new)"
"$B/tlog" audit "https://127.0.0.1:$P" --ca "$W/cert.pem" --key "$W/log/log.vkey" --quiet \
    --state "$W/state" >/dev/null
/usr/bin/time -f "resumed audit, nothing new: %e s" "$B/tlog" audit "https://127.0.0.1:$P" \
    --ca "$W/cert.pem" --key "$W/log/log.vkey" --quiet --state "$W/state"
kill $PID; wait $PID 2>/dev/null || true

# Cleartext HTTP/1.1 (tlog uses 4 keep-alive connections, no multiplexing)
# only for logs up to 10^6 entries.
[ "$N" -le 1000000 ] || exit 0
"$B/tlogd" serve --dir "$W/log" --listen 127.0.0.1:0 2>"$W/tlogd2.log" &
PID=$!
PIDS=$PID
P=$(port_of "$W/tlogd2.log")
wait_dedup_filter "http://127.0.0.1:$P"
echo "== tlog audit over cleartext HTTP/1.1 (4 keep-alive connections)"
RUNS=1 run "http/1.1" "http://127.0.0.1:$P"
