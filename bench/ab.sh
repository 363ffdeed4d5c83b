#!/bin/sh
# ab.sh - the headline benchmarks of docs/PERFORMANCE.md ("Current figures")
# with two builds taking turns, so that the machine's drift from minute to
# minute hits both alike. Use it to show that a change made no figure worse.
#
#   bench/ab.sh OLD_BUILD NEW_BUILD [ROUNDS]
#
# ROUNDS (default 2) rounds; the order of the builds flips every round
# (old new, new old, ...). Each round runs, for each build:
#   log      bench_log --entries TL_AB_LOG_ENTRIES (default 10^7): sequencer
#            rate, peak RSS, bytes written, start-up of the log
#   proofs   frontend_bench.sh proofs on that log (get-proof-by-hash and
#            get-sth-consistency at 100 streams)
#   merkle   bench_merkle TL_AB_MERKLE (default 10^7)
#   audit    client_audit.sh at TL_AB_AUDIT_ENTRIES (default 10^6), one run
#   witness  witness_bench.sh
#   adds32   frontend_bench.sh adds (TL_BENCH_N, default here 500,000, adds
#            from 32 x 100 streams, then 10,000 adds/s)
# and then, once for both builds (each script alternates the builds itself):
#   adds     adds_bench.sh NEW OLD      (8 x 100 streams, then 10,000/s; the
#            load generator is NEW's)
#   tiles    tiles_vs_nginx.sh OLD NEW  (tiles and bundles beside nginx)
# TL_AB_ONLY="log proofs ..." runs only the parts named. Output goes to
# stdout, one "== PART BUILD round N" header per part.
set -eu
[ $# -ge 2 ] || { echo "usage: ab.sh OLD_BUILD NEW_BUILD [ROUNDS]" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
OLD=$(cd "$1" && pwd)
NEW=$(cd "$2" && pwd)
R=${3:-2}
ONLY=${TL_AB_ONLY:-log proofs merkle audit witness adds32 adds tiles}
LOGN=${TL_AB_LOG_ENTRIES:-10000000}
MERKLEN=${TL_AB_MERKLE:-10000000}
AUDITN=${TL_AB_AUDIT_ENTRIES:-1000000}
. "$HERE/lib.sh"
bench_init tl-ab

want() { case " $ONLY " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
name() { if [ "$1" = "$OLD" ]; then echo old; else echo new; fi; }

one_build() { # BUILD ROUND
    b=$1
    n=$(name "$b")
    if want log || want proofs; then
        echo "== log $n round $2 ($(uptime | sed 's/.*load/load/'))"
        rm -rf "$T/p"
        mkdir "$T/p"
        "$b/bench_log" --entries "$LOGN" --dir "$T/p" --keep
    fi
    if want proofs; then
        echo "== proofs $n round $2"
        "$HERE/frontend_bench.sh" "$b" proofs "$T/p/log"
    fi
    rm -rf "$T/p"
    if want merkle; then
        echo "== merkle $n round $2"
        "$b/bench_merkle" "$MERKLEN"
    fi
    if want audit; then
        echo "== audit $n round $2"
        "$HERE/client_audit.sh" "$b" "$AUDITN" 1
    fi
    if want witness; then
        echo "== witness $n round $2"
        "$HERE/witness_bench.sh" "$b"
    fi
    if want adds32; then
        echo "== adds32 $n round $2"
        TL_BENCH_N=${TL_BENCH_N:-500000} "$HERE/frontend_bench.sh" "$b" adds
    fi
}

i=1
while [ $i -le "$R" ]; do
    if [ $((i % 2)) = 1 ]; then
        one_build "$OLD" $i
        one_build "$NEW" $i
    else
        one_build "$NEW" $i
        one_build "$OLD" $i
    fi
    i=$((i + 1))
done
if want adds; then
    echo "== adds new old"
    TL_BENCH_ROUNDS=$R "$HERE/adds_bench.sh" "$NEW" "$OLD"
fi
if want tiles; then
    echo "== tiles old new"
    TL_BENCH_ROUNDS=$R "$HERE/tiles_vs_nginx.sh" "$OLD" "$NEW"
fi
