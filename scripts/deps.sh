#!/bin/sh
# Installs the Debian 12 packages tlogd needs, when any is missing.
# Usage: scripts/deps.sh [build|test]   (test adds the tools the tests drive)
set -e
pkgs="gcc cmake make pkg-config libssl-dev libnghttp2-dev libleveldb-dev libevent-dev
libcunit1-dev libjansson-dev libcurl4-openssl-dev librelp-dev openssl curl"
if [ "${1:-build}" = test ]; then
    pkgs="$pkgs dpkg-dev nghttp2-client clang clang-format libclang-rt-14-dev nginx-light strace valgrind python3 python3-h2 procps
golang-go golang-golang-x-net-dev golang-golang-x-mod-dev awscli etcd-server etcd-client chromium bsdutils rsyslog
rsyslog-gnutls rsyslog-relp"
    # Node.js and npm for s3rver (the publication tests' S3 server): Debian's,
    # unless a node with its own npm is installed already.
    command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
fi
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi
if [ "${1:-build}" = test ]; then
    # s3rver from the npm registry into the test cache (tests/publish finds it
    # there); without the registry this fails, and so would the tests.
    sh "$(dirname "$0")/../tests/publish/s3rver_install.sh" \
        "${TL_S3RVER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tlogd-test/s3rver}"
    # puppeteer-core (drives Debian's chromium in the console's browser tests).
    sh "$(dirname "$0")/../tests/console/puppeteer_install.sh" \
        "${TL_PUPPETEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tlogd-test/puppeteer}"
fi
