#!/bin/sh
# client_audit_log.sh - the audit rate of `tlog audit` on an audit log
# (events verified per second), with a reader token (every event body
# fetched from /audit/v1/bodies/, canonicalized again and its commitment
# recomputed) and without one (the public part: tiles, records, log times).
#
#   bench/client_audit_log.sh BUILD_DIR [EVENTS] [RUNS]
#
# Makes an audit log of EVENTS (default 10^6) events of about 300 canonical
# bytes with `bench_client_fill DIR N ORIGIN audit`, adds a reader token,
# serves it with `tlogd serve` over TLS (HTTP/2 via ALPN, a throw-away
# self-signed certificate), and runs a full `tlog audit --json` RUNS times
# (default 2) each way; prints one line per run, with the CPU time of the
# client and of tlogd. Then the client's own per-event cost, without the
# network and the server (bench_audit_check). Needs ~650 bytes of disk per
# event under ${TMPDIR:-/tmp}.
set -eu
B=$(cd "$1" && pwd)
N=${2:-1000000}
RUNS=${3:-2}
. "$(dirname "$0")/lib.sh"
bench_init tlog-audit-bench
W=$T

echo "== fill: $N audit events"
"$B/bench_client_fill" "$W/log" "$N" bench.example/audit audit
du -sh "$W/log" | sed 's/^/log size: /'
(umask 077; "$B/tlogd" token add --dir "$W/log" --name auditor --role reader > "$W/reader.token")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null

server_cpu() { # seconds of CPU tlogd ($PID) has used
    awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$PID/stat"
}

run() { # label extra-args...
    label=$1; shift
    i=1
    while [ $i -le "$RUNS" ]; do
        s0=$(server_cpu)
        /usr/bin/time -f "%U %S %M" -o "$W/time" "$B/tlog" audit "https://127.0.0.1:$P" \
            --ca "$W/cert.pem" --key "$W/log/log.vkey" --quiet --json "$@" > "$W/out"
        s1=$(server_cpu)
        python3 - "$label" "$W/out" "$W/time" "$s0" "$s1" <<'PY'
import json, sys
j = json.load(open(sys.argv[2]))
u, s, m = open(sys.argv[3]).read().split()
a = j.get("audit", {})
print("%-16s entries %d  bodies checked %d  %.2f s  %.0f events/s  client CPU %.2f s user + "
      "%.2f s sys  RSS %.0f MiB  tlogd CPU %.2f s"
      % (sys.argv[1], j["entries_verified"], a.get("events_checked", 0), j["seconds"],
         j["entries_per_second"], float(u), float(s), int(m) / 1024,
         float(sys.argv[5]) - float(sys.argv[4])))
PY
        i=$((i + 1))
    done
}

"$B/tlogd" serve --dir "$W/log" --listen 127.0.0.1:0 --tls-cert "$W/cert.pem" \
    --tls-key "$W/key.pem" 2>"$W/tlogd.log" &
PID=$!
PIDS=$PID
P=$(port_of "$W/tlogd.log")
wait_dedup_filter "https://127.0.0.1:$P"
echo "== tlog audit over HTTPS (HTTP/2), public part only (no token)"
run "public part"
echo "== tlog audit over HTTPS (HTTP/2), with a reader token (every event body)"
run "reader token" --token-file "$W/reader.token"
kill $PID; wait $PID 2>/dev/null || true
PIDS=""
echo "== the client's checks alone, one thread (no network, no server)"
"$B/bench_audit_check" 2000
