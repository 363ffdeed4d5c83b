#!/bin/sh
# witness_bench.sh BUILD_DIR - the witness benchmarks of docs/PERFORMANCE.md:
# (1) add-checkpoint rate of tl_witness in process on LevelDB (synced group
# commit), (2) the same over HTTP against a real tlog-witness, (3) POST /add
# to-proof latency of tlogd without witnesses and with a 2-of-3 quorum of
# three local tlog-witness processes (the difference is what the quorum adds).
# Everything runs on loopback in a temp dir, and is stopped at the end.
set -eu
B=$(cd "${1:?usage: witness_bench.sh BUILD_DIR}" && pwd)
. "$(dirname "$0")/lib.sh"
bench_init tlw-bench

echo "== (1) in process, LevelDB, synced"
"$B/bench_witness" core "$T/core1" 1 5
"$B/bench_witness" core "$T/core16" 16 5

echo "== (2) over HTTP/1.1 keep-alive, one tlog-witness (fresh for each run)"
"$B/bench_witness" keys "$T/keys" 16
for n in 1 16; do
    "$B/tlog-witness" init --dir "$T/w$n" --name bench.example/witness >/dev/null
    "$B/tlog-witness" serve --dir "$T/w$n" --logs "$T/keys/logs" --listen 127.0.0.1:0 \
        2>"$T/w$n.log" &
    W=$!; PIDS="$PIDS $W"
    wp=$(port_of "$T/w$n.log")
    "$B/bench_witness" push "http://127.0.0.1:$wp" "$T/keys" "$n" $((4000 / n))
    kill "$W"; wait "$W" 2>/dev/null || true
done

echo "== (3) tlogd POST /add to proof: no witnesses, then a 2-of-3 quorum"
"$B/tlogd" init --dir "$T/log0" --origin bench.example/log0 >/dev/null
"$B/tlogd" serve --dir "$T/log0" --listen 127.0.0.1:0 --batch-interval 2 2>"$T/log0.log" &
L0=$!; PIDS="$PIDS $L0"
lp=$(port_of "$T/log0.log")
echo "-- no witnesses (publish at once)"
"$B/bench_witness" adds "http://127.0.0.1:$lp" 500 1
"$B/bench_witness" adds "http://127.0.0.1:$lp" 5000 64
kill "$L0"; wait "$L0" 2>/dev/null || true

lv=$("$B/tlogd" init --dir "$T/log" --origin bench.example/log)
echo "bench.example/log $lv" >"$T/wlogs"
echo "log $lv" >"$T/policy"
for i in 1 2 3; do
    vk=$("$B/tlog-witness" init --dir "$T/q$i" --name "w$i.bench.example")
    "$B/tlog-witness" serve --dir "$T/q$i" --logs "$T/wlogs" --listen 127.0.0.1:0 \
        2>"$T/q$i.log" &
    PIDS="$PIDS $!"
    echo "witness w$i $vk http://127.0.0.1:$(port_of "$T/q$i.log")" >>"$T/policy"
done
echo "group g 2 w1 w2 w3" >>"$T/policy"
echo "quorum g" >>"$T/policy"
"$B/tlogd" serve --dir "$T/log" --listen 127.0.0.1:0 --batch-interval 2 --policy "$T/policy" 2>"$T/log.log" &
PIDS="$PIDS $!"
lp=$(port_of "$T/log.log")
echo "-- 2-of-3 quorum of local witnesses"
"$B/bench_witness" adds "http://127.0.0.1:$lp" 500 1
"$B/bench_witness" adds "http://127.0.0.1:$lp" 5000 64
