#!/bin/sh
# Builds tlogd and runs a complete local log: tlogd on 127.0.0.1:8080 with its
# data in ./data/log (created on first run), and one local witness
# (tlog-witness on 127.0.0.1:8090, ./data/witness) that the log's policy
# requires, so every published checkpoint is cosigned.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
data=${TLOGD_DATA:-./data}
origin=${TLOGD_ORIGIN:-localhost/tlogd}
listen=${TLOGD_LISTEN:-127.0.0.1:8080}
wlisten=${TLOGD_WITNESS_LISTEN:-127.0.0.1:8090}
mkdir -p "$data"
[ -e "$data/log/log.key" ] || build/tlogd init --dir "$data/log" --origin "$origin" >/dev/null
[ -e "$data/witness/witness.key" ] ||
    build/tlog-witness init --dir "$data/witness" --name localhost/witness >/dev/null
logvkey=$(cat "$data/log/log.vkey")
wvkey=$(cat "$data/witness/witness.vkey")
origin=${logvkey%%+*} # a verifier key's name is the log's origin
printf '%s %s\n' "$origin" "$logvkey" >"$data/witness-logs"
cat >"$data/policy" <<EOP
log $logvkey http://$listen
witness local $wvkey http://$wlisten
quorum local
EOP
build/tlog-witness serve --dir "$data/witness" --listen "$wlisten" --logs "$data/witness-logs" &
wpid=$!
trap 'kill $wpid 2>/dev/null; wait $wpid 2>/dev/null' EXIT INT TERM
cat >&2 <<EOM
tlogd: serving $origin on http://$listen (witness on http://$wlisten)
  submit an entry and keep its proof:
    echo hello > entry.txt
    curl -s --http2-prior-knowledge --data-binary @entry.txt http://$listen/add > entry.tlog-proof
    build/tlog add http://$listen entry.txt --policy $data/policy -o entry.tlog-proof
  verify it offline:
    build/tlog verify --policy $data/policy entry.tlog-proof entry.txt
  audit the whole log:
    build/tlog audit http://$listen --policy $data/policy --state $data/audit.state
EOM
build/tlogd serve --dir "$data/log" --listen "$listen" --policy "$data/policy"
