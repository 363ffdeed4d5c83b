# lib.sh - shell helpers shared by the bench scripts (sourced, POSIX sh).
#
#   bench_init PREFIX      makes the scratch folder $T; on exit every process
#                          in $PIDS is stopped and $T removed
#   port_of LOGFILE        waits for the "port N" a server prints once it
#                          listens (tlogd, tlog-witness), and prints N
#   wait_dedup_filter URL  waits until tlogd at URL has built its dedup filter
#   cpu_ticks PID          user+sys CPU time of a process, in clock ticks
#   nginx_start ROOT [CMD...]
#                          nginx-light serving the folder ROOT (1 worker,
#                          sendfile, open_file_cache, access_log off) over h2c
#                          on port $NPORT and over TLS on $((NPORT + 1)) with a
#                          throw-away certificate ($T/c.pem, key $T/k.pem), run
#                          under CMD (e.g. taskset -c 0); sets NPID and NWORKER

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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

nginx_start() {
    root=$1
    shift
    [ -f "$T/c.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$T/k.pem" -out "$T/c.pem" -days 2 -subj /CN=localhost 2>/dev/null
    # nginx cannot listen on port 0; pick ports from the PID.
    NPORT=$((20000 + $$ % 20000))
    cat >"$T/nginx.conf" <<EOF
user root;
worker_processes 1;
daemon off;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=10000 inactive=60s;
    open_file_cache_valid 3600s;
    server {
        listen 127.0.0.1:$NPORT http2;
        listen 127.0.0.1:$((NPORT + 1)) ssl http2;
        ssl_certificate $T/c.pem;
        ssl_certificate_key $T/k.pem;
        root $root;
        add_header Cache-Control "public, max-age=31536000, immutable";
    }
}
EOF
    "$@" nginx -c "$T/nginx.conf" -p "$T" &
    NPID=$!
    PIDS="$PIDS $NPID"
    sleep 1
    NWORKER=$(pgrep -P "$NPID" | head -1)
}
