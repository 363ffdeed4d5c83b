#!/bin/sh
# Builds tlogd and runs a complete local log: tlogd on 127.0.0.1:8080 with its
# data in ./data/log (created on first run), and one local witness
# (tlog-witness on 127.0.0.1:8090, ./data/witness) that the log's policy
# requires, so every published checkpoint is cosigned.
#
# The log is an audit log (structured events, receipts, queries), with a
# writer and a reader token made on first run in ./data/writer.token and
# ./data/reader.token (mode 0600). TLOGD_KIND=blob makes a log of opaque
# entries instead (POST /add). Other settings: TLOGD_DATA, TLOGD_ORIGIN,
# TLOGD_LISTEN, TLOGD_WITNESS_LISTEN, and TLOGD_BUILD=DIR to run the programs
# of an existing build without building.
set -eu
cd "$(dirname "$0")/.."
if [ -n "${TLOGD_BUILD:-}" ]; then
    bin=$TLOGD_BUILD
else
    scripts/deps.sh build
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
    bin=build
fi
data=${TLOGD_DATA:-./data}
kind=${TLOGD_KIND:-audit}
listen=${TLOGD_LISTEN:-127.0.0.1:8080}
wlisten=${TLOGD_WITNESS_LISTEN:-127.0.0.1:8090}
case $kind in
audit) origin=${TLOGD_ORIGIN:-localhost/audit} ;;
blob) origin=${TLOGD_ORIGIN:-localhost/tlogd} ;;
*) echo "run.sh: TLOGD_KIND=$kind: not audit or blob" >&2 && exit 2 ;;
esac
mkdir -p "$data"
if [ ! -e "$data/log/log.key" ]; then
    "$bin/tlogd" init --dir "$data/log" --origin "$origin" --kind "$kind" >/dev/null
    if [ "$kind" = audit ]; then
        (
            umask 077
            "$bin/tlogd" token add --dir "$data/log" --name app --role writer >"$data/writer.token"
            "$bin/tlogd" token add --dir "$data/log" --name auditor --role reader \
                >"$data/reader.token"
        )
    fi
fi
[ -e "$data/witness/witness.key" ] ||
    "$bin/tlog-witness" init --dir "$data/witness" --name localhost/witness >/dev/null
logvkey=$(cat "$data/log/log.vkey")
wvkey=$(cat "$data/witness/witness.vkey")
origin=${logvkey%%+*} # a verifier key's name is the log's origin
printf '%s %s\n' "$origin" "$logvkey" >"$data/witness-logs"
cat >"$data/policy" <<EOP
log $logvkey http://$listen
witness local $wvkey http://$wlisten
quorum local
EOP
"$bin/tlog-witness" serve --dir "$data/witness" --listen "$wlisten" --logs "$data/witness-logs" &
wpid=$!
trap 'kill $wpid 2>/dev/null || true' EXIT
url=http://$listen
if [ -e "$data/writer.token" ]; then
    cat >&2 <<EOM
tlogd: serving the audit log $origin on $url (witness on http://$wlisten)
  record an event (the answer is its receipt):
    curl -s -H "Authorization: Bearer \$(cat $data/writer.token)" -H 'Content-Type: application/json' \\
      -d '{"actor":{"id":"alice"},"action":"order.cancel","resource":{"type":"order","id":"42"},"outcome":"success"}' \\
      $url/audit/v1/events
  or with tlog, keeping the receipt (one event, or NDJSON):
    echo '{"actor":{"id":"alice"},"action":"order.cancel","resource":{"type":"order","id":"42"},"outcome":"success"}' > event.json
    $bin/tlog event add $url event.json --token-file $data/writer.token --policy $data/policy -o event.receipt.json
  search it (every result verified):
    $bin/tlog event search $url --token-file $data/reader.token --policy $data/policy --actor alice
  verify its receipt offline:
    $bin/tlog event verify --policy $data/policy event.receipt.json
  audit the whole log, every event's commitment included:
    $bin/tlog audit $url --policy $data/policy --token-file $data/reader.token --state $data/audit.state
EOM
else
    cat >&2 <<EOM
tlogd: serving $origin on $url (witness on http://$wlisten)
  submit an entry and keep its proof:
    echo hello > entry.txt
    curl -s --http2-prior-knowledge --data-binary @entry.txt $url/add > entry.tlog-proof
    $bin/tlog add $url entry.txt --policy $data/policy -o entry.tlog-proof
  verify it offline:
    $bin/tlog verify --policy $data/policy entry.tlog-proof entry.txt
  audit the whole log:
    $bin/tlog audit $url --policy $data/policy --state $data/audit.state
EOM
fi
# SIGINT/SIGTERM: tlogd finishes its batch and exits 0; so does this script.
"$bin/tlogd" serve --dir "$data/log" --listen "$listen" --policy "$data/policy" &
lpid=$!
trap 'kill -TERM $lpid 2>/dev/null || true' INT TERM
rc=0
wait $lpid || rc=$?
if [ "$rc" -gt 128 ]; then # the wait was cut short by a signal: wait for tlogd itself
    rc=0
    wait $lpid || rc=$?
fi
kill $wpid 2>/dev/null || true
wait $wpid 2>/dev/null || true
trap - EXIT
exit "$rc"
