#!/bin/sh
# audit_bench.sh - the server side of an audit log: ingest, single-event
# latency, queries with inclusion proofs, disk per event and start-up time.
#
#   bench/audit_bench.sh BUILD_DIR [BATCHES [QUERY_EVENTS [RUNS]]]
#
# 1. ingest: a fresh audit log (`tlogd init --kind audit`, a writer token,
#    `tlogd serve` with its defaults, cleartext HTTP/2 by prior knowledge);
#    h2load posts BATCHES (default 2000) NDJSON batches of 1000 events
#    (about 400 canonical bytes each: actors drawn from 10^5, resources from
#    10^6; four prepared bodies, two h2load processes of 2 connections x 2
#    streams). Events have no `id`, so a body posted again is new events.
#    Events/s over the wall time, and each batch's latency until its answer
#    (the commit point).
# 2. single events: one event a request, 5,000/s open loop for 10 s
#    (bench_frontend_add --audit-event: 20 connections, up to 100 posts in
#    flight on each, paced by a token bucket, so a slow answer does not slow
#    the posts behind it as h2load --rps does); p50/p99 until the receipt.
#    GEN names the generator binary (default BUILD_DIR/bench_frontend_add),
#    so that an older build is driven by the same one.
# 3. queries: a second log of QUERY_EVENTS (default 10^6) events of the same
#    distribution made with `bench_client_fill DIR N ORIGIN audit400`, a
#    reader token; h2load -i over 20,000 random URIs of each kind
#    (8 connections x 4 streams): "newest 100 of one actor", "one resource
#    since a time", "one action and outcome in an hour" (limit=10); q/s, p99.
#    Every answer carries inclusion proofs, and every query is also an
#    `audit.query` event the log records.
# 4. disk per event (du of each folder / its events) and start-up time of
#    the largest log (exec to the first 200 from /healthz).
# Each measurement runs RUNS times (default 2). Needs h2load, python3.
# With PERF_DIR set, `perf record -g` samples tlogd during the first run of
# each measurement into PERF_DIR/<name>.data (perf report -i ...).
set -eu
B=$(cd "$1" && pwd)
GEN=${GEN:-$B/bench_frontend_add}
BATCHES=${2:-2000}
QN=${3:-1000000}
RUNS=${4:-2}
. "$(dirname "$0")/lib.sh"
bench_init tlog-audit-srv-bench
W=$T

pct() { # h2load log file(s): the answers' p50, p90, p99, max (ms) and statuses
    python3 - "$@" <<'PY'
import sys, collections
d = []
st = collections.Counter()
for f in sys.argv[1:]:
    for line in open(f):
        t = line.split()
        if len(t) >= 3:
            st[t[1]] += 1
            d.append(int(t[2]) / 1000.0)
d.sort()
q = lambda p: d[min(len(d) - 1, int(p * len(d)))] if d else 0
print("answers %d  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  statuses %s"
      % (len(d), q(.5), q(.9), q(.99), d[-1] if d else 0, dict(st)))
PY
}

serve() { # DIR LOGFILE [args...]: starts tlogd serve, sets PID and P
    d=$1; l=$2; shift 2
    "$B/tlogd" serve --dir "$d" --listen 127.0.0.1:0 "$@" 2>"$l" &
    PID=$!
    PIDS=$PID
    P=$(port_of "$l")
}

stop() {
    kill "$PID"; wait "$PID" 2>/dev/null || true
    PIDS=""
}

PERFPID=""
perf_start() { # NAME RUN: samples tlogd ($PID) during the first run, with PERF_DIR set
    [ -n "${PERF_DIR:-}" ] && [ "$2" = 1 ] || return 0
    mkdir -p "$PERF_DIR"
    perf record -F 499 -g -p "$PID" -o "$PERF_DIR/$1.data" >/dev/null 2>&1 &
    PERFPID=$!
    sleep 0.3
}

perf_stop() {
    [ -n "$PERFPID" ] || return 0
    kill -INT "$PERFPID" 2>/dev/null || true
    wait "$PERFPID" 2>/dev/null || true
    PERFPID=""
}

size_of() { # published tree size of the tlogd on $P
    curl -s "http://127.0.0.1:$P/metrics" | sed -n 's/^tlogd_tree_size_published \([0-9]*\).*/\1/p'
}

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"

# --- 1. ingest -------------------------------------------------------------
"$B/tlogd" init --dir "$W/ing" --origin bench.example/audit-ingest --kind audit >/dev/null 2>&1
(umask 077; "$B/tlogd" token add --dir "$W/ing" --name shop --role writer > "$W/writer.token")
python3 - "$W" <<'PY'
import json, random, sys
w = sys.argv[1]
acts = ["order.create", "order.cancel", "order.read", "order.update", "user.login",
        "user.logout", "user.update", "invoice.create", "invoice.read", "invoice.void",
        "payment.create", "payment.refund", "cart.update", "address.update",
        "session.renew", "export.create"]
def ev(rnd, i):
    o = rnd.randrange(100)
    return {"actor": {"id": "user-%06d" % rnd.randrange(100000), "type": "user",
                      "ip": "10.%d.%d.%d" % (rnd.randrange(256), rnd.randrange(256),
                                             rnd.randrange(256)),
                      "user_agent": "Mozilla/5.0 (X11; Linux x86_64) shop-app/4.2"},
            "action": rnd.choice(acts),
            "resource": {"type": "order", "id": "ord-%07d" % rnd.randrange(1000000)},
            "outcome": "success" if o < 90 else "failure" if o < 95 else
                       "denied" if o < 99 else "unknown",
            "time": "2026-12-03T12:00:00.000Z", "source": "shop-api",
            "request_id": "req-%016x" % rnd.getrandbits(64),
            "details": {"reason": "customer request", "items": i % 7 + 1,
                        "total": "%d.%02d" % (i % 500, i % 100), "channel": "web",
                        "region": "eu-west-1"}}
rnd = random.Random(1)
for b in range(4):
    with open("%s/batch%d.ndjson" % (w, b), "w") as f:
        for i in range(1000):
            f.write(json.dumps(ev(rnd, i), separators=(",", ":")) + "\n")
with open("%s/one.json" % w, "w") as f:
    f.write(json.dumps(ev(rnd, 1), separators=(",", ":")))
e = ev(rnd, 1)
e["submitter"] = "shop"
print("event: %d bytes canonical (about; with submitter)"
      % len(json.dumps(e, separators=(",", ":"), sort_keys=True)))
PY
serve "$W/ing" "$W/ing.log"
AUTHW="authorization: Bearer $(cat "$W/writer.token")"
wait_dedup_filter "http://127.0.0.1:$P"
echo "== 1. ingest: $BATCHES batches of 1000 events a run"
i=1
while [ "$i" -le "$RUNS" ]; do
    s0=$(size_of)
    perf_start ingest "$i"
    t0=$(date +%s.%N)
    HP=""
    rm -f "$W/ing0.tsv" "$W/ing1.tsv"
    for b in 0 1; do
        h2load -n $((BATCHES / 2)) -c 2 -m 2 -t 1 -d "$W/batch$((b + 2 * (i % 2))).ndjson" \
            -H "$AUTHW" -H 'content-type: application/x-ndjson' \
            --log-file="$W/ing$b.tsv" "http://127.0.0.1:$P/audit/v1/events" > "$W/h2-ing$b.out" &
        HP="$HP $!"
    done
    for h in $HP; do wait "$h"; done
    t1=$(date +%s.%N)
    perf_stop
    sleep 1
    s1=$(size_of)
    awk -v a="$t0" -v b="$t1" -v n="$BATCHES" -v s0="$s0" -v s1="$s1" 'BEGIN {
        printf "ingest run: %d events in %.2f s = %.0f events/s (published %d -> %d)\n",
            n * 1000, b - a, n * 1000 / (b - a), s0, s1 }'
    pct "$W/ing0.tsv" "$W/ing1.tsv"
    i=$((i + 1))
done

# --- 2. single events at 5,000/s -------------------------------------------
echo "== 2. single events, 5,000/s open loop, 10 s"
i=1
while [ "$i" -le "$RUNS" ]; do
    perf_start single "$i"
    "$GEN" --port "$P" --conns 20 --streams 100 --rate 5000 --duration 10 --total 100000 \
        --audit-event "$W/one.json" --token-file "$W/writer.token" || true
    perf_stop
    i=$((i + 1))
done
NI=$(size_of)
stop
DUI=$(du -sb "$W/ing" | cut -f1)
echo "ingest log: $NI events, $DUI bytes = $((DUI / (NI + 1))) bytes an event"

# --- 3. queries at QN events -----------------------------------------------
echo "== 3. queries: filling $QN events (bench_client_fill audit400)"
SINCE=$(($(date +%s) * 1000))
"$B/bench_client_fill" "$W/q" "$QN" bench.example/audit-query audit400
(umask 077; "$B/tlogd" token add --dir "$W/q" --name auditor --role reader > "$W/reader.token")
AUTHR="authorization: Bearer $(cat "$W/reader.token")"
serve "$W/q" "$W/q.log"
wait_dedup_filter "http://127.0.0.1:$P"
python3 - "$W" "$SINCE" "http://127.0.0.1:$P" <<'PY'
import random, sys
w, since, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
acts = ["order.create", "order.cancel", "order.read", "order.update", "user.login",
        "user.logout", "user.update", "invoice.create", "invoice.read", "invoice.void",
        "payment.create", "payment.refund", "cart.update", "address.update",
        "session.renew", "export.create"]
rnd = random.Random(2)
with open(w + "/u-actor", "w") as f:
    for _ in range(20000):
        f.write(base + "/audit/v1/events?actor=user-%06d&limit=100\n" % rnd.randrange(100000))
with open(w + "/u-resource", "w") as f:
    for _ in range(20000):
        f.write(base + "/audit/v1/events?resource_type=order&resource_id=ord-%07d&since=%d\n"
                % (rnd.randrange(1000000), since))
with open(w + "/u-action", "w") as f:
    for _ in range(20000):
        f.write(base + "/audit/v1/events?action=%s&outcome=%s&since=%d&until=%d&limit=10\n"
                % (rnd.choice(acts), rnd.choice(["failure", "denied", "unknown"]),
                   since - 1800000, since + 1800000))
PY
for k in actor resource action; do
    head -1 "$W/u-$k" | sed 's/^/example: /'
    curl -s -H "$AUTHR" "$(sed -n 2p "$W/u-$k")" |
        python3 -c 'import json,sys; d=sys.stdin.buffer.read(); j=json.loads(d); print("  sample answer: %d results, %d bytes" % (len(j.get("events", j.get("results", []))), len(d)))' || true
    i=1
    while [ "$i" -le "$RUNS" ]; do
        rm -f "$W/q.tsv"
        perf_start "query-$k" "$i"
        h2load -n 20000 -c 8 -m 4 -t 1 -i "$W/u-$k" -H "$AUTHR" \
            --log-file="$W/q.tsv" > "$W/h2-q.out"
        perf_stop
        echo "query $k run $i: $(grep -E '^finished in' "$W/h2-q.out")"
        pct "$W/q.tsv"
        i=$((i + 1))
    done
done
NQ=$(size_of)
stop
DUQ=$(du -sb "$W/q" | cut -f1)
echo "query log: $NQ events (fill + recorded queries), $DUQ bytes = $((DUQ / NQ)) bytes an event"

# --- 4. start-up time of the largest log -----------------------------------
BIG="$W/q"
[ "$NI" -gt "$NQ" ] && BIG="$W/ing"
echo "== 4. start-up of $BIG (exec to /healthz 200)"
i=1
while [ "$i" -le "$RUNS" ]; do
    t0=$(date +%s%N)
    "$B/tlogd" serve --dir "$BIG" --listen 127.0.0.1:0 2>"$W/s.log" &
    PID=$!
    PIDS=$PID
    until P=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$W/s.log" | tail -n 1) && [ -n "$P" ] &&
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/healthz")" = 200 ]; do
        sleep 0.005
    done
    t1=$(date +%s%N)
    echo "start-up run $i: $(((t1 - t0) / 1000000)) ms"
    stop
    i=$((i + 1))
done
