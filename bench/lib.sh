# lib.sh - shell helpers shared by the bench scripts (sourced, POSIX sh).
#
#   bench_init PREFIX      makes the scratch folder $T; on exit every process
#                          in $PIDS is stopped and $T removed
#   port_of LOGFILE        waits for the "port N" a server prints once it
#                          listens (tlogd, tlog-witness), and prints N
#   wait_dedup_filter URL  waits until tlogd at URL has built its dedup filter

bench_init() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    PIDS=""
    trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$T"
}

port_of() {
    i=0
    while [ $i -lt 600 ]; do
        p=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | tail -n 1)
        if [ -n "$p" ] && [ "$p" != 0 ]; then
            echo "$p"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "server did not start: $(cat "$1")" >&2
    return 1
}

# tlogd builds its dedup filter in the background after start (seconds of
# CPU at 10^7 entries); a timed run must not share the machine with it.
wait_dedup_filter() {
    i=0
    until curl -sk --http1.1 "$1/metrics" 2>/dev/null | grep -q '^tlogd_dedup_filter_ready 1'; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "tlogd's dedup filter not ready after 60 s" >&2; return 1; }
        sleep 0.1
    done
}
