#!/bin/sh
# goaudit.sh - `tlog audit` beside a Go auditor (bench/goaudit/goaudit.go,
# golang.org/x/mod/sumdb/note and sumdb/tlog) on the same log.
#
#   bench/goaudit.sh BUILD_DIR [ENTRIES] [ROUNDS]
#
# Builds the Go auditor (Debian's golang-go, golang-golang-x-mod-dev and
# golang-golang-x-net-dev, GOPATH mode, offline), makes a log of ENTRIES
# (default 10^6) distinct entries of 64 to 512 bytes with bench_client_fill,
# serves it with `tlogd serve` on loopback and, ROUNDS times (default 3),
# alternates a full `tlog audit --h2c --json` (fresh --state file) with the
# Go auditor (h2c, x/net/http2, 64 requests in flight on one connection);
# then the same over TLS (HTTP/2 via ALPN, a throw-away self-signed
# certificate). One line per run: wall seconds, entries/s, the client's CPU
# time and RSS, and the CPU time tlogd spent serving the run.
# Needs ~400 bytes of disk per entry under ${TMPDIR:-/tmp}.
set -eu
B=$(cd "$1" && pwd)
N=${2:-1000000}
ROUNDS=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
bench_init tlog-goaudit
W=$T
HZ=$(getconf CLK_TCK)

echo "== build the Go auditor"
mkdir -p "$B/gocache"
(cd "$W" && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS="" GOCACHE="$B/gocache" \
    CGO_ENABLED=0 go build -o "$W/goaudit" "$HERE/goaudit/goaudit.go")
go version

echo "== fill: $N distinct entries of 64-512 bytes"
"$B/bench_client_fill" "$W/log" "$N" bench.example/client blob 64-512
du -sh "$W/log" | sed 's/^/log size: /'
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/key.pem" \
    -out "$W/cert.pem" -days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 2>/dev/null

ticks() { # CPU ticks (user + system) of process $1 so far
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

one() { # label command...: runs an audit, prints one line
    label=$1
    shift
    t0=$(ticks "$PID")
    w0=$(date +%s.%N)
    /usr/bin/time -f "%U %S %M" -o "$W/time" "$@" >"$W/out" 2>"$W/err" ||
        { echo "$label failed: $(cat "$W/err")" >&2; exit 1; }
    w1=$(date +%s.%N)
    t1=$(ticks "$PID")
    python3 - "$label" "$W/out" "$W/time" "$t0" "$t1" "$HZ" "$w0" "$w1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[2]))
u, s, m = open(sys.argv[3]).read().split()
e = float(sys.argv[8]) - float(sys.argv[7])
srv = (int(sys.argv[5]) - int(sys.argv[4])) / int(sys.argv[6])
print("%-12s entries %d  %6.3f s (own %6.3f s)  %8.0f entries/s  %4d requests  "
      "client CPU %.2f+%.2f s  RSS %3.0f MiB  tlogd CPU %.2f s"
      % (sys.argv[1], j["entries_verified"], float(e), j["seconds"],
         j["entries_verified"] / float(e), j["requests"], float(u), float(s),
         int(m) / 1024, srv))
EOF
    if [ -s "$W/err" ]; then sed 's/^/    stderr: /' "$W/err"; fi
}

rounds() { # proto url tlog-args... -- goaudit-args...
    proto=$1
    url=$2
    shift 2
    targs=""
    while [ "$1" != -- ]; do
        targs="$targs $1"
        shift
    done
    shift
    i=1
    while [ $i -le "$ROUNDS" ]; do
        rm -f "$W/state"
        # shellcheck disable=SC2086 # targs: words on purpose
        one "tlog $proto" "$B/tlog" audit "$url" --key "$W/log/log.vkey" --state "$W/state" \
            -q --json $targs
        one "go $proto" "$W/goaudit" -json "$@" "$url" "$W/log/log.vkey"
        i=$((i + 1))
    done
}

"$B/tlogd" serve --dir "$W/log" --listen 127.0.0.1:0 2>"$W/tlogd.log" &
PID=$!
PIDS=$PID
P=$(port_of "$W/tlogd.log")
wait_dedup_filter "http://127.0.0.1:$P"
echo "== h2c (cleartext HTTP/2, prior knowledge), alternating, $ROUNDS rounds"
rounds h2c "http://127.0.0.1:$P" --h2c --
kill $PID
wait $PID 2>/dev/null || true

"$B/tlogd" serve --dir "$W/log" --listen 127.0.0.1:0 --tls-cert "$W/cert.pem" \
    --tls-key "$W/key.pem" 2>"$W/tlogd2.log" &
PID=$!
PIDS=$PID
P=$(port_of "$W/tlogd2.log")
wait_dedup_filter "https://127.0.0.1:$P"
echo "== TLS (HTTP/2 via ALPN), alternating, $ROUNDS rounds"
rounds tls "https://127.0.0.1:$P" --ca "$W/cert.pem" -- -ca "$W/cert.pem"
